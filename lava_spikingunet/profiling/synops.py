"""Synaptic operations, spikes and neuron updates of one frame, from recorded spike counts.

A *synaptic op* (synop) is one event delivered to one synapse (docs/profiling.md):

- graded form: a step where a neuron emits ``k > 0`` is one event (one graded payload);
- binary cascade form: the same step costs ``popcount(k)`` binary spikes, one from each
  stage ``i`` whose digit ``s_i`` of ``k = sum_i s_i 2^(N-i)`` is 1;
- virtual-step form (SpikeYOLO): the step is ``D = 2^N - 1`` binary sub-steps and the
  neuron fires on ``k`` of them, so it costs ``k`` binary spikes (accumulate-only).

Each event reaches the source neuron's *fan-out* along every out-edge: the number of
target neurons (over all target channels) it has a synapse to, with padding and stride
border effects counted exactly. Fan-out maps are computed once per edge as the adjoint
of the edge operator applied to a ones tensor (autograd of ``sum(op(x))`` w.r.t. ``x``,
with an indicator weight), so synops of an edge = ``sum_{t, c, y, x} events * fanout``.

Synapses are *structural* by default (every kernel tap that lands inside the target is a
synapse, zero weight or not: what a dense synapse table stores); ``nonzero=True``
counts only taps with a non-zero weight (mantissa if quantized, else float weight).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    Edge,
    NeuronNode,
    ReadoutNode,
    Shape,
    SpikingGraph,
    check_neuron_form,
)
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.neuron_forms import FORMS, Form

# --------------------------------------------------------------------------- events


def as_counts(counts: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Spike counts as an integer tensor: uint8 kept as is (no copy), any other integer
    (or integral float) dtype as int64; values must be >= 0."""
    t = torch.as_tensor(counts) if isinstance(counts, np.ndarray) else counts
    if t.dtype == torch.uint8:
        return t
    if t.is_floating_point() and not torch.equal(t, torch.round(t)):
        raise ValueError("spike counts must be integers")
    t = t.to(torch.int64)
    if t.numel() and int(t.min()) < 0:
        raise ValueError("spike counts must be >= 0")
    return t


def check_fits(k: torch.Tensor, n_thresholds: int) -> None:
    """ValueError if a count does not fit ``N`` thresholds (``k >= 2^N``)."""
    if k.numel() and int(k.max()) >= 1 << n_thresholds:
        raise ValueError(f"count {int(k.max())} does not fit {n_thresholds} thresholds")


def stage_bits(k: torch.Tensor, n_thresholds: int) -> list[torch.Tensor]:
    """Binary spikes of stages ``1..N`` (stage ``i`` is bit ``N - i`` of ``k``)."""
    return [(k >> (n_thresholds - i)) & 1 for i in range(1, n_thresholds + 1)]


def popcount(k: torch.Tensor, n_thresholds: int) -> torch.Tensor:
    """Number of binary cascade spikes a count ``k < 2^N`` costs (its set bits)."""
    k = as_counts(k)
    check_fits(k, n_thresholds)
    if k.dtype == torch.uint8:  # SWAR bit count within each byte
        x = k - ((k >> 1) & 0x55)
        x = (x & 0x33) + ((x >> 2) & 0x33)
        return (x + (x >> 4)) & 0x0F
    out = torch.zeros_like(k)
    for bit in stage_bits(k, n_thresholds):
        out += bit
    return out


def events(k: torch.Tensor, form: Form, n_thresholds: int) -> torch.Tensor:
    """Events per neuron and step: ``k > 0`` (graded), ``popcount(k)`` (cascade) or ``k``
    (virtual: one binary spike on each of the first ``k`` sub-steps).

    Same integer dtype as the counts (uint8 stays uint8)."""
    k = as_counts(k)
    check_neuron_form(form)
    if form == "graded":
        return (k > 0).to(k.dtype)
    if form == "cascade":
        return popcount(k, n_thresholds)
    check_fits(k, n_thresholds)
    return k.clone()


def virtual_substeps(n_thresholds: int) -> int:
    """Binary sub-steps per step in the virtual form: ``D = 2^N - 1``."""
    return (1 << int(n_thresholds)) - 1


# --------------------------------------------------------------------------- connectivity


def indicator_weight(edge: Edge, nonzero: bool = False) -> torch.Tensor:
    """0/1 weight of the same shape as the edge's: 1 where a synapse exists."""
    w = np.asarray(edge.mant if (nonzero and edge.mant is not None) else edge.weight)
    if w.ndim == 0:  # avg-pool: one scalar weight for every synapse
        on = (float(w) != 0.0) if nonzero else True
        return torch.tensor(1.0 if on else 0.0, dtype=torch.float64)
    ind = (w != 0) if nonzero else np.ones(w.shape, dtype=bool)
    return torch.from_numpy(ind.astype(np.float64))


@dataclass(frozen=True)
class _EdgeRule:
    """The profiler's view of one edge type.

    ``kind``: the report's name; ``channels``: ``(C_out, C_in)`` of a dense channel
    mix, None for a per-channel edge; ``macs(edge, src_shape)``: dense ANN MACs.
    """

    kind: str
    channels: Callable[[Edge], tuple[int, int]] | None
    macs: Callable[[Edge, Shape], int]


def _conv_macs(edge: ConvEdge, src_shape: Shape) -> int:
    c, h, w = edge.out_shape(src_shape)
    return c * h * w * src_shape[0] * edge.kernel_size**2


def _conv_t_macs(edge: ConvTransposeEdge, src_shape: Shape) -> int:
    return int(np.prod(src_shape)) * int(edge.weight.shape[1]) * edge.kernel_size**2


#: The profiler's edge table.
PROFILE_RULES = EdgeTable(
    "profiler",
    {
        ConvEdge: _EdgeRule("conv", lambda e: tuple(e.weight.shape[:2]), _conv_macs),
        AvgPoolEdge: _EdgeRule("avgpool", None, lambda e, s: 0),
        ConvTransposeEdge: _EdgeRule(
            "convT", lambda e: (e.weight.shape[1], e.weight.shape[0]), _conv_t_macs
        ),
    },
)


def _spatial(edge: Edge) -> tuple[Edge, int, int]:
    """A one-channel copy of ``edge`` with an all-ones kernel, and the channel factors
    (targets per source channel, sources per target channel) of the full edge."""
    import copy

    channels = PROFILE_RULES[edge].channels
    if channels is None:
        return copy.copy(edge), 1, 1
    one = copy.copy(edge)
    k = edge.kernel_size
    one.weight, one.mant, one.exp = np.ones((1, 1, k, k)), None, None
    c_out, c_in = (int(c) for c in channels(edge))
    return one, c_out, c_in


def fanout_map(edge: Edge, src_shape: Shape, nonzero: bool = False) -> torch.Tensor:
    """Per source neuron ``(C, H, W)``: number of synapses it drives along ``edge`` (int64).

    Computed as the adjoint of the edge operator on a ones tensor, so every padding,
    stride and cropping border effect is exact. Structural synapses (``nonzero=False``)
    do not depend on the channel: one channel is computed and scaled by ``C_out``.
    """
    c = src_shape[0]
    if nonzero:
        op, factor, shape = edge, 1, src_shape
    else:
        op, factor, _ = _spatial(edge)
        shape = (1, *src_shape[1:])
    x = torch.ones((1, *shape), dtype=torch.float64, requires_grad=True)
    y = apply_edge(op, x, indicator_weight(op, nonzero))
    (grad,) = torch.autograd.grad(y.sum(), x)
    out = torch.round(grad[0]).to(torch.int64) * factor
    return out if nonzero else out.expand(c, -1, -1).contiguous()


def fanin_map(edge: Edge, src_shape: Shape, nonzero: bool = False) -> torch.Tensor:
    """Per target neuron ``(C, H, W)``: number of synapses it receives along ``edge``."""
    if nonzero:
        op, factor, shape = edge, 1, src_shape
    else:
        op, _, factor = _spatial(edge)
        shape = (1, *src_shape[1:])
    x = torch.ones((1, *shape), dtype=torch.float64)
    with torch.no_grad():
        y = apply_edge(op, x, indicator_weight(op, nonzero))
    out = torch.round(y[0]).to(torch.int64) * factor
    if nonzero:
        return out
    return out.expand(edge.out_shape(src_shape)[0], -1, -1).contiguous()


def edge_macs(edge: Edge, src_shape: Shape) -> int:
    """Dense ANN multiply-accumulates of the edge (the :meth:`UNet.count_macs` convention).

    Conv: ``out_elems * C_in * k^2`` (padded taps included); convT: ``in_elems * C_out *
    k^2``; avg-pool: 0 (a pooling sum is not a MAC).
    """
    return PROFILE_RULES[edge].macs(edge, src_shape)


def edge_kind(edge: Edge) -> str:
    return PROFILE_RULES[edge].kind


# --------------------------------------------------------------------------- results


@dataclass
class EdgeOps:
    """One synaptic edge over one recorded run (totals over the batch)."""

    src: str
    dst: str
    kind: str
    delay: int
    synapses: int
    max_fanout: int
    max_fanin: int
    macs: int
    synops: dict[str, int]
    synops_per_step: dict[str, np.ndarray]


@dataclass
class LayerStats:
    """One neuron (or readout) node over one recorded run (totals over the batch).

    ``spike_count``: sum of ``k``; ``events[form]``: graded payloads or binary spikes;
    ``stage_spikes[i]``: binary spikes of stage ``i + 1``; ``synops_in[form]``: synaptic
    ops its in-edges perform (charged to the receiving layer, where the synapses live);
    ``synops_out[form]``: synops its spikes cause downstream.
    """

    name: str
    kind: str
    shape: Shape
    n_thresholds: int
    start: int
    synapses_in: int
    spike_count: int = 0
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FORMS, 0))
    events_per_step: dict[str, np.ndarray] = field(default_factory=dict)
    stage_spikes: list[int] = field(default_factory=list)
    synops_in: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FORMS, 0))
    synops_out: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FORMS, 0))
    macs_in: int = 0

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    def compartments(self, form: Form) -> int:
        """Compartments per layer: 1 per neuron (graded, virtual, readout) or N + 1
        (cascade)."""
        if self.kind == "readout" or form != "cascade":
            return self.neurons
        return self.neurons * (self.n_thresholds + 1)


@dataclass
class SynopsResult:
    """Counts of one recorded run; ``frames`` is the batch size (totals are over it).

    ``virtual_substeps``: chip steps per step in the virtual form, ``2^N - 1`` for the
    largest ``N`` of the graph (every layer runs the same sub-step clock).
    """

    frames: int
    total_steps: int
    timesteps: int
    layers: dict[str, LayerStats]
    edges: list[EdgeOps]
    input_macs: int
    input_edges: list[str]
    ann_macs: int
    nonzero: bool
    virtual_substeps: int = 1

    def substeps(self, form: Form) -> int:
        """Chip steps per step of the frame: ``virtual_substeps`` (virtual) or 1."""
        return self.virtual_substeps if form == "virtual" else 1

    def layer_updates(self, layer: LayerStats, form: Form) -> int:
        """Compartment updates of one layer over the run: every compartment updates on
        every chip step (x ``virtual_substeps`` in the virtual form) of every frame."""
        return layer.compartments(form) * self.total_steps * self.substeps(form) * self.frames

    def synops(self, form: Form) -> int:
        """Total synops of the run (all frames) in ``form``."""
        return sum(e.synops[form] for e in self.edges)

    def neuron_updates(self, form: Form) -> int:
        """Compartment updates of the run: compartments x chip steps x frames."""
        return sum(self.layer_updates(lay, form) for lay in self.layers.values())

    def synops_per_step(self, form: Form) -> np.ndarray:
        """Synops per step of the frame (summed over frames)."""
        out = np.zeros(self.total_steps, dtype=np.int64)
        for e in self.edges:
            out += e.synops_per_step[form]
        return out


# --------------------------------------------------------------------------- counting


def _check_counts(graph: SpikingGraph, name: str, k: torch.Tensor) -> None:
    shape = graph.node(name).shape
    if k.dim() != 5 or tuple(k.shape[2:]) != tuple(shape):
        raise ValueError(
            f"recorded counts of {name!r} must be (T_total, B, {', '.join(map(str, shape))}),"
            f" got {tuple(k.shape)}"
        )


def count_synops(
    graph: SpikingGraph,
    counts: Mapping[str, torch.Tensor | np.ndarray],
    nonzero: bool = False,
    timesteps: int | None = None,
) -> SynopsResult:
    """Count spikes, synops (every form) and MACs of a run from its recorded counts.

    ``counts[n]``: spike counts ``k`` of neuron node ``n``, shape ``(T_total, B, C, H,
    W)`` (every neuron node needed). Recorded shapes fix the frame size, so a graph
    built for one size profiles runs recorded at its own size only.
    """
    from lava_spikingunet.graph.timing import start_steps

    start = start_steps(graph)
    neurons = graph.neurons()
    missing = [n for n in neurons if n not in counts]
    if missing:
        raise ValueError(f"no recorded counts for {', '.join(missing)}")
    raw = {n: _raw_counts(counts[n]) for n in neurons}
    for n, k in raw.items():
        _check_counts(graph, n, k)
    sizes = {(k.shape[0], k.shape[1]) for k in raw.values()}
    if len(sizes) != 1:
        raise ValueError(f"recorded counts differ in steps or batch: {sorted(sizes)}")
    total_steps, frames = sizes.pop() if sizes else (0, 1)
    T = int(graph.meta.timesteps if timesteps is None else timesteps)

    # per synaptic edge: fan-out map and synops per step, filled as the sources are scanned
    edges: list[EdgeOps] = []
    fans: dict[str, list[tuple[EdgeOps, torch.Tensor]]] = {n: [] for n in neurons}
    layers: dict[str, LayerStats] = {}
    for n in graph.order():
        op = graph.node(n)
        if isinstance(op, NeuronNode):
            layers[n] = LayerStats(n, "neuron", op.shape, op.n_thresholds, start[n], 0)
        elif isinstance(op, ReadoutNode):
            layers[n] = LayerStats(n, "readout", op.shape, 0, start[n], 0)
    input_macs, input_edges, ann_macs = 0, [], 0
    for src, dst, e in graph.edges():
        src_shape = graph.node(src).shape
        macs = edge_macs(e, src_shape)
        ann_macs += macs
        layers[dst].macs_in += macs
        if src == graph.input_name:
            input_macs += macs
            input_edges.append(f"{src}->{dst}")
            continue
        fan = fanout_map(e, src_shape, nonzero)
        ops = EdgeOps(
            src=src,
            dst=dst,
            kind=edge_kind(e),
            delay=e.delay,
            synapses=int(fan.sum()),
            max_fanout=int(fan.max()),
            max_fanin=int(fanin_map(e, src_shape, nonzero).max()),
            macs=macs,
            synops=dict.fromkeys(FORMS, 0),
            synops_per_step={f: np.zeros(total_steps, dtype=np.int64) for f in FORMS},
        )
        edges.append(ops)
        fans[src].append((ops, fan))
        layers[dst].synapses_in += ops.synapses

    for n in neurons:
        _scan_layer(layers[n], raw[n], fans[n], total_steps)
    for ops in edges:
        for form in FORMS:
            ops.synops[form] = int(ops.synops_per_step[form].sum())
            layers[ops.dst].synops_in[form] += ops.synops[form]
            layers[ops.src].synops_out[form] += ops.synops[form]
    for lay in layers.values():
        for form in FORMS:
            lay.events_per_step.setdefault(form, np.zeros(total_steps, dtype=np.int64))
    return SynopsResult(
        frames=int(frames),
        total_steps=int(total_steps),
        timesteps=T,
        layers=layers,
        edges=edges,
        input_macs=input_macs,
        input_edges=input_edges,
        ann_macs=ann_macs,
        nonzero=nonzero,
        virtual_substeps=max(
            (virtual_substeps(graph.node(n).n_thresholds) for n in neurons), default=1
        ),
    )


#: Elements of int64 counts processed at once (bounds memory on large frames).
CHUNK_ELEMS = 1 << 22


def _raw_counts(counts: torch.Tensor | np.ndarray) -> torch.Tensor:
    return torch.as_tensor(counts) if isinstance(counts, np.ndarray) else counts


def _scan_layer(
    stats: LayerStats,
    k_all: torch.Tensor,
    fans: list[tuple[EdgeOps, torch.Tensor]],
    total_steps: int,
) -> None:
    """Fill one layer's spike statistics and its out-edges' synops per step, in time chunks.

    Per step, events come from a lookup table
    over ``k`` (1 if ``k > 0``; ``popcount(k)``; ``k``) and synops are ``events @ fan-out`` in
    float64 (exact: every partial sum is an integer far below 2^53).
    """
    n_thr = stats.n_thresholds
    values = np.arange(1 << n_thr)
    bits = np.array([(values >> (n_thr - i)) & 1 for i in range(1, n_thr + 1)])
    luts = {
        "graded": (values > 0).astype(np.float64),
        "cascade": bits.sum(0).astype(np.float64),
        "virtual": values.astype(np.float64),
    }
    masks = [1 << (n_thr - i) for i in range(1, n_thr + 1)]
    stats.stage_spikes = [0] * n_thr
    per = max(1, int(np.prod(k_all.shape[1:])))
    chunk = max(1, CHUNK_ELEMS // per)
    for form in FORMS:
        stats.events_per_step[form] = np.zeros(total_steps, dtype=np.int64)
    flat_fans = [(ops, fan.flatten().numpy().astype(np.float64)) for ops, fan in fans]
    for t0 in range(0, total_steps, chunk):
        t1 = min(total_steps, t0 + chunk)
        k = as_counts(k_all[t0:t1])
        check_fits(k, n_thr)
        kn = k.numpy()
        stats.spike_count += int(kn.sum(dtype=np.int64))
        for i, m in enumerate(masks):
            stats.stage_spikes[i] += int(np.count_nonzero(kn & m))
        for form in FORMS:
            e = luts[form][kn]  # (t, B, C, H, W) float64
            e = (e[:, 0] if e.shape[1] == 1 else e.sum(1)).reshape(t1 - t0, -1)
            stats.events_per_step[form][t0:t1] = np.rint(e.sum(1)).astype(np.int64)
            for ops, fan in flat_fans:
                ops.synops_per_step[form][t0:t1] = np.rint(e @ fan).astype(np.int64)
    for form in FORMS:
        stats.events[form] = int(stats.events_per_step[form].sum())


def graph_ann_macs(graph: SpikingGraph) -> int:
    """Dense MACs of the ANN the graph was converted from (sum over all edges)."""
    return sum(edge_macs(e, graph.node(s).shape) for s, _, e in graph.edges())
