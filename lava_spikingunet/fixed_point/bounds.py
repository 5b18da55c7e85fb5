"""Provable bounds of edge currents: the quantizer's and the reference's edge table.

:func:`edge_abs_rowsum` is the largest sum of ``|weight|`` one output element receives
per unit of source count; times :func:`source_max` it bounds the current an edge can
deliver in one step (readout scale, exact float dtypes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import AvgPoolEdge, ConvEdge, ConvTransposeEdge, NeuronNode

if TYPE_CHECKING:
    from lava_spikingunet.graph.ir import Edge, SpikingGraph

__all__ = ["ABS_ROWSUM", "edge_abs_rowsum", "source_max"]

#: ``(edge, |weight|) -> largest row sum`` per edge type.
ABS_ROWSUM = EdgeTable(
    "fixed-point bounds",
    {
        AvgPoolEdge: lambda e, w: float(w) * e.kernel**2,
        ConvEdge: lambda e, w: float(w.sum(axis=(1, 2, 3)).max(initial=0.0)),
        ConvTransposeEdge: lambda e, w: float(w.sum(axis=(0, 2, 3)).max(initial=0.0)),
    },
)


def edge_abs_rowsum(edge: Edge, weight: np.ndarray | float) -> float:
    """Largest sum of |weight| feeding one output element (per unit source count)."""
    return ABS_ROWSUM[edge](edge, np.abs(np.asarray(weight, dtype=np.float64)))


def source_max(graph: SpikingGraph, src: str) -> int:
    """Largest value a source emits per step (2^N - 1 spikes; 0 for the input)."""
    node = graph.node(src)
    return node.max_count if isinstance(node, NeuronNode) else 0
