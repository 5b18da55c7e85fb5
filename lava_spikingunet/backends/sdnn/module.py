"""The ``sdnn`` reference as a ``torch.nn.Module`` (static frames), for the task evaluators,
and the U-Net / I-LIF U-Net -> ``sdnn`` pipelines built from the library's conversion calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lava_spikingunet.graph.ir import SpikingGraph
from lava_spikingunet.reference.input_current import input_current, size_multiple
from lava_spikingunet.reference.module import pad_frames
from lava_spikingunet.reference.sigma_delta import simulate_sdnn


def sdnn_from_unet(
    unet,
    stats,
    profile: Any = "loihi2",
    *,
    vth: int = 1,
    preset: str = "deploy",
    delays: str = "native",
) -> SpikingGraph:
    """Convert (``preset``), quantize for ``profile`` and turn into the ``sdnn`` form.

    ``stats``: :func:`lava_spikingunet.conversion.calibrate` of the U-Net. The graph is
    built for ``2^depth`` square frames; :class:`SDNNModule` resizes it per input.
    """
    from lava_spikingunet.backends.sdnn.convert import to_sdnn
    from lava_spikingunet.conversion import PRESETS, ConversionConfig, convert_unet
    from lava_spikingunet.fixed_point import quantize_graph

    m = unet.size_multiple
    graph = convert_unet(unet, stats, m, m, ConversionConfig(**PRESETS[preset]))
    q = quantize_graph(graph, profile)
    return to_sdnn(q, profile, vth=vth, delays=delays)


def sdnn_from_ilif(
    ilif,
    calib: torch.Tensor,
    profile: Any = "loihi2",
    *,
    vth: int = 1,
    requantize: bool = False,
    extra_fine_bits: int = 0,
) -> SpikingGraph:
    """An I-LIF U-Net in the ``sdnn`` form: exact conversion at ``T = 1``
    (:func:`lava_spikingunet.conversion.ilif.convert_ilif`), quantized for ``profile``
    (readout scale from the ``calib`` frames ``(B, C, H, W)``, whose size the graph is
    built for) and turned into the ``sdnn`` form with its integer weights kept
    (:func:`~lava_spikingunet.backends.sdnn.convert.ilif_to_sdnn`), or, with
    ``requantize``, re-quantized by :func:`~lava_spikingunet.backends.sdnn.convert.to_sdnn`
    (balanced delays).
    """
    from lava_spikingunet.backends.sdnn.convert import ilif_to_sdnn, to_sdnn
    from lava_spikingunet.conversion.ilif import convert_ilif
    from lava_spikingunet.fixed_point import quantize_graph

    graph = convert_ilif(ilif, int(calib.shape[-2]), int(calib.shape[-1]))
    q = quantize_graph(graph, profile, calib=calib)
    if requantize:
        return to_sdnn(q, profile, vth=vth, delays="balanced")
    return ilif_to_sdnn(q, vth=vth, extra_fine_bits=extra_fine_bits)


class SDNNModule(nn.Module):
    """``forward(x)`` = the settled readout ``y`` of the sigma-delta reference, one static
    frame per image from the resting state (``rest=False``: from reset; padded to the size
    multiple and cropped back); inference only.
    ``last`` keeps the last run's :class:`~lava_spikingunet.reference.sigma_delta.SDNNResult`
    (synops, message counts, headroom)."""

    def __init__(self, graph: SpikingGraph, vth: int | None = None, rest: bool = True) -> None:
        super().__init__()
        self.rest = rest
        from lava_spikingunet.snn.module import graph_unet_config

        self.graph = graph
        self.vth = vth
        self.config = graph_unet_config(graph)
        self.last = None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_frames(x.double(), size_multiple(self.graph))
        g = self.graph.resized(xp.shape[-2], xp.shape[-1])
        cur = input_current(g, xp.numpy())
        self.last = simulate_sdnn(g, cur, vth=self.vth, count_synops=False, rest=self.rest)
        y = torch.from_numpy(np.ascontiguousarray(self.last.y[-1]))
        return y[..., :h, :w].to(x.dtype)
