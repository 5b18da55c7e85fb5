"""Record one run's spike counts, and the ANN activations the spikes approximate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lava_spikingunet.graph.ir import InputNode, NeuronNode, SpikingGraph
from lava_spikingunet.graph.ops import apply_edge


@dataclass
class Recording:
    """Spike counts ``k`` of every neuron node, ``(T_total, B, C, H, W)`` uint8.

    ``graph`` is the run's graph at the recorded frame size; ``source`` says which
    simulator produced the counts.
    """

    graph: SpikingGraph
    counts: dict[str, torch.Tensor]
    timesteps: int
    total_steps: int
    start: dict[str, int]
    source: str


def at_frame_size(graph: SpikingGraph, height: int, width: int) -> SpikingGraph:
    """``graph`` itself if it is built for ``height x width`` frames, else a resized view."""
    _, h, w = graph.node(graph.input_name).shape
    return graph if (h, w) == (height, width) else graph.resized(height, width)


def record_spikes(graph: SpikingGraph, x: Any, timesteps: int | None = None) -> Recording:
    """Run the integer reference (float mode for an unquantized graph) on frames ``x``.

    ``x``: ``(B, C, H, W)`` or ``(C, H, W)`` with sides dividing by ``2**depth``. Every
    node runs on every step of the frame, as on the chip.
    """
    from lava_spikingunet.reference.simulator import simulate

    frames = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if frames.dim() == 3:
        frames = frames[None]
    g = at_frame_size(graph, int(frames.shape[-2]), int(frames.shape[-1]))
    quantized = g.is_quantized
    res = simulate(g, frames, timesteps=timesteps, quantized=quantized, record_spikes=True)
    source = "integer reference" if quantized else "reference (float mode, unquantized model)"
    return Recording(g, dict(res.spikes), res.timesteps, res.total_steps, dict(res.start), source)


def ann_activations(graph: SpikingGraph, x: Any) -> dict[str, torch.Tensor]:
    """ReLU activations of the ANN the graph encodes, in each node's normalized units.

    From the graph's float weights (the converted U-Net's, or the quantized values when
    a file holds no float copy): ``a_n = relu(sum_e W_e (*) (a_src / theta_N_src) + b_n)``
    with the image itself as the input's value. This is the U-Net activation divided by
    the layer's normalization scale lambda, the quantity the firing rate approximates.
    """
    frames = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if frames.dim() == 3:
        frames = frames[None]
    g = at_frame_size(graph, int(frames.shape[-2]), int(frames.shape[-1]))
    act: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for n in g.order():
            node = g.node(n)
            if isinstance(node, InputNode):
                act[n] = frames
                continue
            if not isinstance(node, NeuronNode):
                continue
            cur = torch.from_numpy(node.bias).view(1, -1, 1, 1).clone()
            for src, e in g.in_edges(n):
                src_node = g.node(src)
                value = (
                    act[src] if isinstance(src_node, InputNode) else act[src] / src_node.theta_unit
                )
                cur = cur + apply_edge(e, value, torch.as_tensor(np.asarray(e.weight)))
            act[n] = torch.relu(cur)
    return {n: a for n, a in act.items() if n != g.input_name}


def spike_rates(rec: Recording) -> dict[str, torch.Tensor]:
    """Per neuron, mean output ``k * theta_N`` per step over the node's window of T steps."""
    out = {}
    for n, k in rec.counts.items():
        node = rec.graph.node(n)
        lo = rec.start[n]
        window = k[lo : lo + rec.timesteps].to(torch.float64)
        out[n] = window.sum(0) * node.theta_unit / rec.timesteps
    return out
