"""Time-vectorized float simulation of a :class:`SpikingGraph` (docs/semantics.md).

Layer by layer in topological order: for each node, each in-edge is applied to the
source's whole spike-count history at once as one ``(T*B, C, H, W)`` batch (in time
chunks that bound memory), shifted by the edge's delay and summed; the bias is added
in the node's window ``[start(n), start(n) + T)`` only; then only the neuron state is
scanned over time. Static coding: the input edge is applied once to the image and
injected for steps ``[0, T)`` (docs/semantics.md section 3).
The readout accumulates over ``[start(readout), start(readout) + T)``; ``y = acc / T``.

Spike counts are stored as small integers (``uint8`` for ``N <= 8``) and a source's
history is freed once its last consumer has run. Frames of any size whose sides divide
by ``2**depth`` run on the same graph (the graph's own frame size matters only for
deployment); :func:`simulate_padded` pads other sizes like :meth:`UNet.forward`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    InputNode,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.graph.timing import balance_delays, set_zero_delays, start_steps
from lava_spikingunet.snn.mt_neuron import mt_scan

Delays = Literal["zero", "graph", "balanced"]


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
    graph: SpikingGraph, dtype: torch.dtype = torch.float32, requires_grad: bool = False
) -> GraphTensors:
    """Float weights (per edge) and biases (per neuron / readout node) as tensors."""
    weights = {
        (s, d): torch.tensor(e.weight, dtype=dtype).requires_grad_(requires_grad)
        for s, d, e in graph.edges()
    }
    biases = {
        n: torch.tensor(graph.node(n).bias, dtype=dtype).requires_grad_(requires_grad)
        for n in graph.g.nodes
        if isinstance(graph.node(n), NeuronNode | ReadoutNode)
    }
    return GraphTensors(weights, biases)


def write_back(graph: SpikingGraph, tensors: GraphTensors) -> None:
    """Copy ``tensors`` into the graph's float weights and biases (in place)."""
    for (s, d), w in tensors.weights.items():
        e = graph.edge(s, d)
        value = w.detach().double().cpu().numpy()
        e.weight = float(value) if isinstance(e, AvgPoolEdge) else value.copy()
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


def timed_view(graph: SpikingGraph, delays: Delays) -> SpikingGraph:
    """A graph sharing ``graph``'s nodes and weights, with its own edge delays."""
    view = SpikingGraph(graph.meta)
    for n in graph.g.nodes:
        view.g.add_node(n, op=graph.node(n))
    for s, d, e in graph.edges():
        view.g.add_edge(s, d, op=copy.copy(e), order=graph.g.edges[s, d]["order"])
    if delays == "zero":
        set_zero_delays(view)
    elif delays == "balanced":
        balance_delays(view)
    elif delays != "graph":
        raise ValueError(f"delays must be 'zero', 'graph' or 'balanced', got {delays!r}")
    return view


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
) -> SimResult:
    """Run ``graph`` on images ``x`` ``(B, C, H, W)`` for ``timesteps`` (default meta T).

    ``delays``: ``"zero"`` (the paper's zero-latency run, default), ``"graph"`` (the
    graph's own delays) or ``"balanced"``. ``tensors`` overrides the graph's float
    weights (fine-tuning). ``record`` keeps every node's spike counts, ``rates`` their
    window means. ``chunk_elems`` bounds the float current buffer per time chunk.
    """
    T = int(graph.meta.timesteps if timesteps is None else timesteps)
    if T < 1:
        raise ValueError(f"timesteps must be >= 1, got {T}")
    view = timed_view(graph, delays)
    start = start_steps(view)
    readout = graph.readout_name
    total = start[readout] + T
    if tensors is None:
        tensors = graph_tensors(graph, dtype)
    x = x.to(dtype)
    c_in = graph.node(graph.input_name).shape[0]
    if x.dim() != 4 or x.shape[1] != c_in:
        raise ValueError(f"input must be (B, {c_in}, H, W), got {tuple(x.shape)}")
    batch = x.shape[0]
    count_dtype = _count_dtype(graph)
    shapes = {graph.input_name: tuple(x.shape[1:])}
    hist: dict[str, torch.Tensor] = {}
    pending = {n: graph.g.out_degree(n) for n in graph.g.nodes}
    result = SimResult(y=torch.empty(0), timesteps=T, total_steps=total, start=start)

    with torch.no_grad():
        for n in view.order():
            op = view.node(n)
            if isinstance(op, InputNode):
                continue
            ins = view.in_edges(n)
            shapes[n] = ins[0][1].out_shape(shapes[ins[0][0]])
            step_shape = (batch, *shapes[n])
            static = {
                s: apply_edge(e, x, tensors.weights[s, n]) for s, e in ins if s == graph.input_name
            }
            bias = tensors.biases[n].to(dtype).view(1, 1, -1, 1, 1)
            lo = start[n]
            hi = total if isinstance(op, NeuronNode) else start[n] + T
            step_elems = max(1, torch.Size(step_shape).numel())
            chunk = max(1, chunk_elems // step_elems)
            if isinstance(op, NeuronNode):
                counts = torch.zeros((total, *step_shape), dtype=count_dtype)
                v = torch.zeros(step_shape, dtype=dtype)
            else:
                acc = torch.zeros(step_shape, dtype=dtype)
            for t0 in range(lo, hi, chunk):
                t1 = min(hi, t0 + chunk)
                cur = None
                for s, e in ins:
                    d = e.delay
                    if s in static:  # the input is sent for steps [0, T): arrives at [d, d + T)
                        a, b = max(t0, d), min(t1, d + T)
                        if b <= a:
                            continue
                        first, last, out = a - t0, b - t0, static[s]
                    else:
                        a, b = max(t0 - d, 0), t1 - d
                        if b <= a:
                            continue
                        src = hist[s][a:b].to(dtype).flatten(0, 1)
                        out = apply_edge(e, src, tensors.weights[s, n]).view(b - a, *step_shape)
                        first, last = a + d - t0, b + d - t0
                        if cur is None and first == 0:
                            cur = out  # a fresh tensor covering the whole chunk: reuse it
                            continue
                    if cur is None:
                        cur = torch.zeros((t1 - t0, *step_shape), dtype=dtype)
                    cur[first:last] += out
                if cur is None:
                    cur = torch.zeros((t1 - t0, *step_shape), dtype=dtype)
                b0, b1 = max(t0, start[n]), min(t1, start[n] + T)
                if b1 > b0:
                    cur[b0 - t0 : b1 - t0] += bias  # the bias only in the node's window
                if isinstance(op, NeuronNode):
                    _, v = mt_scan(
                        cur, op.theta_unit, op.max_count, op.reset, v0=v, out=counts[t0:t1]
                    )
                else:
                    acc += cur.sum(0)
            if isinstance(op, NeuronNode):
                hist[n] = counts
                if rates:
                    window = counts[start[n] : start[n] + T]
                    result.rates[n] = window.sum(0, dtype=dtype) / T
            else:
                result.y = acc / T
            for s, _ in ins:
                pending[s] -= 1
                if pending[s] == 0 and s in hist:
                    if record:
                        result.counts[s] = hist[s]
                    del hist[s]
    return result


def size_multiple(graph: SpikingGraph) -> int:
    """Frame sides must divide by this (the product of the pooling factors: 2**depth)."""
    m = 1
    for _, _, e in graph.edges():
        if isinstance(e, AvgPoolEdge):
            m *= e.kernel
    return m


def simulate_padded(graph: SpikingGraph, x: torch.Tensor, *args, **kwargs) -> SimResult:
    """:func:`simulate` on ``x`` padded (reflect) to the size multiple, ``y`` cropped back.

    Recorded counts and rates stay at the padded size.
    """
    m = size_multiple(graph)
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    res = simulate(graph, x, *args, **kwargs)
    res.y = res.y[..., :h, :w]
    return res


def prediction(graph: SpikingGraph, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Task output from the readout: denoising ``clean = x - y``; segmentation logits ``y``."""
    return x - y if graph.meta.task == "denoise" else y
