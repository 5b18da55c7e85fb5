"""The spiking network as a ``torch.nn.Module``, so U-Net evaluation code can run it."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from lava_spikingunet.graph.ir import SpikingGraph
from lava_spikingunet.graph.timing import Delays
from lava_spikingunet.snn.frames import pad_frames


def graph_unet_config(graph: SpikingGraph):
    """The source U-Net's config (a UNetConfig if recorded, else a namespace with
    ``residual``), so code that checks ``model.config.residual`` works."""
    cfg = graph.meta.extra.get("unet_config")
    if cfg:
        from lava_spikingunet.ann.unet import UNetConfig

        return UNetConfig(**cfg)
    return SimpleNamespace(residual=graph.meta.task == "denoise")


class SpikingUNetModule(nn.Module):
    """``forward(x)`` = the readout ``y = acc / T`` of the float spiking run.

    Any frame size works (padded to the size multiple and cropped back); inference only.
    ``device``: the torch device the simulation runs on (default the CPU); ``forward``
    moves its input there and returns the output on the input's device.
    Subclasses change :meth:`run` (the simulation of padded frames).
    """

    def __init__(
        self,
        graph: SpikingGraph,
        timesteps: int | None = None,
        delays: Delays = "zero",
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.graph = graph
        self.timesteps = int(timesteps or graph.meta.timesteps)
        self.delays = delays
        self.device = torch.device(device)
        self.config = graph_unet_config(graph)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The readout ``y`` of frames whose sides divide by the size multiple."""
        from lava_spikingunet.snn.float_sim import simulate

        return simulate(self.graph, x, self.timesteps, delays=self.delays, device=self.device).y

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_frames(x, self.graph.size_multiple())
        return self.run(xp.to(self.device))[..., :h, :w].to(x.device)
