"""The integer reference: MT neuron, saturation, exactness, delays, float agreement, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.backends.lava import numpy_ops
from lava_spikingunet.fixed_point.formats import FixedPointFormat
from lava_spikingunet.fixed_point.quantize import dequantize_graph, graph_format, quantize_graph
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    InputNode,
    NeuronNode,
)
from lava_spikingunet.graph.timing import balance_delays, set_zero_delays, start_steps
from lava_spikingunet.reference.input_current import (
    check_frames,
    conv2d_host,
    input_current,
    input_current_float,
)
from lava_spikingunet.reference.simulator import exact_conv_backend, mt_scan, simulate

T = 6


def _float_graph(seed: int = 0, size: int = 16, depth: int = 2, width: int = 4):
    torch.manual_seed(seed)
    net = UNet(in_channels=1, out_channels=1, base_width=width, depth=depth, residual=True)
    return unet_to_graph(net, size, size, timesteps=T)


def _frames(b: int = 2, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((b, 1, size, size)).astype(np.float32)


@pytest.fixture(scope="module")
def qgraph():
    g = _float_graph()
    return quantize_graph(g, "loihi2", calib=_frames())


# --------------------------------------------------------------------------- MT neuron


def _python_mt(cur, unit, n, lo, hi, reset):
    """Plain per-element loop of docs/semantics.md sections 1 and 4."""
    steps, size = cur.shape
    out = np.zeros((steps, size), dtype=np.int64)
    vs = []
    for i in range(size):
        v = 0
        for t in range(steps):
            v = min(max(v + int(cur[t, i]), lo), hi)
            k = min(max(v // unit, 0), 2**n - 1)
            v = 0 if (reset == "zero" and k > 0) else v - k * unit
            out[t, i] = k
        vs.append(v)
    return out, np.array(vs)


@settings(max_examples=80, deadline=None)
@given(
    bits=st.integers(0, 6),
    n=st.integers(1, 5),
    state_bits=st.integers(8, 14),
    reset=st.sampled_from(["subtract", "zero"]),
    seed=st.integers(0, 2**31 - 1),
    steps=st.integers(1, 12),
)
def test_mt_scan_matches_python_loop(bits, n, state_bits, reset, seed, steps):
    lo, hi = -(2 ** (state_bits - 1)), 2 ** (state_bits - 1) - 1
    rng = np.random.default_rng(seed)
    scale = int(rng.choice([2**bits, 2 ** (bits + n), hi, 4 * hi]))
    cur = rng.integers(-scale, scale + 1, size=(steps, 17))
    got_k, got_v = mt_scan(torch.as_tensor(cur), 2**bits, n, (lo, hi), reset)
    want_k, want_v = _python_mt(cur, 2**bits, n, lo, hi, reset)
    np.testing.assert_array_equal(got_k.numpy(), want_k)
    np.testing.assert_array_equal(got_v.numpy(), want_v)


def test_saturation_at_state_bounds():
    lo, hi = -(2**23), 2**23 - 1
    up = torch.full((5, 3), 2**30, dtype=torch.int64)
    k, v = mt_scan(up, 256, 4, (lo, hi))
    assert (k == 15).all() and (v == hi - 15 * 256).all()
    down = torch.full((5, 3), -(2**22), dtype=torch.int64)
    k, v = mt_scan(down, 256, 4, (lo, hi))
    assert (k == 0).all() and (v == lo).all()  # pinned at the bound, never wraps


def test_readout_saturates_and_headroom_warns(qgraph):
    from lava_spikingunet.fixed_point.headroom import HeadroomWarning, headroom

    g = qgraph.copy()
    ro = g.node(g.readout_name)
    ro.scale *= 2.0**20
    (src, e), *_ = g.in_edges(g.readout_name)
    e.exp += 20  # the same float weights at the huge scale: beyond the state bound
    res = simulate(g, _frames())
    hi = graph_format(g).state_range[1]
    assert res.stats["head"].saturated > 0
    assert int(res.acc.abs().max()) in (hi, hi + 1)
    with pytest.warns(HeadroomWarning):
        rep = headroom(g, _frames())
    assert rep.saturates and not rep.ok and "SATURATES" in rep.table()
    ok = headroom(qgraph, _frames())
    assert ok.ok and not ok.saturates


# --------------------------------------------------------------------------- exactness


def _naive(graph, i0: np.ndarray, steps: int, legacy: bool = False):
    """Step-by-step integer simulation with int64 numpy ops (Lava's own synapse ops).

    The static input is sent for input steps ``t < steps``; node ``n`` adds its bias for
    ``start(n) <= t < start(n) + steps``. ``legacy``: the former rule (input at every step,
    bias at every ``t >= start(n)``).
    """
    lo, hi = graph_format(graph).state_range
    start = start_steps(graph)
    total = start[graph.readout_name] + steps
    ((first, _),) = [(d, e) for s, d, e in graph.edges() if s == graph.input_name]
    hist: dict[str, list[np.ndarray]] = {}
    state: dict[str, np.ndarray] = {}
    acc = None
    for t in range(total):
        for n in graph.order():
            node = graph.node(n)
            if isinstance(node, InputNode):
                continue
            cur = 0
            for src, e in graph.in_edges(n):
                if getattr(e, "static", False):
                    sent = 0 <= t - e.delay and (legacy or t - e.delay < steps)
                    cur = cur + (i0 if sent else 0)
                    continue
                s = t - e.delay
                if s < 0:
                    continue
                k = hist[src][s]
                if isinstance(e, ConvEdge):
                    y = numpy_ops.conv2d(k, e.mant, e.stride, e.padding)
                elif isinstance(e, AvgPoolEdge):
                    y = numpy_ops.avgpool2d(k, int(e.mant), e.kernel)
                else:
                    y = numpy_ops.conv_transpose2d(k, e.mant, e.stride, e.padding, e.output_padding)
                cur = cur + numpy_ops.shift(y, e.exp)
            if start[n] <= t and (legacy or t < start[n] + steps) and n != first:
                cur = cur + node.bias_int[None, :, None, None]
            shape = (i0.shape[0], *node.shape)
            cur = np.broadcast_to(cur, shape)
            if isinstance(node, NeuronNode):
                v = state.get(n, np.zeros(shape, dtype=np.int64))
                v = np.clip(v + cur, lo, hi)
                k = np.clip(v // node.theta_unit_int, 0, node.max_count)
                v = v - k * node.theta_unit_int
                state[n] = v
                hist.setdefault(n, []).append(k)
            elif start[n] <= t < start[n] + steps:
                acc = np.clip((0 if acc is None else acc) + cur, lo, hi)
    return acc, {n: np.stack(h) for n, h in hist.items()}


@pytest.mark.parametrize("delays", ["native", "balanced", "zero"])
def test_reference_equals_step_by_step_simulation(qgraph, delays):
    g = qgraph.copy()
    if delays == "balanced":
        balance_delays(g)
    elif delays == "zero":
        set_zero_delays(g)
    x = _frames()
    i0 = input_current(g, x)
    res = simulate(g, current=i0, record_spikes=True)
    acc, hist = _naive(g, i0, T)
    np.testing.assert_array_equal(res.acc.numpy(), acc)
    assert set(res.spikes) == set(hist)
    for n, k in hist.items():
        np.testing.assert_array_equal(res.spikes[n].numpy(), k, err_msg=n)
    assert sum(int(k.sum()) for k in hist.values()) > 0  # the test exercises spikes


@pytest.mark.parametrize("delays", ["native", "balanced"])
def test_windowed_input_and_bias_leave_the_readout_unchanged(qgraph, delays):
    """semantics.md section 3: input for t < T, bias in [start, start + T). Against the
    former rule (input on every step, bias from start on) every node's spikes up to the
    end of its window and the readout are identical; only spikes after windows change."""
    g = qgraph.copy()
    if delays == "balanced":
        balance_delays(g)
    i0 = input_current(g, _frames())
    acc, hist = _naive(g, i0, T)
    old_acc, old_hist = _naive(g, i0, T, legacy=True)
    np.testing.assert_array_equal(acc, old_acc)
    start, after = start_steps(g), 0
    for n, k in hist.items():
        end = start[n] + T
        np.testing.assert_array_equal(k[:end], old_hist[n][:end], err_msg=n)
        after += int(old_hist[n][end:].sum()) - int(k[end:].sum())
    assert after > 0, "the former rule fires more after the windows"


def test_chunks_windows_and_frames_do_not_change_results(qgraph):
    g = balance_delays(qgraph.copy())
    x = _frames(3)
    ref = simulate(g, x, record_spikes=True)
    small = simulate(g, x, record_spikes=True, chunk_elems=1)
    lean = simulate(g, x)  # only the steps that reach the readout window
    fast = simulate(g, x, track_state=False)  # no per-step check where saturation is impossible
    f64 = simulate(g, x, conv_precision="float64")
    for other in (small, lean, fast, f64):
        torch.testing.assert_close(other.acc, ref.acc, rtol=0, atol=0)
    for n in ref.spikes:
        assert torch.equal(small.spikes[n], ref.spikes[n])
    one = simulate(g, x[1:2])  # batching does not mix frames
    assert torch.equal(one.acc[0], ref.acc[1])
    assert torch.equal(
        torch.as_tensor(input_current(g, x))[1], torch.as_tensor(input_current(g, x[1])[0])
    )


def test_delay_balance_identity(qgraph):
    """Balanced delays: node n at step t + start(n) computes the zero-latency step t."""
    x = _frames()
    bal = balance_delays(qgraph.copy())
    zero = set_zero_delays(qgraph.copy())
    rb = simulate(bal, x, record_spikes=True)
    rz = simulate(zero, x, record_spikes=True)
    assert rz.total_steps == T and rb.total_steps == rb.start["head"] + T > T
    assert torch.equal(rb.acc, rz.acc)
    for n, k in rz.spikes.items():
        s = rb.start[n]
        assert torch.equal(rb.spikes[n][s : s + T], k), n
        assert not rb.spikes[n][:s].any()


def test_integer_conv_backend_is_exact():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.integers(0, 16, (24, 64, 12, 12)), dtype=torch.float32)
    # Row sums of |w| * 15 just below 2^24: every partial sum is an exact float32 integer.
    w = rng.integers(-128, 128, (8, 64, 3, 3))
    w = w * ((2**24 - 1) // (15 * np.abs(w).sum(axis=(1, 2, 3)).max()))
    wt = torch.as_tensor(w, dtype=torch.float32)
    want = numpy_ops.conv2d(x.numpy().astype(np.int64), w, 1, 1)
    with exact_conv_backend():
        got = F.conv2d(x, wt, padding=1)
    np.testing.assert_array_equal(got.numpy().astype(np.int64), want)


def test_float_mode_equals_integer_mode_when_weights_are_exact():
    """Same code path with quantization off, on the dequantized graph: bit-identical.

    Exponents >= 0 (no floor in the shift) and the same input current make every float
    value a multiple of 1/S, exactly representable: the float run must match exactly.
    """
    fmt = FixedPointFormat(
        "exact",
        weight_mant_range=(-128, 127),
        weight_exp_range=(0, 7),
        bias_mant_range=(-4096, 4095),
        bias_exp_range=(0, 7),
        state_range=(-(2**23), 2**23 - 1),
        current_range=(-(2**23), 2**23 - 1),
    )
    g = balance_delays(_float_graph(1))
    q = quantize_graph(g, fmt, theta_unit_bits=12, calib=_frames())
    dq = dequantize_graph(q)
    x = _frames()
    i0 = input_current(q, x)
    ri = simulate(q, current=i0, record_spikes=True)
    s = q.node("enc0.c1").scale
    rf = simulate(
        dq, current=i0 / s, quantized=False, record_spikes=True, float_dtype=torch.float64
    )
    assert not any(st.saturated for st in ri.stats.values())
    for n in ri.spikes:
        assert torch.equal(ri.spikes[n], rf.spikes[n]), n
    torch.testing.assert_close(ri.y, rf.y, rtol=0, atol=0)


def test_reference_close_to_float_snn():
    """Integer vs float Spiking-UNet: rounding flips few spikes; the output stays close."""
    float_sim = pytest.importorskip("lava_spikingunet.snn.float_sim")
    x = _frames()
    native = _float_graph(2)
    g = balance_delays(native.copy())
    for graph in (native, g):  # native: steps after the windows, where input and bias stop
        f = float_sim.simulate(
            graph, torch.as_tensor(x), delays="graph", dtype=torch.float64, record=True
        )
        mine = simulate(graph, x, quantized=False, float_dtype=torch.float64, record_spikes=True)
        assert mine.total_steps > T and f.total_steps == mine.total_steps
        torch.testing.assert_close(mine.y, f.y.double(), rtol=1e-9, atol=1e-9)
        for n, k in mine.spikes.items():  # same float64 arithmetic: every spike agrees
            assert torch.equal(f.counts[n].to(torch.uint8), k), n
    errs = []
    for bits in (8, 12):
        q = quantize_graph(g, "loihi2", bits, calib=x)
        y = simulate(q, x).y
        errs.append(float((y - f.y).pow(2).mean().sqrt() / f.y.pow(2).mean().sqrt()))
    assert errs[0] < 0.05 and errs[1] < 0.05, errs


def test_any_frame_size_runs_on_the_same_graph(qgraph):
    x = _frames(1, size=24)
    res = simulate(qgraph, x)
    assert res.y.shape == (1, 1, 24, 24)
    with pytest.raises(ValueError, match="divide"):
        simulate(qgraph, _frames(1, size=18))


# --------------------------------------------------------------------------- input current


def test_input_current_rounds_and_clips(qgraph):
    x = _frames()
    i0 = input_current(qgraph, x)
    node = qgraph.node("enc0.c1")
    e = qgraph.edge("input", "enc0.c1")
    xt = torch.as_tensor(x, dtype=torch.float64)
    ref = F.conv2d(xt, torch.as_tensor(e.weight), padding=e.padding).numpy()
    ref = ref + node.bias[None, :, None, None]
    assert np.abs(i0 - ref * node.scale).max() <= 0.5 + 1e-6
    assert i0.dtype == np.int64 and np.array_equal(i0, input_current(qgraph, x))
    lo, hi = graph_format(qgraph).state_range
    big = input_current(qgraph, x * 1e9)
    assert big.max() <= hi and big.min() >= lo and (np.abs(big) == hi).any() | (big == lo).any()
    np.testing.assert_allclose(input_current_float(qgraph, x), ref, rtol=1e-12, atol=1e-12)


def test_host_conv_is_deterministic_and_half_even():
    x = np.full((1, 1, 3, 3), 0.5)
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 1, 1] = 1.0
    np.testing.assert_array_equal(conv2d_host(x, w, 1, 1), x)
    assert np.rint(2.5) == 2.0 and np.rint(3.5) == 4.0  # round half to even


def test_check_frames_errors(qgraph):
    with pytest.raises(ValueError, match="channel"):
        check_frames(qgraph, np.zeros((1, 3, 16, 16)))
    bad = _frames()
    bad[0, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        check_frames(qgraph, bad)
    with pytest.raises(ValueError, match="built for"):
        check_frames(qgraph, _frames(1, 32), exact_size=True)
    with pytest.raises(ValueError):
        check_frames(qgraph, np.zeros((16, 16)))
    assert check_frames(qgraph, _frames(1)[0]).shape == (1, 1, 16, 16)


def test_unquantized_graph_is_refused():
    with pytest.raises(ValueError, match="not quantized"):
        simulate(_float_graph(), _frames())


def test_readout_identity_y(qgraph):
    res = simulate(qgraph, _frames())
    ro = qgraph.node("head")
    torch.testing.assert_close(res.y, res.acc.double() / (T * ro.scale), rtol=0, atol=0)
    assert json.dumps({k: vars(v) for k, v in res.stats.items()})


# --------------------------------------------------------------------------- CLI


def test_cli_simulate(tmp_path, qgraph, capsys):
    from PIL import Image

    from lava_spikingunet.cli import main
    from lava_spikingunet.graph.serialize import save_graph

    model = tmp_path / "q.pt"
    save_graph(model, qgraph)
    rng = np.random.default_rng(0)
    img = (rng.random((16, 16)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    out = tmp_path / "r.json"
    base = ["simulate", str(model), "--image", str(tmp_path / "x.png")]
    assert main([*base, "--delays", "balanced", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    x = img[None, None].astype(np.float64) / 255.0
    want = simulate(balance_delays(qgraph.copy()), x)
    np.testing.assert_array_equal(np.array(doc["acc"]), want.acc[0].numpy())
    assert doc["total_steps"] == want.total_steps and doc["backend"] == "reference"
    # Odd sizes are padded and cropped back; PNG and NPZ outputs.
    Image.fromarray(img[:13, :15]).save(tmp_path / "odd.png")
    odd = ["simulate", str(model), "--image", str(tmp_path / "odd.png")]
    assert main([*odd, "--out", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size == (15, 13)
    assert main([*odd, "--out", str(tmp_path / "r.npz"), "--T", "3"]) == 0
    assert np.load(tmp_path / "r.npz")["acc"].shape == (1, 13, 15)
    # Clear errors: colour image for a grey model, NaN array, unquantized model, Lava.
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "rgb.png")
    assert main(["simulate", str(model), "--image", str(tmp_path / "rgb.png")]) == 2
    np.save(tmp_path / "nan.npy", np.full((1, 16, 16), np.nan))
    assert main(["simulate", str(model), "--image", str(tmp_path / "nan.npy")]) == 2
    np.save(tmp_path / "two.npy", np.zeros((2, 16, 16)))
    assert main(["simulate", str(model), "--image", str(tmp_path / "two.npy")]) == 2
    assert main([*base, "--out", str(out)]) == 2  # refuses to overwrite
    assert main([*base, "--out", str(tmp_path / "r.txt")]) == 2
    err = capsys.readouterr().err
    assert "colour image" in err and "NaN" in err and "channel" in err
    float_model = tmp_path / "f.pt"
    save_graph(float_model, _float_graph())
    assert main(["simulate", str(float_model), "--image", str(tmp_path / "x.png")]) == 2
    assert "not quantized" in capsys.readouterr().err
    assert main([*base, "--backend", "lava"]) in (0, 3)


def test_integer_module_pads_and_matches(qgraph):
    from lava_spikingunet.reference.module import IntegerSpikingUNetModule, with_delays

    mod = IntegerSpikingUNetModule(qgraph, delays="balanced")
    x = torch.as_tensor(_frames(1, size=16), dtype=torch.float32)
    y = mod(x)
    want = simulate(with_delays(qgraph, "balanced"), x.numpy()).y
    torch.testing.assert_close(y, want.float(), rtol=0, atol=0)
    assert mod(x[..., :13, :11]).shape == (1, 1, 13, 11)
    assert with_delays(qgraph, "graph") is qgraph
    with pytest.raises(ValueError):
        with_delays(qgraph, "bogus")
