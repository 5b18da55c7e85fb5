"""The sdnn form on Lava (docs/semantics.md section 6): stock process classes only, the
project's Conv CPU model against Lava's own, and Lava == the sigma-delta reference bit for
bit (every neuron's messages at every step, and the readout)."""

from __future__ import annotations

import numpy as np
import pytest
from _sdnn_cases import random_sdnn

from lava_spikingunet.backends.lava.numpy_ops import conv_transpose2d
from lava_spikingunet.backends.sdnn.models import lava_to_torch_weight, torch_to_lava_weight
from lava_spikingunet.backends.sdnn.network import (
    build_sdnn,
    conv_transpose_matrix,
    run_sdnn,
    stock_process_classes,
)
from lava_spikingunet.reference.sigma_delta import simulate_sdnn

pytestmark = [pytest.mark.lava, pytest.mark.slow]

STOCK = {
    "lava.proc.sdn.process.SigmaDelta",
    "lava.proc.conv.process.Conv",
    "lava.proc.sparse.process.Sparse",
    "lava.proc.sparse.process.DelaySparse",
    "lava.proc.io.source.RingBuffer",
    "lava.proc.io.sink.RingBuffer",
}


def _run_conv(data, conv_kwargs, exact: bool):
    """source -> Conv -> sink for data (W, H, C, steps); the sink's record."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from lava_spikingunet.backends.lava.runner import lava_session
    from lava_spikingunet.backends.sdnn.models import EXCEPTION_MAP

    src = Source(data=data)
    conv = Conv(input_shape=data.shape[:-1], num_message_bits=24, **conv_kwargs)
    sink = Sink(shape=conv.output_shape, buffer=data.shape[-1])
    src.s_out.connect(conv.s_in)
    conv.a_out.connect(sink.a_in)
    cfg = Loihi2SimCfg(
        select_tag="fixed_pt", exception_proc_model_map=dict(EXCEPTION_MAP) if exact else {}
    )
    with lava_session(sink):
        sink.run(condition=RunSteps(num_steps=data.shape[-1]), run_cfg=cfg)
        return sink.data.get().astype(np.int64)


CONV_CASES = [
    # (W, H, C_in), C_out, k, stride, padding, groups
    ((5, 4, 2), 3, 3, 1, 1, 1),
    ((6, 5, 4), 2, 3, 2, 2, 2),
    ((6, 4, 4), 4, 2, 2, 0, 4),  # avg-pool as a grouped Conv
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[2]}s{c[3]}p{c[4]}g{c[5]}")
def test_project_conv_model_equals_lavas_own_at_weight_exp_0(case, no_leftover_processes):
    shape, c_out, k, stride, pad, groups = case
    rng = np.random.default_rng(sum(shape) + k)
    weight = rng.integers(-128, 128, (c_out, k, k, shape[2] // groups)).astype(np.int32)
    data = rng.integers(-300, 300, (*shape, 4)).astype(np.int32)
    data[..., 2] = 0  # a silent step
    kw = dict(weight=weight, stride=stride, padding=pad, groups=groups)
    ours = _run_conv(data, kw, exact=True)
    lavas = _run_conv(data, kw, exact=False)
    np.testing.assert_array_equal(ours, lavas)
    assert np.abs(ours).max() > 0
    # and with an exponent: Lava's own result (which ignores it) shifted, floor
    for e in (-3, 2) if groups == 1 else ():
        shifted = _run_conv(data, dict(kw, weight_exp=e), exact=True)
        want = np.left_shift(lavas, e) if e > 0 else np.right_shift(lavas, -e)
        np.testing.assert_array_equal(shifted, want)


def test_weight_layout_round_trip():
    rng = np.random.default_rng(0)
    w = rng.integers(-5, 5, (3, 2, 3, 2))
    np.testing.assert_array_equal(lava_to_torch_weight(torch_to_lava_weight(w), 1), w)


def test_conv_and_pool_matrices_equal_the_operators():
    from lava_spikingunet.backends.lava.numpy_ops import avgpool2d, conv2d
    from lava_spikingunet.backends.sdnn.network import conv_matrix, pool_matrix

    rng = np.random.default_rng(2)
    x = rng.integers(-4, 5, (3, 6, 8))
    for stride, pad in ((1, 1), (2, 0), (1, 0)):
        w = rng.integers(-9, 9, (2, 3, 3, 3))
        mat, shape = conv_matrix(w, x.shape, stride, pad)
        y = (mat @ x.transpose(2, 1, 0).reshape(-1)).reshape(shape[2], shape[1], shape[0])
        np.testing.assert_array_equal(y.T, conv2d(x, w, stride, pad))
    mat, shape = pool_matrix(5, x.shape)
    y = (mat @ x.transpose(2, 1, 0).reshape(-1)).reshape(shape[2], shape[1], shape[0])
    np.testing.assert_array_equal(y.T, avgpool2d(x, 5))


def test_conv_transpose_matrix_equals_the_operator():
    rng = np.random.default_rng(1)
    w = rng.integers(-9, 9, (3, 2, 3, 3))
    x = rng.integers(-4, 5, (3, 4, 5))
    mat, out_shape = conv_transpose_matrix(w, x.shape)
    y = mat @ x.transpose(2, 1, 0).reshape(-1)
    want = conv_transpose2d(x, w)
    assert want.shape == out_shape
    np.testing.assert_array_equal(y.reshape(out_shape[2], out_shape[1], out_shape[0]), want.T)


@pytest.mark.parametrize("delays", ["native", "balanced"])
def test_every_process_is_a_stock_lava_class(delays):
    _, g, _, cur = random_sdnn(0, depth=2, delays=delays)
    net = build_sdnn(g, cur[:, :1])
    classes = stock_process_classes(net.sinks[g.readout_name])
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert names <= STOCK, names - STOCK
    assert len(stock_process_classes(net.source)) == len(classes)
    # the walk reaches every process the builder made
    from lava.magma.compiler.compiler_graphs import find_processes

    assert {id(p) for p in find_processes(net.source)} == {id(p) for p in net.processes()}


LAVA_CASES = [
    # seed, depth, width, chans, vth, frames, delays
    (1, 2, 3, (3, 2), 0, 2, "native"),
    (2, 2, 4, (1, 2), 2, 2, "native"),
    (3, 1, 2, (2, 3), 5, 3, "native"),
    (4, 2, 3, (1, 1), 1, 2, "balanced"),  # DelaySparse on the skips
]


@pytest.mark.parametrize("case", LAVA_CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-vth{c[4]}-{c[6]}")
def test_lava_matches_the_sigma_delta_reference_bit_for_bit(case, no_leftover_processes):
    seed, depth, width, chans, vth, frames, delays = case
    _, g, _, cur = random_sdnn(seed, depth, width, chans, vth=vth, frames=frames, delays=delays)
    hold = g.meta.extra["sdnn"]["steps"] - (seed % 2) * 2  # also a hold shorter than settling
    ref = simulate_sdnn(g, cur, hold, record=True)
    res = run_sdnn(g, cur, hold)
    assert res.steps == ref.steps == frames * hold
    np.testing.assert_array_equal(res.readout_steps, ref.readout_steps[:, 0])
    np.testing.assert_array_equal(res.readout, ref.readout[:, 0])
    sent = 0
    for n in g.neurons():
        got, want = res.messages[n], ref.messages[n][:, 0]
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{n}: first mismatch at (step, c, h, w) {bad[0]}"
        sent += int(np.count_nonzero(want))
    assert sent > 0
    if vth:  # the threshold held changes back in the residues
        assert simulate_sdnn(g, cur, hold, vth=0).msg_count.sum() > ref.msg_count.sum()


def test_shipped_camseq_model_on_a_crop_is_bit_exact(repo_root, no_leftover_processes):
    """The shipped CamSeq01 U-Net (depth 3, width 16: 21 SigmaDelta + 23 synapse
    processes), converted, on an 8x8 crop: two frames as a stream, with a threshold."""
    import torch

    from lava_spikingunet.backends.sdnn.module import sdnn_from_unet
    from lava_spikingunet.checkpoints import load_unet
    from lava_spikingunet.conversion import calibrate
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.sigma_delta import vth_from_float

    ckpt = repo_root / "checkpoints" / "camseq01.pt"
    if not ckpt.is_file():
        pytest.skip("checkpoints/camseq01.pt is absent")
    unet, _ = load_unet(ckpt)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    g = sdnn_from_unet(unet, calibrate(unet, [x], max_batches=1)).resized(8, 8)
    cur = np.stack([input_current(g, x[i : i + 1].numpy()) for i in range(2)])
    vth = vth_from_float(g, 1 / 256)
    ref = simulate_sdnn(g, cur, vth=vth, record=True)
    res = run_sdnn(g, cur, vth=vth, timeout=120.0)
    np.testing.assert_array_equal(res.readout_steps, ref.readout_steps[:, 0])
    for n in g.neurons():
        np.testing.assert_array_equal(res.messages[n], ref.messages[n][:, 0])


@pytest.mark.parametrize("delays", ["native", "balanced"])
def test_lava_matches_the_reference_from_the_resting_state(delays, no_leftover_processes):
    """The network first settles without input, then takes the frames (every step of
    both, the rest included, compared)."""
    _, g, _, cur = random_sdnn(5, 2, 3, (2, 2), vth=1, frames=2, delays=delays)
    hold = g.meta.extra["sdnn"]["steps"]
    ref = simulate_sdnn(g, cur, hold, record=True, rest=True)
    res = run_sdnn(g, cur, hold, rest=True)
    assert res.steps == ref.steps == hold + 2 * hold
    np.testing.assert_array_equal(res.readout_steps, ref.readout_steps[:, 0])
    np.testing.assert_array_equal(res.readout, ref.readout[:, 0])
    for n in g.neurons():
        np.testing.assert_array_equal(res.messages[n], ref.messages[n][:, 0], err_msg=n)
    assert ref.rest_synops > 0  # the biases acted during the rest


@pytest.mark.parametrize("delays", ["native", "balanced"])
def test_lava_matches_the_reference_in_cum_error_mode(delays, no_leftover_processes):
    """SigmaDelta's cum_error mode (the unsent changes accumulate into an error that sends
    once it reaches vth): a 4-frame stream at 2 steps per frame from the resting state,
    every step compared; the mode changes what is sent, and at vth 0 it changes nothing."""
    _, g, _, cur = random_sdnn(6, 2, 3, (2, 2), vth=3, frames=4, delays=delays)
    ref = simulate_sdnn(g, cur, 2, record=True, rest=True, cum_error=True)
    res = run_sdnn(g, cur, 2, rest=True, cum_error=True)
    np.testing.assert_array_equal(res.readout_steps, ref.readout_steps[:, 0])
    for n in g.neurons():
        np.testing.assert_array_equal(res.messages[n], ref.messages[n][:, 0], err_msg=n)
    plain = simulate_sdnn(g, cur, 2, record=True, rest=True)
    assert any(not np.array_equal(plain.messages[n], ref.messages[n]) for n in g.neurons()), (
        "cum_error sent exactly what the plain mode sent"
    )
    zero = dict.fromkeys(g.neurons(), 0)
    a = simulate_sdnn(g, cur, 2, vth=zero, record=True, rest=True, cum_error=True)
    b = simulate_sdnn(g, cur, 2, vth=zero, record=True, rest=True)
    np.testing.assert_array_equal(a.readout_steps, b.readout_steps)
