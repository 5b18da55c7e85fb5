"""One-timestep I-LIF U-Nets in the sdnn form (docs/semantics.md section 6.8):
integer weights kept, finer messages than counts, and the pipelined stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.ilif import calibrate_thetas
from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.backends.sdnn.convert import (
    MAX_STATE_EXP,
    ilif_to_sdnn,
    longest_path,
    settle_steps,
)
from lava_spikingunet.conversion.ilif import convert_ilif, integer_ilif_forward
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.reference.input_current import input_current
from lava_spikingunet.reference.sigma_delta import simulate_sdnn, vth_from_counts


def ilif_case(seed: int, depth: int = 1, width: int = 3, levels: int = 15, frames: int = 1):
    """``(quantized I-LIF graph, its sdnn form, I0 (F, 1, C, H, W) of the sdnn form, I0 of
    the I-LIF graph)`` of a seeded I-LIF U-Net; the frames drift a little (a video)."""
    torch.manual_seed(seed)
    cfg = UNetConfig(1, 1, width, depth, activation="ilif", levels=levels)
    unet = UNet(cfg)
    side = 4 * 2**depth
    x = torch.rand(1, 1, side, side)
    calibrate_thetas(unet, [x], percentile=99.0)
    unet.eval()
    q = quantize_graph(convert_ilif(unet, side, side), "loihi2", calib=x)
    xs = x[None] + 0.05 * torch.randn(frames, 1, 1, side, side).cumsum(0)
    g = ilif_to_sdnn(q)
    cur = np.stack([input_current(g, xs[f].numpy()) for f in range(frames)])
    return q, g, cur, np.stack([input_current(q, xs[f].numpy()) for f in range(frames)])


def test_weights_are_kept_and_only_their_exponents_move():
    q, g, _, _ = ilif_case(0, depth=2)
    info = g.meta.extra["sdnn"]
    assert info["requantized_edges"] == []
    for s, d, e in g.edges():
        if s == g.input_name:
            continue
        qe = q.edge(s, d)
        np.testing.assert_array_equal(e.mant, qe.mant)
        # the source's messages are 2^fine finer than its counts, the target's state
        # 2^k finer than the I-LIF graph's
        fine = _log2(g.node(s).theta_unit_int) - info["nodes"][s]["state_exp"]
        k = 0 if d == g.readout_name else _rescale(q, g, d)
        assert e.exp == qe.exp + k - fine and -7 <= e.exp <= 7
    rescaled = 0
    for n in g.neurons():
        assert 0 <= info["nodes"][n]["state_exp"] <= MAX_STATE_EXP
        assert info["nodes"][n]["vth"] == 1
        k = _rescale(q, g, n)
        if n in {d for _, d, e in g.edges() if getattr(e, "static", False)}:
            assert g.node(n).scale == q.node(n).scale * 2**k
        else:  # the bias grows with the state (plus the half-unit change)
            half = (1 << info["nodes"][n]["state_exp"]) // 2 - g.node(n).theta_unit_int // 2
            got = g.node(n).bias_int - half
            want = q.node(n).bias_int * 2**k
            assert np.all(np.abs(got - want) <= np.maximum(8 << k, np.abs(want) >> 11))
        rescaled += k > 0
    assert rescaled > 0


def _log2(v: int) -> int:
    return int(v).bit_length() - 1


def _rescale(q, g, n) -> int:
    return _log2(g.node(n).theta_unit_int) - _log2(q.node(n).theta_unit_int)


def test_delays_are_balanced():
    _, g, _, _ = ilif_case(1, depth=2)
    lat = longest_path(g)
    for n in g.order():
        for s, e in g.in_edges(n):
            assert lat[s] + e.delay == lat[n]
    assert g.meta.extra["sdnn"]["steps"] == settle_steps(g) == lat[g.readout_name] + 1


def test_first_layer_sends_its_activation_at_message_resolution():
    """The fed layer's messages (input arrives in one step) are ``floor(relu(u + half a
    message unit) / 2^state_exp)``: within half a message unit of ``u``, where the I-LIF
    count rounds to half a count."""
    q, g, cur, cur_q = ilif_case(2)
    res = simulate_sdnn(g, cur, record=True)
    ref = integer_ilif_forward(q, cur_q[0])
    first = next(d for _, d, e in g.edges() if getattr(e, "static", False))
    st = g.meta.extra["sdnn"]["nodes"][first]["state_exp"]
    theta = int(g.node(first).theta_unit_int)  # rescaled: the same count, finer state
    sent = res.messages[first].sum(axis=0)[0].astype(np.int64) << st
    count = ref[first].numpy()[0] * theta
    ok = ref[first].numpy()[0] < q.node(first).max_count
    assert st < theta.bit_length() - 1  # finer than a count
    assert np.abs(sent - count)[ok].max() <= theta // 2 + (1 << st)
    assert np.count_nonzero(sent) > 0


@pytest.mark.parametrize("seed", [3, 4])
def test_static_readout_is_close_to_the_integer_ilif_network(seed):
    q, g, cur, cur_q = ilif_case(seed, depth=2, width=4)
    y = simulate_sdnn(g, cur).y[-1]
    ro = q.node(q.readout_name)
    want = integer_ilif_forward(q, cur_q[0])[q.readout_name].numpy() / float(ro.scale)
    err = np.sqrt(np.mean((y - want) ** 2)) / np.sqrt(np.mean(want**2))
    assert err < 0.1, err


@pytest.mark.parametrize("vth", [0.0, 0.5, 2.0])
def test_pipelined_stream_equals_the_held_stream(vth):
    """Balanced delays: frames held one step each (a pipeline, read ``steps - 1`` steps
    after they arrive) give every frame's readout and every message of the stream held
    ``steps`` per frame, only without the idle steps."""
    _, g, cur, _ = ilif_case(5, depth=2, frames=4)
    steps = g.meta.extra["sdnn"]["steps"]
    v = vth_from_counts(g, vth)
    held = simulate_sdnn(g, cur, steps, vth=v, record=True)
    pipe = simulate_sdnn(g, cur, 1, vth=v, record=True, latency=steps - 1)
    assert pipe.steps == cur.shape[0] + steps - 1
    np.testing.assert_array_equal(pipe.readout, held.readout)
    assert pipe.synops.sum() == held.synops.sum() > 0
    assert pipe.msg_count.sum() == held.msg_count.sum()


def test_vth_in_counts():
    _, g, _, _ = ilif_case(6)
    info = g.meta.extra["sdnn"]["nodes"]
    v = vth_from_counts(g, 1.0)
    for n in g.neurons():
        theta = int(g.node(n).theta_unit_int)
        assert v[n] == theta >> info[n]["state_exp"]
    assert set(vth_from_counts(g, 0.0).values()) == {0}


def test_refuses_non_ilif_and_coarse_states():
    from _sdnn_cases import random_sdnn

    with pytest.raises(ValueError, match="I-LIF"):
        ilif_to_sdnn(random_sdnn(0)[1])
    q, _, _, _ = ilif_case(7)
    with pytest.raises(ValueError, match="state_exp"):
        ilif_to_sdnn(q, fine_bits=0)  # theta_unit_int 2^8: state_exp 8 > 7


@pytest.mark.lava
@pytest.mark.slow
def test_lava_runs_the_pipelined_ilif_stream_bit_for_bit(no_leftover_processes):
    """Lava (stock processes, DelaySparse on the balanced skips) == the reference, every
    neuron's messages at every step and the readout, frames held one step each."""
    from lava_spikingunet.backends.sdnn.network import run_sdnn

    _, g, cur, _ = ilif_case(8, depth=2, frames=3)
    steps = g.meta.extra["sdnn"]["steps"]
    cur = np.concatenate([cur, np.repeat(cur[-1:], steps - 1, axis=0)])  # Lava runs F holds
    v = vth_from_counts(g, 0.5)
    ref = simulate_sdnn(g, cur, 1, vth=v, record=True)
    res = run_sdnn(g, cur, 1, vth=v, timeout=120.0)
    np.testing.assert_array_equal(res.readout_steps, ref.readout_steps[:, 0])
    for n in g.neurons():
        np.testing.assert_array_equal(res.messages[n], ref.messages[n][:, 0], err_msg=n)
    assert ref.msg_count.sum() > 0


def test_extra_fine_bits_make_messages_finer_and_requantize_what_falls_out():
    q, g, _, _ = ilif_case(9, depth=2)
    h = ilif_to_sdnn(q, extra_fine_bits=2)
    a, b = g.meta.extra["sdnn"]["nodes"], h.meta.extra["sdnn"]["nodes"]
    for n in g.neurons():
        assert b[n]["state_exp"] == max(0, a[n]["state_exp"] - 2)
    moved = set(h.meta.extra["sdnn"]["requantized_edges"])
    assert moved and not g.meta.extra["sdnn"]["requantized_edges"]
    for s, d, e in h.edges():
        if getattr(e, "static", False):
            continue
        assert -7 <= e.exp <= 7 and np.abs(e.mant).max() <= 127
        if f"{s}->{d}" not in moved:  # the others keep their mantissas exactly
            np.testing.assert_array_equal(e.mant, g.edge(s, d).mant)
