"""Profiling: synaptic ops, spikes, energy and latency of a frame (docs/profiling.md)."""

from lava_spikingunet.profiling.brute_force import brute_force_synops
from lava_spikingunet.profiling.synops import (
    EdgeOps,
    LayerStats,
    SynopsResult,
    count_synops,
    events,
    fanin_map,
    fanout_map,
    graph_ann_macs,
    popcount,
)

__all__ = [
    "EdgeOps",
    "LayerStats",
    "SynopsResult",
    "brute_force_synops",
    "count_synops",
    "events",
    "fanin_map",
    "fanout_map",
    "graph_ann_macs",
    "popcount",
]
