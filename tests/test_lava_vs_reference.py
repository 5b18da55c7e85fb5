"""The target of the Lava backend: Lava == integer reference, bit for bit.

Random small U-Nets (depth, width, thresholds, delays and neuron form varied, seeded);
every layer's spike counts at every step and the readout accumulator must be identical.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.timing import balance_delays, frame_steps
from lava_spikingunet.reference.input_current import input_current
from lava_spikingunet.reference.simulator import simulate

pytestmark = [pytest.mark.lava, pytest.mark.slow]

CASES = [
    # seed, depth, width, n_thresholds, in/out channels, balanced, form, T, frames
    (0, 1, 3, 6, (1, 1), False, "graded", 5, 2),
    (1, 2, 4, 6, (1, 1), True, "cascade", 4, 1),
    (2, 2, 3, 3, (3, 2), False, "cascade", 3, 1),
    (3, 2, 4, 2, (3, 3), True, "graded", 6, 2),
    (4, 1, 2, 1, (1, 2), False, "cascade", 4, 1),
]


def random_quantized_unet(seed, depth, width, n_thr, chans, balanced, timesteps, frames):
    torch.manual_seed(seed)
    cfg = UNetConfig(chans[0], chans[1], width, depth, head_kernel=3 if seed % 2 else 1)
    unet = UNet(cfg)
    side = 4 * 2**depth
    rng = np.random.default_rng(seed)
    lambdas = {n: float(v) for n, v in zip(_points(depth), rng.uniform(0.3, 1.5, 64), strict=False)}
    graph = unet_to_graph(unet, side, side, lambdas, n_thresholds=n_thr, timesteps=timesteps)
    if balanced:
        balance_delays(graph)
    x = torch.rand(frames, chans[0], side, side) * 2
    q = quantize_graph(graph, "loihi2", calib=x)
    return q, input_current(q, x.numpy())


def _points(depth):
    from lava_spikingunet.graph.from_unet import activation_points

    return activation_points(depth)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-N{c[3]}-{c[6]}")
def test_lava_matches_reference_bit_for_bit(case, no_leftover_processes):
    from lava_spikingunet.backends.lava_network import run_lava

    seed, depth, width, n_thr, chans, balanced, form, timesteps, frames = case
    q, current = random_quantized_unet(
        seed, depth, width, n_thr, chans, balanced, timesteps, frames
    )
    ref = simulate(q, current=current, record_spikes=True)
    res = run_lava(q, current, form=form, record=True)
    flen = frame_steps(q)
    assert res.frame_len == flen == ref.total_steps
    np.testing.assert_array_equal(res.acc, ref.acc.numpy())
    total = 0
    for name in q.neurons():
        want = ref.spikes[name].numpy()  # (steps, B, C, H, W)
        got = res.spikes[name].reshape(frames, flen, *want.shape[2:]).swapaxes(0, 1)
        mismatch = np.argwhere(got != want)
        assert mismatch.size == 0, f"{name}: first mismatch at (step, frame, c, h, w) {mismatch[0]}"
        total += int(want.sum())
    assert total > 0, "the test network should spike"
    if form == "cascade":
        for name, bits in res.stage_spikes.items():
            assert bits.max() <= 1 and bits.shape[0] == q.node(name).n_thresholds


def test_channels_are_one_message_deep_and_the_run_stays_exact(no_leftover_processes):
    """Every data channel is built one message deep (Lava's default is 64), graded spikes
    travel as one byte, and the run is still bit-exact (cascade: its internal loop too)."""
    from lava_spikingunet.backends.lava.channels import DATA_CHANNEL_DEPTH, channel_report
    from lava_spikingunet.backends.lava_network import run_lava

    q, current = random_quantized_unet(5, 1, 2, 3, (1, 1), False, 3, 1)
    ref = simulate(q, current=current)
    for form in ("graded", "cascade"):
        seen = []
        res = run_lava(
            q,
            current,
            form=form,
            on_compiled=lambda exe, seen=seen: seen.extend(channel_report(exe)),
        )
        np.testing.assert_array_equal(res.acc, ref.acc.numpy())
        assert DATA_CHANNEL_DEPTH == 1
        assert seen and {c.depth for c in seen} == {DATA_CHANNEL_DEPTH}
        n_edges = sum(1 for _ in q.edges())
        assert len(seen) >= n_edges  # one per synapse in and out (cascade: per stage too)
        spikes = [c for c in seen if c.src.endswith(".s_out")]
        assert form == "cascade" or (spikes and {c.dtype for c in spikes} == {"uint8"})
