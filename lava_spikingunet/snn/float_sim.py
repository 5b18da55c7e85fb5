"""Float simulation of a :class:`SpikingGraph` (docs/semantics.md) for conversion and
fine-tuning.

It runs the one graph walk, :func:`lava_spikingunet.snn.engine.run_graph`, in one float
dtype: each in-edge is applied to the source's whole spike-count history at once as one
``(T*B, C, H, W)`` batch (in time chunks that bound memory), shifted by the edge's delay
and summed; the bias is added in the node's window ``[start(n), start(n) + T)`` only;
then only the neuron state is scanned over time. Static coding: the input edge is applied
once to the image and injected for steps ``[0, T)`` (docs/semantics.md section 3). The
readout accumulates over ``[start(readout), start(readout) + T)``; ``y = acc / T``.

Spike counts are stored as small integers (``uint8`` for ``N <= 8``) and a source's
history is freed once its last consumer has run. Frames of any size whose sides divide
by ``2**depth`` run on the same graph (the graph's own frame size matters only for
deployment); :func:`simulate_padded` pads other sizes like :meth:`UNet.forward`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from lava_spikingunet.graph.ir import NeuronNode, ReadoutNode, SpikingGraph
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.graph.timing import Delays, with_delays
from lava_spikingunet.snn.engine import EdgePlan, Numerics, run_graph, static_edge
from lava_spikingunet.snn.frames import pad_frames

__all__ = [
    "Delays",
    "GraphTensors",
    "SimResult",
    "graph_tensors",
    "prediction",
    "simulate",
    "simulate_padded",
    "size_multiple",
    "write_back",
]


@dataclass
class GraphTensors:
    """Torch copies of a graph's float weights and biases (what fine-tuning trains)."""

    weights: dict[tuple[str, str], torch.Tensor]
    biases: dict[str, torch.Tensor]

    def parameters(self, include_pool: bool = False) -> list[torch.Tensor]:
        """Trainable tensors: conv / convT weights and all biases (pool weights optional)."""
        ws = [w for w in self.weights.values() if include_pool or w.dim() > 0]
        return ws + list(self.biases.values())


def graph_tensors(
    graph: SpikingGraph,
    dtype: torch.dtype = torch.float32,
    requires_grad: bool = False,
    device: torch.device | str = "cpu",
) -> GraphTensors:
    """Float weights (per edge) and biases (per neuron / readout node) as tensors on
    ``device``."""
    weights = {
        (s, d): torch.tensor(e.weight, dtype=dtype, device=device).requires_grad_(requires_grad)
        for s, d, e in graph.edges()
    }
    biases = {
        n: torch.tensor(graph.node(n).bias, dtype=dtype, device=device).requires_grad_(
            requires_grad
        )
        for n in graph.nodes()
        if isinstance(graph.node(n), NeuronNode | ReadoutNode)
    }
    return GraphTensors(weights, biases)


def write_back(graph: SpikingGraph, tensors: GraphTensors) -> None:
    """Copy ``tensors`` into the graph's float weights and biases (in place)."""
    for (s, d), w in tensors.weights.items():
        e = graph.edge(s, d)
        value = w.detach().double().cpu().numpy()
        e.weight = float(value) if np.ndim(e.weight) == 0 else value.copy()
    for n, b in tensors.biases.items():
        graph.node(n).bias = b.detach().double().cpu().numpy().copy()


@dataclass
class SimResult:
    """Readout ``y = acc / T`` and optional per-node records.

    ``counts[n]``: spike counts ``(T_total, B, C, H, W)`` (integers) when recorded;
    ``rates[n]``: mean count over the node's window ``[start(n), start(n) + T)``.
    """

    y: torch.Tensor
    timesteps: int
    total_steps: int
    start: dict[str, int]
    counts: dict[str, torch.Tensor] = field(default_factory=dict)
    rates: dict[str, torch.Tensor] = field(default_factory=dict)


def _count_dtype(graph: SpikingGraph) -> torch.dtype:
    mc = max((graph.node(n).max_count for n in graph.neurons()), default=1)
    return torch.uint8 if mc <= 255 else torch.int32


def simulate(
    graph: SpikingGraph,
    x: torch.Tensor,
    timesteps: int | None = None,
    *,
    delays: Delays = "zero",
    tensors: GraphTensors | None = None,
    record: bool = False,
    rates: bool = False,
    chunk_elems: int = 1 << 23,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> SimResult:
    """Run ``graph`` on images ``x`` ``(B, C, H, W)`` for ``timesteps`` (default meta T).

    ``delays``: ``"zero"`` (the paper's zero-latency run, default), ``"graph"`` (the
    graph's own delays), ``"native"`` or ``"balanced"``. ``tensors`` overrides the
    graph's float weights (fine-tuning). ``record`` keeps every node's spike counts,
    ``rates`` their window means. ``chunk_elems`` bounds the float current buffer per
    time chunk. ``device``: the torch device it runs on (default: ``x``'s); ``x`` and the
    weights are moved there and the results stay there.
    """
    T = int(graph.meta.timesteps if timesteps is None else timesteps)
    if T < 1:
        raise ValueError(f"timesteps must be >= 1, got {T}")
    view = with_delays(graph, delays)
    dev = x.device if device is None else torch.device(device)
    if tensors is None:
        tensors = graph_tensors(graph, dtype, device=dev)
    x = x.to(dev, dtype)
    c_in = graph.node(graph.input_name).shape[0]
    if x.dim() != 4 or x.shape[1] != c_in:
        raise ValueError(f"input must be (B, {c_in}, H, W), got {tuple(x.shape)}")
    first, edge = static_edge(view)
    with torch.no_grad():
        i0 = apply_edge(edge, x, tensors.weights[graph.input_name, first].to(dev))
    plans = {
        (s, d): EdgePlan(tensors.weights[s, d], dtype)
        for s, d, e in view.edges()
        if not getattr(e, "static", False)
    }
    biases = {n: b.to(dtype).view(1, 1, -1, 1, 1) for n, b in tensors.biases.items()}
    num = Numerics(None, dtype, dtype, _count_dtype(graph), exact=False, track_state=False)
    run = run_graph(
        view, i0, plans, biases, T, num, record=record, rates=rates, chunk_elems=chunk_elems,
        device=dev,
    )  # fmt: skip
    return SimResult(
        y=run.acc / T,
        timesteps=T,
        total_steps=run.total_steps,
        start=run.start,
        counts=run.spikes,
        rates=run.rates,
    )


def size_multiple(graph: SpikingGraph) -> int:
    """Frame sides must divide by this (the product of the pooling factors: 2**depth)."""
    return graph.size_multiple()


def simulate_padded(graph: SpikingGraph, x: torch.Tensor, *args, **kwargs) -> SimResult:
    """:func:`simulate` on ``x`` padded (reflect) to the size multiple, ``y`` cropped back.

    Recorded counts and rates stay at the padded size.
    """
    xp, (h, w) = pad_frames(x, graph.size_multiple())
    res = simulate(graph, xp, *args, **kwargs)
    res.y = res.y[..., :h, :w]
    return res


def prediction(graph: SpikingGraph, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Task output from the readout: denoising ``clean = x - y``; segmentation logits ``y``."""
    return x - y if graph.meta.task == "denoise" else y
