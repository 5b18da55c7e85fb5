"""Brute-force synop counter: plain loops over recorded spikes and explicit targets.

Independent of :mod:`lava_spikingunet.profiling.synops` (no torch operators, no
adjoints): every event is walked to every target neuron it reaches by the stride /
padding rules of its edge. Slow; for tests on small networks, e.g. to check the
profiler against spikes recorded in a Lava run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    Edge,
    NeuronNode,
    SpikingGraph,
)


def conv_targets(
    edge: ConvEdge, c: int, y: int, x: int, out_hw: tuple[int, int]
) -> Iterator[tuple[int, int, int, int, int]]:
    """Targets of source ``(c, y, x)``: ``(c_out, oy, ox, ky, kx)`` with ``oy*s - p + ky = y``."""
    k, s, p = edge.kernel_size, edge.stride, edge.padding
    h_out, w_out = out_hw
    for c_out in range(edge.weight.shape[0]):
        for ky in range(k):
            ny = y + p - ky
            if ny % s or not 0 <= ny // s < h_out:
                continue
            for kx in range(k):
                nx = x + p - kx
                if nx % s or not 0 <= nx // s < w_out:
                    continue
                yield c_out, ny // s, nx // s, ky, kx


def convt_targets(
    edge: ConvTransposeEdge, c: int, y: int, x: int, out_hw: tuple[int, int]
) -> Iterator[tuple[int, int, int, int, int]]:
    """Targets of source ``(c, y, x)``: ``(c_out, y*s - p + ky, x*s - p + kx, ky, kx)``."""
    k, s, p = edge.kernel_size, edge.stride, edge.padding
    h_out, w_out = out_hw
    for c_out in range(edge.weight.shape[1]):
        for ky in range(k):
            oy = y * s - p + ky
            if not 0 <= oy < h_out:
                continue
            for kx in range(k):
                ox = x * s - p + kx
                if 0 <= ox < w_out:
                    yield c_out, oy, ox, ky, kx


def _pool_fanout(edge: AvgPoolEdge, w, c, y, x, out_hw, nonzero: bool) -> int:
    if nonzero and float(np.asarray(w)) == 0.0:
        return 0
    return int(y // edge.kernel < out_hw[0] and x // edge.kernel < out_hw[1])


def _conv_fanout(edge: ConvEdge, w, c, y, x, out_hw, nonzero: bool) -> int:
    targets = conv_targets(edge, c, y, x, out_hw)
    return sum(1 if not nonzero else int(w[c_out, c, ky, kx] != 0) for c_out, *_, ky, kx in targets)


def _conv_t_fanout(edge: ConvTransposeEdge, w, c, y, x, out_hw, nonzero: bool) -> int:
    targets = convt_targets(edge, c, y, x, out_hw)
    return sum(1 if not nonzero else int(w[c, c_out, ky, kx] != 0) for c_out, *_, ky, kx in targets)


#: The brute-force counter's edge table: synapses one source neuron drives.
FANOUT = EdgeTable(
    "brute-force synops",
    {AvgPoolEdge: _pool_fanout, ConvEdge: _conv_fanout, ConvTransposeEdge: _conv_t_fanout},
)


def edge_fanout(
    edge: Edge, src_shape: tuple[int, int, int], c: int, y: int, x: int, nonzero: bool = False
) -> int:
    """Synapses source neuron ``(c, y, x)`` drives along ``edge``, enumerated one by one."""
    _, h_out, w_out = edge.out_shape(src_shape)
    w = np.asarray(edge.mant if (nonzero and edge.mant is not None) else edge.weight)
    return FANOUT[edge](edge, w, c, y, x, (h_out, w_out), nonzero)


def brute_force_synops(
    graph: SpikingGraph,
    recorded_counts: Mapping[str, np.ndarray],
    nonzero: bool = False,
) -> dict[str, dict[str, int]]:
    """Synops per edge ``"src->dst"`` and form, by looping over every recorded event.

    ``recorded_counts[n]``: spike counts ``(T_total, B, C, H, W)`` of each neuron node.
    Returns ``{"src->dst": {"graded": ..., "cascade": ..., "virtual": ...}, ...,
    "total": {...}}``; the static input edge is not a synaptic edge and is left out.
    Per event with count ``k``: graded 1, cascade ``popcount(k)``, virtual ``k`` (one
    binary spike per virtual sub-step it fires on, listed one by one below).
    """
    out: dict[str, dict[str, int]] = {}
    total = {"graded": 0, "cascade": 0, "virtual": 0}
    for src, dst, edge in graph.edges():
        if src == graph.input_name:
            continue
        node = graph.node(src)
        assert isinstance(node, NeuronNode)
        k = np.asarray(recorded_counts[src])
        cache: dict[tuple[int, int, int], int] = {}
        graded = cascade = virtual = 0
        d = (1 << node.n_thresholds) - 1
        for t, b, c, y, x in zip(*np.nonzero(k), strict=True):
            key = (int(c), int(y), int(x))
            if key not in cache:
                cache[key] = edge_fanout(edge, node.shape, *key, nonzero=nonzero)
            value = int(k[t, b, c, y, x])
            binary = bin(value).count("1")
            graded += cache[key]
            cascade += binary * cache[key]
            for sub in range(d):  # thermometer code: sub-step ``sub`` fires iff k > sub
                if value > sub:
                    virtual += cache[key]
        out[f"{src}->{dst}"] = {"graded": graded, "cascade": cascade, "virtual": virtual}
        for form, n in (("graded", graded), ("cascade", cascade), ("virtual", virtual)):
            total[form] += n
    out["total"] = total
    return out
