"""Quantization: weight/bias formats, round trips, graph fields, readout scale, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.cli import main
from lava_spikingunet.fixed_point.formats import FixedPointFormat
from lava_spikingunet.fixed_point.quantize import (
    default_theta_unit_bits,
    dequantize_graph,
    edge_errors,
    graph_format,
    quantize_bias,
    quantize_graph,
    quantize_weights,
    readout_bound,
)
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.ir import AvgPoolEdge, NeuronNode
from lava_spikingunet.graph.serialize import load_graph, save_graph
from lava_spikingunet.hw import load_profile
from lava_spikingunet.reference.simulator import simulate

LOIHI2 = load_profile("loihi2")
MANT = LOIHI2.weight_mant_range
EXPS = LOIHI2.weight_exp_range


def _graph(seed: int = 0, timesteps: int = 6):
    torch.manual_seed(seed)
    net = UNet(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True)
    return unet_to_graph(net, 16, 16, timesteps=timesteps)


def _frames(b: int = 2) -> np.ndarray:
    return np.random.default_rng(0).random((b, 1, 16, 16))


def _sq_err(w, m, e):
    return float(np.sum((np.ldexp(m.astype(float), e) - w) ** 2))


# --------------------------------------------------------------------------- weights


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    log_scale=st.floats(-12, 14),
    n=st.integers(1, 40),
)
def test_weight_quantization_round_trip(seed, log_scale, n):
    w = np.random.default_rng(seed).standard_normal(n) * 2.0**log_scale
    m, e = quantize_weights(w, MANT, EXPS)
    assert m.dtype == np.int64 and EXPS[0] <= e <= EXPS[1]
    assert m.min() >= MANT[0] and m.max() <= MANT[1]
    # Unclipped weights are within half an LSB of the chosen exponent.
    raw = np.rint(np.ldexp(w, -e))
    ok = (raw >= MANT[0]) & (raw <= MANT[1])
    err = np.abs(np.ldexp(m.astype(float), e) - w)
    assert np.all(err[ok] <= 2.0 ** (e - 1) * (1 + 1e-12))
    # The chosen exponent minimises the squared error over the whole range.
    best = _sq_err(w, m, e)
    for other in range(EXPS[0], EXPS[1] + 1):
        mo = np.clip(np.rint(np.ldexp(w, -other)), *MANT).astype(np.int64)
        assert best <= _sq_err(w, mo, other) + 1e-12 * (1 + best)


def test_weight_quantization_exact_and_special_values():
    m = np.array([-128, -3, 0, 5, 127])
    got_m, got_e = quantize_weights(np.ldexp(m.astype(float), 3), MANT, EXPS)
    np.testing.assert_array_equal(np.ldexp(got_m.astype(float), got_e), np.ldexp(m, 3))
    zm, ze = quantize_weights(np.zeros((2, 2)), MANT, EXPS)
    assert not zm.any() and ze == 0
    # Round half to even at the LSB.
    hm, he = quantize_weights(np.array([2.5, 127.0]), MANT, (0, 0))
    assert he == 0 and hm.tolist() == [2, 127]
    # Beyond the largest exponent: clipped at the mantissa bound.
    big_m, big_e = quantize_weights(np.array([1e9, -1e9]), MANT, EXPS)
    assert big_e == EXPS[1] and big_m.tolist() == [MANT[1], MANT[0]]
    with pytest.raises(ValueError):
        quantize_weights(np.array([np.nan]), MANT, EXPS)


# --------------------------------------------------------------------------- biases


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), log_scale=st.floats(-3, 20))
def test_bias_quantization(seed, log_scale):
    b = np.random.default_rng(seed).standard_normal(16) * 2.0**log_scale
    lo, hi = LOIHI2.bias_mant_range
    e_lo, e_hi = LOIHI2.bias_exp_range
    q, clipped = quantize_bias(b, (lo, hi), (e_lo, e_hi))
    assert q.dtype == np.int64
    for value, qi in zip(b, q, strict=True):
        # Representable as mant << exp with the smallest exponent that fits.
        e = next((x for x in range(e_lo, e_hi + 1) if lo <= np.rint(value / 2**x) <= hi), None)
        if e is None:
            assert qi in (hi << e_hi, lo << e_hi)
            continue
        assert qi % (1 << e) == 0 and lo <= qi >> e <= hi
        assert abs(qi - value) <= 2 ** (e - 1) + 1e-9
    n_out = sum(all(not lo <= np.rint(v / 2**x) <= hi for x in range(e_lo, e_hi + 1)) for v in b)
    assert clipped == n_out


# --------------------------------------------------------------------------- graph


@pytest.fixture(scope="module")
def qgraph():
    return quantize_graph(_graph(), "loihi2", calib=_frames())


def test_quantize_graph_sets_every_field(qgraph):
    g = _graph()
    assert not g.is_quantized and qgraph.is_quantized
    assert default_theta_unit_bits(FixedPointFormat.from_profile(LOIHI2)) == 8
    fmt = graph_format(qgraph)
    assert fmt.state_range == LOIHI2.state_range and qgraph.meta.extra["hw_profile"] == "loihi2"
    for n in qgraph.neurons():
        node = qgraph.node(n)
        assert node.theta_unit_int == 256 and node.scale == 256 / node.theta_unit
        top = node.theta_unit_int << (node.n_thresholds - 1)
        assert node.theta_unit_int % LOIHI2.threshold_step == 0 and top <= LOIHI2.threshold_max
        if n == "enc0.c1":  # fed by the static input: its bias lives in the input current
            assert not node.bias_int.any()
        else:
            np.testing.assert_allclose(node.bias_int, node.bias * node.scale, atol=0.5)
    for s, _, e in qgraph.edges():
        if s == "input":
            assert e.static and e.mant is None and e.exp is None
            continue
        assert EXPS[0] <= e.exp <= EXPS[1] and e.mant.min() >= MANT[0] and e.mant.max() <= MANT[1]
        if isinstance(e, AvgPoolEdge):
            assert e.mant.shape == ()
    ro = qgraph.node("head")
    assert ro.scale == 2.0 ** round(np.log2(ro.scale))
    # The original graph is untouched.
    assert g.node("enc0.c2").bias_int is None and g.edge("enc0.c1", "enc0.c2").mant is None


def test_dequantize_round_trip_within_half_lsb(qgraph):
    dq = dequantize_graph(qgraph)
    g = _graph()
    for (s, d, e), (_, _, e0), (_, _, ed) in zip(
        g.edges(), qgraph.edges(), dq.edges(), strict=True
    ):
        if s == "input":
            np.testing.assert_array_equal(ed.weight, e.weight)
            continue
        scale = qgraph.node(d).scale
        raw = np.rint(np.ldexp(np.asarray(e.weight) * scale, -e0.exp))
        ok = (raw >= MANT[0]) & (raw <= MANT[1])
        err = np.abs(np.asarray(ed.weight) - np.asarray(e.weight)) * scale
        assert np.all(err[ok] <= 2.0 ** (e0.exp - 1) * (1 + 1e-9)), (s, d)
    rows = edge_errors(qgraph)
    assert len(rows) == len(g.edges()) - 1
    assert max(r["rel_rms_error"] for r in rows) < 0.01


def test_readout_scale_calibrated_and_bounded():
    g = _graph()
    x = _frames()
    fmt = FixedPointFormat.from_profile(LOIHI2)
    hi = fmt.state_range[1]
    cal = quantize_graph(g, LOIHI2, calib=x)
    assert cal.meta.quant.readout_scale_from == "calibration"
    res = simulate(cal, x, all_steps=True)
    peak = res.stats["head"].max_abs_state
    assert res.stats["head"].saturated == 0 and peak <= hi
    # Maximal resolution: doubling the scale would break the margin or the weight format.
    top_w = MANT[1] * 2.0 ** EXPS[1]
    w_head = max(float(np.abs(e.weight).max()) for _, e in g.in_edges("head"))
    doubled_ok = 2 * peak * 4 <= hi and 2 * cal.node("head").scale * w_head <= top_w
    assert not doubled_ok
    safe = quantize_graph(g, LOIHI2)
    assert safe.meta.quant.readout_scale_from == "bound"
    assert safe.node("head").scale * readout_bound(g, 6) <= hi
    assert safe.node("head").scale <= cal.node("head").scale
    given = quantize_graph(g, LOIHI2, readout_scale=1024.0)
    assert given.node("head").scale == 1024.0


def test_theta_unit_bits_parameter_and_limits():
    g = _graph()
    q = quantize_graph(g, LOIHI2, theta_unit_bits=10)
    assert {q.node(n).theta_unit_int for n in q.neurons()} == {1024}
    with pytest.raises(ValueError, match="threshold step"):
        quantize_graph(g, LOIHI2, theta_unit_bits=5)  # Loihi 2 thresholds step by 64
    with pytest.raises(ValueError, match="exceeds"):
        quantize_graph(g, LOIHI2, theta_unit_bits=21)


def test_quantized_graph_survives_save_and_load(tmp_path, qgraph):
    save_graph(tmp_path / "q.pt", qgraph)
    back = load_graph(tmp_path / "q.pt")
    assert back.is_quantized and graph_format(back) == graph_format(qgraph)
    x = _frames()
    assert torch.equal(simulate(back, x).acc, simulate(qgraph, x).acc)


def test_first_node_bias_lives_in_the_input_current(qgraph):
    from lava_spikingunet.reference.input_current import input_current

    node = qgraph.node("enc0.c1")
    zero = np.zeros((1, 1, 16, 16))
    np.testing.assert_array_equal(
        input_current(qgraph, zero)[0, :, 0, 0], np.rint(node.bias * node.scale)
    )
    assert isinstance(node, NeuronNode)


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "m.pt"
    save_graph(path, _graph())
    return path


def test_cli_quantize(tmp_path, model_file, capsys):
    np.save(tmp_path / "calib.npy", _frames(3).astype(np.float32))
    out, rep = tmp_path / "q.pt", tmp_path / "q.json"
    args = [str(model_file), "--out", str(out), "--hw", "loihi2", "--json", str(rep)]
    assert main(["quantize", *args, "--calib-data", str(tmp_path / "calib.npy")]) == 0
    text = capsys.readouterr().out
    assert "max|state|" in text and "enc0.c1" in text and "OK" in text
    q = load_graph(out)
    assert q.is_quantized and q.meta.quant.readout_scale_from == "calibration"
    report = json.loads(rep.read_text())
    assert report["headroom"]["saturates"] is False and len(report["edges"]) == 16
    # Refuses to overwrite; --overwrite and --theta-unit-bits work.
    assert main(["quantize", *args]) == 2
    assert main(["quantize", *args, "--overwrite", "--theta-unit-bits", "10"]) == 0
    assert load_graph(out).node("enc0.c2").theta_unit_int == 1024
    assert main(["quantize", *args, "--overwrite", "--theta-unit-bits", "3"]) == 2
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((1, 1, 16, 16), np.nan))
    assert main(["quantize", *args, "--overwrite", "--calib-data", str(bad)]) == 2
    assert main(["quantize", *args, "--overwrite", "--hw", "nope"]) == 2
    assert "error" in capsys.readouterr().err


def test_cli_quantize_warns_on_saturation(tmp_path, model_file, capsys):
    out = tmp_path / "q.pt"
    np.save(tmp_path / "calib.npy", _frames(1) * 2.0)  # the brightest frames accepted
    args = ["quantize", str(model_file), "--out", str(out), "--theta-unit-bits", "19"]
    assert main([*args, "--calib-data", str(tmp_path / "calib.npy")]) == 0
    text = capsys.readouterr().out
    assert "SATURATES" in text and "warning" in text
