"""The sdnn form's integer reference (docs/semantics.md section 6): conversion, settling,
frames back to back, and closeness to the U-Net."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _sdnn_cases import random_sdnn

from lava_spikingunet.backends.sdnn.convert import longest_path, settle_steps
from lava_spikingunet.reference.sigma_delta import input_schedule, simulate_sdnn, wrap_signed


def test_wrap_signed_is_lavas_signed_clamp():
    from lava.proc.conv.utils import signed_clamp

    x = np.array([-(1 << 25), -(1 << 23) - 1, -(1 << 23), 0, (1 << 23) - 1, 1 << 23, 12345678])
    np.testing.assert_array_equal(wrap_signed(x, 24), signed_clamp(x, bits=24))


def test_input_schedule_sends_changes_once_per_frame():
    f = np.arange(3 * 2).reshape(3, 1, 1, 1, 2) + 1
    f[1] = f[0]
    sched = input_schedule(f, hold=2)
    assert len(sched) == 6
    np.testing.assert_array_equal(sched[0], f[0])
    assert sched[1] is None and sched[2] is None and sched[3] is None
    np.testing.assert_array_equal(sched[4], f[2] - f[1])


def test_conversion_metadata():
    _, g, _, _ = random_sdnn(0, depth=2)
    info = g.meta.extra["sdnn"]
    assert info["steps"] == settle_steps(g) == longest_path(g)[g.readout_name] + 1 == 15
    assert set(info["nodes"]) == set(g.neurons())
    for n in g.neurons():
        assert info["nodes"][n]["state_exp"] >= 0
    for s, _, e in g.edges():
        assert e.delay == (0 if s == g.input_name else 1)
        if s != g.input_name:
            assert np.abs(e.mant).max() <= 127 and -7 <= e.exp <= 7


@pytest.mark.parametrize("vth", [0, 2])
def test_static_frame_settles_after_the_longest_path(vth):
    _, g, _, cur = random_sdnn(1, depth=2, vth=vth)
    steps = g.meta.extra["sdnn"]["steps"]
    long = simulate_sdnn(g, cur, hold=3 * steps, record=True)
    short = simulate_sdnn(g, cur, hold=steps)
    np.testing.assert_array_equal(long.readout, short.readout)
    np.testing.assert_array_equal(long.readout_steps[steps - 1], long.readout_steps[-1])
    assert long.msg_count[steps - 1 :].sum() == 0
    for n, msgs in long.messages.items():
        assert not msgs[longest_path(g)[n] + 1 :].any(), n


def test_repeated_frame_costs_nothing_and_changes_cost_little():
    _, g, _, cur = random_sdnn(2, depth=1, frames=2)
    stream = np.stack([cur[0], cur[0], cur[1]])
    r = simulate_sdnn(g, stream)
    hold = r.hold
    assert r.synops[hold : 2 * hold].sum() == 0
    np.testing.assert_array_equal(r.readout[0], r.readout[1])
    alone = simulate_sdnn(g, cur[1])
    # the third frame lands close to the frame run alone (floor drift of the messages)
    scale = np.abs(alone.readout).max()
    assert np.abs(r.readout[2] - alone.readout[0]).max() <= 0.02 * scale


@pytest.mark.parametrize("seed", [0, 3])
def test_close_to_the_unet(seed):
    unet, g, x, cur = random_sdnn(seed, depth=2, width=4, chans=(3, 2), batch=2)
    r = simulate_sdnn(g, cur[0])
    with torch.no_grad():
        ann = unet(x[0]).numpy()
    err = np.abs(r.y[0] - ann).max()
    assert err <= 0.03 * np.abs(ann).max(), err


@pytest.mark.parametrize("kind", ["conv", "convT"])
def test_sparse_scatter_path_equals_the_dense_operator(kind):
    from lava_spikingunet.graph.ir import ConvEdge, ConvTransposeEdge
    from lava_spikingunet.reference.sigma_delta import EdgeOp

    rng = np.random.default_rng(0)
    for pad in (0, 1):
        if kind == "conv":
            e = ConvEdge(weight=np.zeros((5, 3, 3, 3)), padding=pad)
        else:
            e = ConvTransposeEdge(weight=np.zeros((3, 5, 3, 3)), padding=pad)
        e.mant, e.exp = rng.integers(-128, 128, e.weight.shape), -3
        op = EdgeOp(e)
        msg = np.zeros((2, 3, 9, 11), np.int64)
        on = rng.random(msg.shape) < 0.03
        msg[on] = rng.integers(-5000, 5000, on.sum())
        sparse = op._sparse(msg)
        assert sparse is not None
        np.testing.assert_array_equal(sparse, op._op(msg))


def test_vth_from_float_is_at_least_one_message_unit():
    from lava_spikingunet.reference.sigma_delta import vth_from_float

    _, g, _, _ = random_sdnn(0, depth=1)
    assert set(vth_from_float(g, 0.0).values()) == {0}
    assert min(vth_from_float(g, 1e-9).values()) == 1
    big = vth_from_float(g, 0.25)
    for n, v in big.items():
        st = g.meta.extra["sdnn"]["nodes"][n]["state_exp"]
        assert v == max(1, round(0.25 * g.node(n).scale / 2**st))


def test_balanced_delays_settle_at_the_same_step():
    _, g, _, cur = random_sdnn(5, depth=2, delays="balanced")
    assert g.meta.extra["sdnn"]["steps"] == settle_steps(g) == 15
    lp = longest_path(g)
    for n in g.neurons():  # every input of a node arrives with the same latency
        assert len({lp[s] + e.delay for s, e in g.in_edges(n)}) == 1
    r = simulate_sdnn(g, cur, hold=30, record=True)
    for n, msgs in r.messages.items():
        assert not msgs[lp[n] + 1 :].any(), n


@pytest.mark.parametrize("delays", ["native", "balanced"])
def test_resting_state_is_a_blank_frame_first(delays):
    """``rest=True`` = a blank frame (zero input current) held the settle steps, then the
    frames; the rest's steps are left out of the frames' synops and readouts."""
    _, g, _, cur = random_sdnn(6, 2, 3, (1, 2), vth=1, frames=2, delays=delays)
    hold = g.meta.extra["sdnn"]["steps"]
    rest = simulate_sdnn(g, cur, hold, rest=True, record=True)
    blank = simulate_sdnn(g, np.concatenate([np.zeros_like(cur[:1]), cur]), hold, record=True)
    assert rest.rest_steps == hold and rest.steps == blank.steps
    np.testing.assert_array_equal(rest.readout, blank.readout[1:])
    np.testing.assert_array_equal(rest.readout_steps, blank.readout_steps)
    np.testing.assert_array_equal(rest.synops, blank.synops[hold:])
    assert rest.rest_synops == blank.synops[:hold].sum() > 0


def test_a_frame_from_rest_costs_less_than_from_reset():
    """From reset every biased neuron also sends its bias-driven changes while the
    frame travels; from the resting state only the frame's own changes travel."""
    _, g, _, cur = random_sdnn(7, 2, 4, (1, 1), vth=1, delays="balanced")
    reset = simulate_sdnn(g, cur)
    rest = simulate_sdnn(g, cur, rest=True)
    assert rest.synops.sum() < reset.synops.sum()
