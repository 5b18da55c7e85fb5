"""The integer reference as a ``torch.nn.Module``, so U-Net evaluation code can run it."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lava_spikingunet.graph.ir import SpikingGraph
from lava_spikingunet.graph.timing import balance_delays, set_native_delays, set_zero_delays
from lava_spikingunet.reference.input_current import size_multiple
from lava_spikingunet.reference.simulator import simulate

Delays = Literal["graph", "native", "balanced", "zero"]


def with_delays(graph: SpikingGraph, delays: Delays) -> SpikingGraph:
    """``graph`` itself (``"graph"``) or a copy with native, balanced or zero delays."""
    if delays == "graph":
        return graph
    if delays not in ("native", "balanced", "zero"):
        raise ValueError(f"delays must be graph, native, balanced or zero, got {delays!r}")
    g = graph.copy()
    if delays == "zero":
        return set_zero_delays(g)
    set_native_delays(g)
    return balance_delays(g) if delays == "balanced" else g


def pad_frames(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` bottom/right (reflect, like ``UNet.forward``) to ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class IntegerSpikingUNetModule(nn.Module):
    """``forward(x)`` = the readout ``y = acc / (T S)`` of the integer reference.

    Any frame size works (padded to the size multiple and cropped back); inference only.
    """

    def __init__(
        self, graph: SpikingGraph, timesteps: int | None = None, delays: Delays = "balanced"
    ) -> None:
        super().__init__()
        from lava_spikingunet.snn.module import graph_unet_config

        self.graph = with_delays(graph, delays)
        self.timesteps = int(timesteps or graph.meta.timesteps)
        self.config = graph_unet_config(graph)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_frames(x.double(), size_multiple(self.graph))
        y = simulate(self.graph, xp.numpy(), timesteps=self.timesteps).y
        return y[..., :h, :w].to(x.dtype)
