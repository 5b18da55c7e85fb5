"""The integer reference as a ``torch.nn.Module``, so U-Net evaluation code can run it."""

from __future__ import annotations

import torch

from lava_spikingunet.graph.ir import SpikingGraph
from lava_spikingunet.graph.timing import Delays, with_delays
from lava_spikingunet.reference.simulator import simulate
from lava_spikingunet.snn.frames import pad_frames
from lava_spikingunet.snn.module import SpikingUNetModule

__all__ = ["Delays", "IntegerSpikingUNetModule", "pad_frames", "with_delays"]


class IntegerSpikingUNetModule(SpikingUNetModule):
    """``forward(x)`` = the readout ``y = acc / (T S)`` of the integer reference.

    Any frame size works (padded to the size multiple and cropped back); inference only.
    ``delays`` default to balanced (``graph``: as the graph has them).
    """

    def __init__(
        self, graph: SpikingGraph, timesteps: int | None = None, delays: Delays = "balanced"
    ) -> None:
        super().__init__(with_delays(graph, delays), timesteps, "graph")

    def run(self, x: torch.Tensor) -> torch.Tensor:
        y = simulate(self.graph, x.double().numpy(), timesteps=self.timesteps).y
        return y.to(x.dtype)
