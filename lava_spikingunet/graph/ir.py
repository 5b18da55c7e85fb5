"""The network graph: one description of a Spiking-UNet for every stage after conversion.

Each primitive is a small dataclass that checks its own shapes (``__post_init__``);
the graph is a :class:`networkx.DiGraph` whose nodes carry a node primitive under
``"op"`` and whose edges carry an edge primitive under ``"op"``. Serialization lives
apart (:mod:`lava_spikingunet.graph.serialize`, the netx exporter). Semantics:
``docs/semantics.md``.

Weights are numpy arrays in *float units per unit of the source spike count k*; once
quantized an edge also has an integer mantissa ``mant`` and an exponent ``exp``, and a
node an integer bias and threshold unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import networkx as nx
import numpy as np

# Neuron forms (GraphMeta.neuron_form): defined and validated in one light module,
# re-exported here for the graph's users.
from lava_spikingunet.neuron_forms import (  # noqa: F401
    FORM_GROUPS,
    NEURON_FORMS,
    NeuronForm,
    check_neuron_form,
    resolve_forms,
)

if TYPE_CHECKING:
    from lava_spikingunet.fixed_point.state import QuantState

Shape = tuple[int, int, int]  # (C, H, W)


def _shape(value) -> Shape:
    shape = tuple(int(v) for v in value)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (C, H, W) with positive sizes, got {value}")
    return shape  # type: ignore[return-value]


def _shape_and_bias(shape, bias) -> tuple[Shape, np.ndarray]:
    """A node's checked shape and its per-channel float bias."""
    shape = _shape(shape)
    bias = np.asarray(bias, dtype=np.float64).reshape(-1)
    if bias.shape != (shape[0],):
        raise ValueError(f"bias has {bias.shape[0]} entries for {shape[0]} channels")
    return shape, bias


def _int_array(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------- nodes


@dataclass(eq=False)
class InputNode:
    """The image fed to the network (not a neuron)."""

    shape: Shape

    def __post_init__(self) -> None:
        self.shape = _shape(self.shape)


@dataclass(eq=False)
class NeuronNode:
    """A layer of multi-threshold neurons (docs/semantics.md section 1).

    ``bias`` is per channel, in float membrane units; ``theta1`` is the largest
    threshold in float units. ``bias_int`` and ``theta_unit_int`` exist once quantized.
    """

    shape: Shape
    bias: np.ndarray
    n_thresholds: int = 4
    theta1: float = 2.0
    reset: Literal["subtract", "zero"] = "subtract"
    bias_int: np.ndarray | None = None
    theta_unit_int: int | None = None

    def __post_init__(self) -> None:
        self.shape, self.bias = _shape_and_bias(self.shape, self.bias)
        from lava_spikingunet.limits import check_thresholds

        self.n_thresholds = check_thresholds(self.n_thresholds)
        if not self.theta1 > 0:
            raise ValueError(f"theta1 must be > 0, got {self.theta1}")
        if self.reset not in ("subtract", "zero"):
            raise ValueError(f"reset must be 'subtract' or 'zero', got {self.reset!r}")
        if self.bias_int is not None:
            self.bias_int = _int_array(self.bias_int, "bias_int").reshape(-1)
            if self.bias_int.shape != self.bias.shape:
                raise ValueError("bias_int and bias differ in shape")
        if self.theta_unit_int is not None:
            self.theta_unit_int = int(self.theta_unit_int)
            if self.theta_unit_int < 1:
                raise ValueError(f"theta_unit_int must be >= 1, got {self.theta_unit_int}")

    @property
    def theta_unit(self) -> float:
        """The smallest threshold theta_N (float units)."""
        return self.theta1 / 2 ** (self.n_thresholds - 1)

    @property
    def max_count(self) -> int:
        """Largest spike count k a step can emit: 2^N - 1."""
        return 2**self.n_thresholds - 1

    @property
    def scale(self) -> float | None:
        """Integer units per float unit (set once quantized)."""
        if self.theta_unit_int is None:
            return None
        return self.theta_unit_int / self.theta_unit

    @property
    def is_quantized(self) -> bool:
        return self.bias_int is not None and self.theta_unit_int is not None


@dataclass(eq=False)
class ReadoutNode:
    """Non-spiking output accumulator; ``scale`` is integer units per float unit."""

    shape: Shape
    bias: np.ndarray
    bias_int: np.ndarray | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        self.shape, self.bias = _shape_and_bias(self.shape, self.bias)
        if self.bias_int is not None:
            self.bias_int = _int_array(self.bias_int, "bias_int").reshape(-1)
        if self.scale is not None and not self.scale > 0:
            raise ValueError(f"readout scale must be > 0, got {self.scale}")

    @property
    def is_quantized(self) -> bool:
        return self.bias_int is not None and self.scale is not None


Node = InputNode | NeuronNode | ReadoutNode

# --------------------------------------------------------------------------- edges


@dataclass(eq=False)
class _EdgeBase:
    delay: int = 1
    mant: np.ndarray | None = None
    exp: int | None = None

    def _check_common(self) -> None:
        self.delay = int(self.delay)
        from lava_spikingunet.limits import MAX_DELAY

        if not 0 <= self.delay <= MAX_DELAY:
            raise ValueError(f"delay must be in 0..{MAX_DELAY}, got {self.delay}")
        if self.mant is not None:
            self.mant = _int_array(self.mant, "mant")
            if self.mant.shape != np.shape(self.weight):
                raise ValueError(f"mant shape {self.mant.shape} != weight shape")
        if self.exp is not None:
            self.exp = int(self.exp)

    @property
    def is_quantized(self) -> bool:
        return self.mant is not None and self.exp is not None


@dataclass(eq=False)
class _KernelEdge(_EdgeBase):
    """An edge with a square 4-D kernel ``weight`` (conv, transposed conv)."""

    _NAME: ClassVar[str] = ""
    _LAYOUT: ClassVar[str] = ""
    _IN_AXIS: ClassVar[int] = 1  # the weight axis of the input channels

    def _check_kernel(self) -> None:
        self.weight = np.asarray(self.weight, dtype=np.float64)
        if self.weight.ndim != 4 or self.weight.shape[2] != self.weight.shape[3]:
            raise ValueError(f"{self._NAME} weight must be {self._LAYOUT}, got {self.weight.shape}")

    @property
    def kernel_size(self) -> int:
        return int(self.weight.shape[2])

    def _out_channels(self, in_shape: Shape) -> int:
        """The output channels, after checking ``in_shape``'s input channels."""
        c_in = self.weight.shape[self._IN_AXIS]
        if in_shape[0] != c_in:
            raise ValueError(f"{self._NAME} expects {c_in} input channels, got {in_shape[0]}")
        return int(self.weight.shape[1 - self._IN_AXIS])


@dataclass(eq=False)
class ConvEdge(_KernelEdge):
    """2-D convolution, weight ``(C_out, C_in, k, k)``.

    ``static=True`` marks the input edge (computed once per frame on the host, in float,
    delay 0).
    """

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1, 1)))
    stride: int = 1
    padding: int = 0
    static: bool = False
    _NAME: ClassVar[str] = "conv"
    _LAYOUT: ClassVar[str] = "(C_out, C_in, k, k)"
    _IN_AXIS: ClassVar[int] = 1

    def __post_init__(self) -> None:
        self._check_kernel()
        if self.stride < 1 or self.padding < 0:
            raise ValueError("conv stride must be >= 1 and padding >= 0")
        self._check_common()

    def out_shape(self, in_shape: Shape) -> Shape:
        c_out, (_, h, w) = self._out_channels(in_shape), in_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return (c_out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)


@dataclass(eq=False)
class AvgPoolEdge(_EdgeBase):
    """2x2 average pooling (stride 2) with one scalar weight (1/4 and scales folded in)."""

    weight: float = 0.25
    kernel: int = 2

    def __post_init__(self) -> None:
        self.weight = float(self.weight)
        if self.kernel < 1:
            raise ValueError(f"pool kernel must be >= 1, got {self.kernel}")
        self._check_common()

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = in_shape
        if h % self.kernel or w % self.kernel:
            raise ValueError(f"pool input {h}x{w} does not divide by {self.kernel}")
        return (c, h // self.kernel, w // self.kernel)


@dataclass(eq=False)
class ConvTransposeEdge(_KernelEdge):
    """Transposed conv, weight ``(C_in, C_out, k, k)``, stride 2, padding 1, out-pad 1."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 3, 3)))
    stride: int = 2
    padding: int = 1
    output_padding: int = 1
    _NAME: ClassVar[str] = "convT"
    _LAYOUT: ClassVar[str] = "(C_in, C_out, k, k)"
    _IN_AXIS: ClassVar[int] = 0

    def __post_init__(self) -> None:
        self._check_kernel()
        if self.output_padding >= self.stride:
            raise ValueError("output_padding must be smaller than stride")
        self._check_common()

    def out_shape(self, in_shape: Shape) -> Shape:
        c_out, (_, h, w) = self._out_channels(in_shape), in_shape
        k, s, p, op = self.kernel_size, self.stride, self.padding, self.output_padding
        return (c_out, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op)


Edge = ConvEdge | AvgPoolEdge | ConvTransposeEdge
#: Every edge class; each backend's :class:`~lava_spikingunet.graph.dispatch.EdgeTable`
#: covers all of them.
EDGE_TYPES: tuple[type, ...] = (ConvEdge, AvgPoolEdge, ConvTransposeEdge)

# --------------------------------------------------------------------------- graph


@dataclass
class GraphMeta:
    """What a run needs besides nodes and edges."""

    task: str = "denoise"  # "denoise" (residual) or "segment"
    timesteps: int = 10
    input_node: str = "input"
    readout_node: str = "head"
    neuron_form: NeuronForm = "graded"
    extra: dict = field(default_factory=dict)
    #: How the graph was quantized (None while it is float).
    quant: QuantState | None = None


class SpikingGraph:
    """A Spiking-UNet as a DAG: nodes are layers, edges synaptic connections."""

    def __init__(self, meta: GraphMeta | None = None) -> None:
        self.g = nx.DiGraph()
        self.meta = meta if meta is not None else GraphMeta()

    # -- construction
    def add_node(self, name: str, op: Node) -> None:
        if name in self.g:
            raise ValueError(f"node {name!r} already exists")
        if not isinstance(op, InputNode | NeuronNode | ReadoutNode):
            raise TypeError(f"unknown node type {type(op).__name__}")
        self.g.add_node(name, op=op)

    def add_edge(self, src: str, dst: str, op: Edge) -> None:
        for n in (src, dst):
            if n not in self.g:
                raise ValueError(f"edge {src}->{dst}: unknown node {n!r}")
        if self.g.has_edge(src, dst):
            raise ValueError(f"edge {src}->{dst} already exists")
        if not isinstance(op, EDGE_TYPES):
            raise TypeError(f"unknown edge type {type(op).__name__}")
        out = op.out_shape(self.node(src).shape)
        if out != self.node(dst).shape:
            raise ValueError(
                f"edge {src}->{dst} produces {out}, node {dst} has {self.node(dst).shape}"
            )
        if isinstance(self.node(dst), InputNode):
            raise ValueError(f"edge {src}->{dst}: the input node takes no edges")
        self.g.add_edge(src, dst, op=op, order=self.g.number_of_edges())
        if not nx.is_directed_acyclic_graph(self.g):
            self.g.remove_edge(src, dst)
            raise ValueError(f"edge {src}->{dst} would make a cycle")

    # -- access
    def node(self, name: str) -> Node:
        return self.g.nodes[name]["op"]

    def edge(self, src: str, dst: str) -> Edge:
        return self.g.edges[src, dst]["op"]

    def order(self) -> list[str]:
        """Nodes in a deterministic topological order (insertion order breaks ties)."""
        rank = {n: i for i, n in enumerate(self.g.nodes)}
        return list(nx.lexicographical_topological_sort(self.g, key=lambda n: rank[n]))

    def in_edges(self, name: str) -> list[tuple[str, Edge]]:
        """Incoming ``(source, edge)`` pairs in insertion order (concat order)."""
        edges = sorted(self.g.in_edges(name, data=True), key=lambda e: e[2]["order"])
        return [(src, data["op"]) for src, _, data in edges]

    def edges(self) -> list[tuple[str, str, Edge]]:
        edges = sorted(self.g.edges(data=True), key=lambda e: e[2]["order"])
        return [(s, d, data["op"]) for s, d, data in edges]

    def neurons(self) -> list[str]:
        return [n for n in self.order() if isinstance(self.node(n), NeuronNode)]

    def nodes(self) -> list[str]:
        """Node names in insertion order."""
        return list(self.g.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self.g

    def out_edges(self, name: str) -> list[tuple[str, Edge]]:
        """Outgoing ``(target, edge)`` pairs in insertion order."""
        edges = sorted(self.g.out_edges(name, data=True), key=lambda e: e[2]["order"])
        return [(dst, data["op"]) for _, dst, data in edges]

    def successors(self, name: str) -> list[str]:
        """Targets of ``name``'s out-edges, in insertion order."""
        return [dst for dst, _ in self.out_edges(name)]

    def in_degree(self, name: str) -> int:
        return int(self.g.in_degree(name))

    def out_degree(self, name: str) -> int:
        return int(self.g.out_degree(name))

    def view(self) -> SpikingGraph:
        """A graph sharing this one's node primitives and weight arrays, with its own edge
        objects (so delays can change without touching this graph)."""
        import copy

        out = SpikingGraph(self.meta)
        for n in self.g.nodes:
            out.g.add_node(n, op=self.node(n))
        for s, d, e in self.edges():
            out.g.add_edge(s, d, op=copy.copy(e), order=self.g.edges[s, d]["order"])
        return out

    def size_multiple(self) -> int:
        """Frame sides must divide by this: the product of the pooling kernels (2^depth)."""
        m = 1
        for _, _, e in self.edges():
            if isinstance(e, AvgPoolEdge):
                m *= e.kernel
        return m

    @property
    def input_name(self) -> str:
        return self.meta.input_node

    @property
    def readout_name(self) -> str:
        return self.meta.readout_node

    @property
    def is_quantized(self) -> bool:
        return all(getattr(self.node(n), "is_quantized", True) for n in self.g.nodes) and all(
            e.is_quantized or getattr(e, "static", False) for _, _, e in self.edges()
        )

    def validate(self) -> None:
        """Check the whole graph: one input, one readout, every node reachable."""
        inputs = [n for n in self.g if isinstance(self.node(n), InputNode)]
        readouts = [n for n in self.g if isinstance(self.node(n), ReadoutNode)]
        if inputs != [self.input_name]:
            raise ValueError(f"graph must have exactly one input node {self.input_name!r}")
        if readouts != [self.readout_name]:
            raise ValueError(f"graph must have exactly one readout node {self.readout_name!r}")
        for n in self.g:
            if n != self.input_name and self.g.in_degree(n) == 0:
                raise ValueError(f"node {n!r} has no input")
            if n != self.readout_name and self.g.out_degree(n) == 0:
                raise ValueError(f"node {n!r} feeds nothing")
        for src, dst, e in self.edges():
            if isinstance(e, ConvEdge) and e.static != (src == self.input_name):
                raise ValueError(f"edge {src}->{dst}: only edges from the input are static")

    def resized(self, height: int, width: int) -> SpikingGraph:
        """The same network for ``height x width`` frames (weights shared, shapes redone).

        Convolutional graphs do not depend on the frame size except through node shapes;
        each node's shape is re-derived from its first in-edge.
        """
        import copy
        import dataclasses

        c = self.node(self.input_name).shape[0]
        out = SpikingGraph(copy.deepcopy(self.meta))
        shapes: dict[str, Shape] = {self.input_name: (c, int(height), int(width))}
        for n in self.order():
            op = self.node(n)
            if n != self.input_name:
                src, e = self.in_edges(n)[0]
                shapes[n] = e.out_shape(shapes[src])
            out.add_node(n, dataclasses.replace(op, shape=shapes[n]))
        for src, dst, e in self.edges():
            out.add_edge(src, dst, e)
        return out

    def copy(self) -> SpikingGraph:
        """Deep copy (arrays and primitives are copied)."""
        import copy

        return copy.deepcopy(self)
