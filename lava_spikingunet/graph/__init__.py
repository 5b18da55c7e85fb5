"""The one network graph shared by export, Lava build, reference and profiler."""

from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    GraphMeta,
    InputNode,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)

__all__ = [
    "AvgPoolEdge",
    "ConvEdge",
    "ConvTransposeEdge",
    "GraphMeta",
    "InputNode",
    "NeuronNode",
    "ReadoutNode",
    "SpikingGraph",
]
