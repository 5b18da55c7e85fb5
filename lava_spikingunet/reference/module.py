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
    ``delays`` default to balanced (``graph``: as the graph has them). ``device``: where
    the reference runs (default the CPU; the same integers on every device).
    """

    def __init__(
        self,
        graph: SpikingGraph,
        timesteps: int | None = None,
        delays: Delays = "balanced",
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(with_delays(graph, delays), timesteps, "graph", device)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.detach().double().cpu().numpy()  # the input current is made on the host
        y = simulate(self.graph, frames, timesteps=self.timesteps, device=self.device).y
        return y.to(x.dtype)
