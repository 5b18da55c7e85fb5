"""Delays, start steps and pipeline depth (docs/semantics.md section 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from lava_spikingunet.graph.ir import SpikingGraph

#: How a run sets the edge delays: the graph's own, Lava's native ones (1 per synapse,
#: 0 for the static input), native ones balanced, or all zero (the paper's run).
Delays = Literal["graph", "native", "balanced", "zero"]
DELAYS: tuple[Delays, ...] = ("graph", "native", "balanced", "zero")

#: Delay of a synaptic edge in a Lava run (the synapse process buffers one step).
LAVA_SYNAPSE_DELAY = 1
#: Delay of the static input edge (the encoder drives the first neuron directly).
STATIC_INPUT_DELAY = 0


def set_native_delays(graph: SpikingGraph) -> SpikingGraph:
    """Give every edge the delay of the Lava graph: 1 per synapse, 0 for the input."""
    for _, _, e in graph.edges():
        e.delay = STATIC_INPUT_DELAY if getattr(e, "static", False) else LAVA_SYNAPSE_DELAY
    return graph


def set_zero_delays(graph: SpikingGraph) -> SpikingGraph:
    """All delays 0: the paper's zero-latency simulation."""
    for _, _, e in graph.edges():
        e.delay = 0
    return graph


def arrival_steps(graph: SpikingGraph, combine: Callable[[Iterable[int]], int] = min):
    """Per node, ``combine`` over in-edges of ``arrival(src) + delay`` (0 for the input):
    ``min`` gives the first step a node can receive input, ``max`` the longest path."""
    out: dict[str, int] = {}
    for n in graph.order():
        ins = graph.in_edges(n)
        out[n] = 0 if not ins else combine(out[s] + e.delay for s, e in ins)
    return out


def start_steps(graph: SpikingGraph) -> dict[str, int]:
    """First step at which each node can receive a non-zero input.

    ``start(input) = 0``; ``start(n) = min over in-edges of start(src) + delay``.
    """
    return arrival_steps(graph, min)


def longest_path(graph: SpikingGraph) -> dict[str, int]:
    """Largest sum of delays from the input to every node."""
    return arrival_steps(graph, max)


def is_balanced(graph: SpikingGraph) -> bool:
    """True when every node's inputs all arrive with the same latency."""
    start = start_steps(graph)
    return all(len({start[s] + e.delay for s, e in graph.in_edges(n)}) <= 1 for n in graph.order())


def balance_delays(graph: SpikingGraph) -> SpikingGraph:
    """Lengthen short edges so that all inputs of a node arrive together (in place).

    Each edge keeps at least its current delay; a node's latency becomes the largest
    arrival among its inputs.
    """
    latency = longest_path(graph)
    for n in graph.order():
        for s, e in graph.in_edges(n):
            e.delay = latency[n] - latency[s]
    return graph


def pipeline_depth(graph: SpikingGraph) -> int:
    """Steps before the readout can see the input: ``start(readout)``."""
    return start_steps(graph)[graph.readout_name]


def frame_steps(graph: SpikingGraph, timesteps: int | None = None) -> int:
    """Steps one frame costs: pipeline depth + T."""
    t = graph.meta.timesteps if timesteps is None else timesteps
    return pipeline_depth(graph) + t


def max_delay(graph: SpikingGraph) -> int:
    return max((e.delay for _, _, e in graph.edges()), default=0)


def with_delays(graph: SpikingGraph, delays: Delays) -> SpikingGraph:
    """``graph`` itself (``"graph"``), else a view of it (:meth:`SpikingGraph.view`: shared
    nodes and weights, own edges) with native, balanced or zero delays."""
    if delays == "graph":
        return graph
    if delays not in DELAYS:
        raise ValueError(f"delays must be graph, native, balanced or zero, got {delays!r}")
    view = graph.view()
    if delays == "zero":
        return set_zero_delays(view)
    set_native_delays(view)
    return balance_delays(view) if delays == "balanced" else view
