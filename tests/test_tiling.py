"""Exact tiling (lava_spikingunet/tiling.py): tiles stitched == the whole frame, bit for bit.

Random seeded quantized U-Nets, odd frame sizes, tiles smaller than the frame; the whole
frame is run the way ``simulate`` runs it (reflect-padded to the pooling grid, integer
reference, cropped back).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.errors import UserError
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import activation_points, unet_to_graph
from lava_spikingunet.graph.timing import balance_delays
from lava_spikingunet.reference.input_current import input_current, size_multiple
from lava_spikingunet.reference.module import pad_frames
from lava_spikingunet.reference.simulator import simulate
from lava_spikingunet.tiling import (
    axis_tiles,
    parse_tile,
    plan_tiles,
    receptive_halo,
    reference_runner,
    run_tiled,
)


def random_graph(seed: int, depth: int, width: int, n_thr: int, chans, side: int, balanced: bool):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    unet = UNet(UNetConfig(chans[0], chans[1], width, depth, head_kernel=3 if seed % 2 else 1))
    lambdas = dict(zip(activation_points(depth), rng.uniform(0.3, 1.2, 64), strict=False))
    graph = unet_to_graph(unet, side, side, lambdas, n_thresholds=n_thr, timesteps=3)
    if balanced:
        balance_delays(graph)
    calib = torch.rand(2, chans[0], side, side) * 2
    return quantize_graph(graph, "loihi2", calib=calib)


def whole_frame_acc(graph, x: np.ndarray) -> np.ndarray:
    """What ``simulate`` computes: pad (reflect) to the grid, run, crop."""
    xp, (h, w) = pad_frames(torch.as_tensor(x)[None], size_multiple(graph))
    sized = graph.resized(*xp.shape[2:])
    acc = simulate(sized, current=input_current(sized, xp.numpy())).acc.numpy()[0]
    return acc[:, :h, :w]


CASES = [
    # seed, depth, width, N, channels, balanced, frame (H, W), tile
    (0, 1, 3, 3, (1, 1), False, (37, 45), (24, 24)),
    (1, 2, 2, 4, (1, 2), True, (101, 77), (64, 64)),
    (2, 2, 3, 2, (3, 1), False, (59, 83), (64, 56)),
    (3, 3, 2, 3, (1, 1), True, (150, 131), (128, 128)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-{c[6][0]}x{c[6][1]}")
def test_tiles_stitch_to_the_whole_frame_bit_for_bit(case):
    seed, depth, width, n_thr, chans, balanced, frame, tile = case
    graph = random_graph(seed, depth, width, n_thr, chans, tile[0], balanced)
    rng = np.random.default_rng(100 + seed)
    x = rng.uniform(0, 1, (chans[0], *frame))
    want = whole_frame_acc(graph, x)
    got, plan = run_tiled(graph, x, tile, reference_runner, batch=3)
    assert plan.count > 1, "the case must actually tile"
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.abs(want).max() > 0
    np.testing.assert_array_equal(got, want)


def test_stitching_without_the_halo_differs(monkeypatch):
    """The halo is needed: keeping tiles up to their inner sides gives other values."""
    import lava_spikingunet.tiling as tiling

    graph = random_graph(4, 2, 3, 4, (1, 1), 32, False)
    x = np.random.default_rng(4).uniform(0, 1, (1, 70, 70))
    want = whole_frame_acc(graph, x)
    monkeypatch.setattr(tiling, "receptive_halo", lambda g, length=None: (0, 0))
    got, plan = run_tiled(graph, x, (32, 32), reference_runner)
    assert plan.count > 1
    assert not np.array_equal(got, want)


@pytest.mark.parametrize(
    "size,tile,before,after,grid",
    [(104, 64, 22, 25, 4), (568, 256, 47, 54, 8), (40, 40, 9, 10, 2), (96, 32, 5, 7, 8)],
)
def test_axis_tiles_partition_the_axis_and_keep_clear_of_inner_sides(
    size, tile, before, after, grid
):
    tiles = axis_tiles(size, tile, before, after, grid)
    covered = np.zeros(size, dtype=int)
    for i, (origin, ks, ke) in enumerate(tiles):
        assert origin % grid == 0 and 0 <= origin and origin + min(tile, size) <= size
        covered[ks:ke] += 1
        if i > 0:
            assert ks >= origin + before
        if i < len(tiles) - 1:
            assert ke <= origin + tile - after
    assert (covered == 1).all()


def test_a_tile_smaller_than_the_halo_is_refused_by_name():
    graph = random_graph(0, 2, 2, 3, (1, 1), 32, False)
    before, after = receptive_halo(graph)
    with pytest.raises(UserError, match="receptive halo"):
        plan_tiles(graph, (200, 200), (before + after, before + after))


def test_parse_tile():
    assert parse_tile("256x128") == (256, 128)
    assert parse_tile("64") == (64, 64)
    for bad in ("0x4", "ax4", "4x4x4", ""):
        with pytest.raises(UserError):
            parse_tile(bad)


@pytest.mark.lava
@pytest.mark.slow
def test_tiled_lava_equals_the_whole_frame_reference(no_leftover_processes):
    from lava_spikingunet.tiling import lava_runner

    graph = random_graph(5, 1, 2, 3, (1, 1), 24, False)
    x = np.random.default_rng(5).uniform(0, 1, (1, 37, 45))
    want = whole_frame_acc(graph, x)
    got, plan = run_tiled(graph, x, (24, 24), lava_runner("graded"))
    assert plan.count > 1
    np.testing.assert_array_equal(got, want)
