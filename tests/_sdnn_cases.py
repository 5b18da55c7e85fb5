"""Seeded random small quantized U-Nets in the sdnn form (shared by tests/test_sdnn*.py)."""

from __future__ import annotations

import numpy as np
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.backends.sdnn.convert import to_sdnn
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import activation_points, unet_to_graph
from lava_spikingunet.reference.input_current import input_current


def random_sdnn(
    seed, depth=1, width=3, chans=(1, 1), vth=0, frames=1, batch=1, side=None, delays="native"
):
    """``(unet, sdnn graph, x (F, B, C, H, W) float, I0 (F, B, C, H, W) int)``."""
    torch.manual_seed(seed)
    cfg = UNetConfig(chans[0], chans[1], width, depth, head_kernel=3 if seed % 2 else 1)
    unet = UNet(cfg).eval()
    side = side or 4 * 2**depth
    rng = np.random.default_rng(seed)
    points = activation_points(depth)
    lambdas = {n: float(v) for n, v in zip(points, rng.uniform(0.3, 1.5, len(points)), strict=True)}
    graph = unet_to_graph(unet, side, side, lambdas, n_thresholds=6, theta1=1.0, timesteps=10)
    x = torch.rand(frames, batch, chans[0], side, side) * 2
    q = quantize_graph(graph, "loihi2", calib=x.reshape(-1, chans[0], side, side))
    g = to_sdnn(q, vth=vth, delays=delays)
    cur = np.stack([input_current(g, x[f].numpy()) for f in range(frames)])
    return unet, g, x, cur
