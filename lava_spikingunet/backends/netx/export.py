"""Write a fixed-point :class:`SpikingGraph` as a netx HDF5 file (``docs/netx_schema.md``).

One layer per graph node in topological order, netx style: a layer holds the synapses
*into* its node plus the node's neurons. The input node and the first neuron layer form
layer 0 (netx's ``input`` block with encoding neurons: the static conv is computed on
the host in float). A node whose inputs are not just the previous layer is preceded by a
``concat`` layer listing the joined layer ids; each joined part keeps its own mantissas,
exponent and delay (connection-wise quantization).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import lava_spikingunet.backends.netx.schema as S
from lava_spikingunet.errors import InputError, UnsupportedModelError
from lava_spikingunet.fileio import atomic_path, check_writable
from lava_spikingunet.fixed_point.state import LEGACY_KEY
from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    NeuronNode,
    SpikingGraph,
)
from lava_spikingunet.graph.timing import (
    LAVA_SYNAPSE_DELAY,
    STATIC_INPUT_DELAY,
    frame_steps,
    is_balanced,
    pipeline_depth,
    start_steps,
)
from lava_spikingunet.hw.validate import check_profile

#: The netx writer's edge table: the layer type each edge type is stored as (the
#: writer's ``_<type>`` method writes it).
EDGE_LAYER = EdgeTable(
    "netx export", {ConvEdge: S.CONV, AvgPoolEdge: S.POOL, ConvTransposeEdge: S.CONVT}
)


@dataclass
class LayerPlan:
    """One layer of the file: its type, the node it holds and the nodes it joins."""

    kind: str
    node: str | None  # None for a concat layer
    sources: list[str]


# --------------------------------------------------------------------------- checks


def _resolve_profile(graph: SpikingGraph, profile: Any) -> Any:
    """The hardware profile: the argument, else ``graph.meta.extra['hw_profile']``."""
    if profile is None:
        profile = graph.meta.extra.get("hw_profile")
    if profile is None:
        raise InputError(
            "export_netx needs the hardware profile the graph was quantized for: pass "
            "profile=<name in hw_profiles/ or HardwareProfile> or set "
            "graph.meta.extra['hw_profile']"
        )
    if isinstance(profile, str | os.PathLike):
        from lava_spikingunet.hw import load_profile

        profile = load_profile(profile)
    if not all(hasattr(profile, a) for a in ("name", "weights", "neuron", "as_dict")):
        raise InputError(f"not a hardware profile: {profile!r} (give a name or HardwareProfile)")
    return profile


def plan_layers(graph: SpikingGraph) -> list[LayerPlan]:
    """Layer list of ``graph``; UnsupportedModelError for a graph the format cannot hold."""
    try:
        graph.validate()
    except ValueError as exc:
        raise UnsupportedModelError(f"cannot export an invalid graph: {exc}") from exc
    order = graph.order()
    inp = graph.input_name
    outs = graph.successors(inp)
    if len(outs) != 1:
        raise UnsupportedModelError(
            f"input {inp!r} feeds {len(outs)} nodes; the netx input layer holds exactly one "
            "static conv into one neuron layer"
        )
    first = outs[0]
    if graph.in_degree(first) != 1 or not isinstance(graph.node(first), NeuronNode):
        raise UnsupportedModelError(
            f"node {first!r} must be a neuron layer fed by the static input only "
            "(it forms the netx input layer with the input)"
        )
    assert order[:2] == [inp, first], order[:2]
    plan = [LayerPlan(S.INPUT, first, [inp])]
    layer_of = {first: 0}
    for n in order[2:]:
        ins = graph.in_edges(n)
        srcs = [s for s, _ in ins]
        kinds = {EDGE_LAYER[e] for _, e in ins}
        if len(ins) > 1:
            joinable = kinds == {S.CONV}
            geo = {(e.kernel_size, e.stride, e.padding) for _, e in ins} if joinable else set()
            if len(geo) != 1:
                raise UnsupportedModelError(
                    f"node {n!r} joins {len(ins)} inputs of kinds "
                    f"{sorted({type(e).__name__ for _, e in ins})}; the netx format joins "
                    "only conv edges of equal kernel, stride and padding"
                )
        if not (len(ins) == 1 and layer_of[srcs[0]] == len(plan) - 1):
            plan.append(LayerPlan(S.CONCAT, None, srcs))
        layer_of[n] = len(plan)
        plan.append(LayerPlan(EDGE_LAYER[ins[0][1]], n, srcs))
    return plan


def check_quantized(graph: SpikingGraph, profile: Any, form: str = "graded") -> None:
    """Every field the file needs is set and inside the profile's ranges
    (:func:`~lava_spikingunet.hw.validate.check_profile`, ``exact=False``)."""
    check_profile(graph, profile, form, exact=False)


def delay_mode(graph: SpikingGraph) -> str:
    """``zero``, ``native``, ``balanced`` or ``custom`` (see :data:`schema.DELAY_MODES`)."""
    edges = graph.edges()
    if all(e.delay == 0 for _, _, e in edges):
        return "zero"
    native = (STATIC_INPUT_DELAY, LAVA_SYNAPSE_DELAY)
    if all(e.delay == native[not getattr(e, "static", False)] for _, _, e in edges):
        return "native"
    return "balanced" if is_balanced(graph) else "custom"


# --------------------------------------------------------------------------- writing


def _ds(group: h5py.Group, key: str, data: Any, dtype: Any = None) -> None:
    arr = np.asarray(data, dtype=dtype)
    kw: dict[str, Any] = {}
    if arr.size >= S.COMPRESS_MIN_SIZE:
        kw = {"compression": "gzip", "compression_opts": S.GZIP_LEVEL, "chunks": True}
    group.create_dataset(key, data=arr, track_times=False, **kw)


def _pair(v: int) -> np.ndarray:
    return np.array([v, v], dtype=np.int64)


class _Writer:
    def __init__(self, f: h5py.File, graph: SpikingGraph, profile: Any, include_float: bool):
        self.f, self.graph, self.include_float = f, graph, include_float
        self.wdtype = S.int_dtype(*S.signed_range(profile.weights.mantissa_bits))
        self.bdtype = S.int_dtype(*S.signed_range(profile.neuron.state_bits))
        self.start = start_steps(graph)

    def layer(self, i: int, plan: LayerPlan) -> h5py.Group:
        g = self.f.create_group(f"{S.LAYER}/{i}")
        g.create_dataset("type", data=np.array([plan.kind.encode()], dtype=S.TYPE_DTYPE))
        return g

    def neuron(self, g: h5py.Group, n: str) -> None:
        op = self.graph.node(n)
        ng = g.create_group(S.NEURON)
        if isinstance(op, NeuronNode):
            ng.create_dataset("type", data=np.array([S.MT.encode()], dtype=S.TYPE_DTYPE))
            _ds(ng, "nThresholds", op.n_thresholds, np.int64)
            _ds(ng, "theta1", op.theta1, np.float64)
            _ds(ng, "thetaUnit", op.theta_unit_int, np.int64)
            _ds(ng, "theta", S.ladder(op.theta_unit_int, op.n_thresholds))
            _ds(ng, "reset", S.bytes_array(op.reset))
        else:
            ng.create_dataset("type", data=np.array([S.READOUT.encode()], dtype=S.TYPE_DTYPE))
            _ds(ng, "scale", op.scale, np.float64)
        _ds(ng, "bias", op.bias_int, self.bdtype)
        _ds(ng, "start", self.start[n], np.int64)

    def node_common(self, g: h5py.Group, n: str) -> None:
        _ds(g, "shape", self.graph.node(n).shape, np.int64)
        _ds(g, "name", S.bytes_array(n))

    def write(self, i: int, plan: LayerPlan) -> None:
        g = self.layer(i, plan)
        if plan.kind == S.CONCAT:
            c = sum(self.graph.node(s).shape[0] for s in plan.sources)
            _, h, w = self.graph.node(plan.sources[0]).shape
            _ds(g, "shape", (c, h, w), np.int64)
            _ds(g, "layers", self.layer_ids(plan.sources), np.int64)
            return
        n = plan.node
        self.node_common(g, n)
        edges = [e for _, e in self.graph.in_edges(n)]
        getattr(self, f"_{plan.kind}")(g, n, edges)
        self.neuron(g, n)
        if self.include_float and plan.kind != S.INPUT:
            fg = g.create_group(S.FLOAT)
            weights = [np.asarray(e.weight, np.float64) for e in edges]
            _ds(fg, "weight", np.concatenate(weights, axis=1) if len(edges) > 1 else weights[0])
            _ds(fg, "bias", self.graph.node(n).bias, np.float64)

    def layer_ids(self, names: list[str]) -> list[int]:
        return [self.ids[s] for s in names]

    @staticmethod
    def _conv_geometry(g: h5py.Group, e: ConvEdge | ConvTransposeEdge, c_in: int, c_out: int):
        _ds(g, "inChannels", c_in, np.int64)
        _ds(g, "outChannels", c_out, np.int64)
        _ds(g, "kernelSize", _pair(e.kernel_size))
        _ds(g, "stride", _pair(e.stride))
        _ds(g, "padding", _pair(e.padding))
        _ds(g, "dilation", _pair(1))
        _ds(g, "groups", 1, np.int64)

    def _quant(self, g: h5py.Group, edges: list) -> None:
        _ds(g, "wgtExp", [e.exp for e in edges], np.int64)
        _ds(g, "delay", [e.delay for e in edges], np.int64)

    def _input(self, g: h5py.Group, n: str, edges: list[ConvEdge]) -> None:
        (e,) = edges
        op = self.graph.node(n)
        _ds(g, "inputName", S.bytes_array(self.graph.input_name))
        _ds(g, "inputShape", self.graph.node(self.graph.input_name).shape, np.int64)
        self._conv_geometry(g, e, e.weight.shape[1], e.weight.shape[0])
        _ds(g, "weight", e.weight, np.float64)
        _ds(g, "bias", op.bias, np.float64)
        _ds(g, "scale", op.scale, np.float64)
        _ds(g, "delay", [e.delay], np.int64)
        if e.mant is not None:
            _ds(g, "weightMant", e.mant, S.int_dtype(int(e.mant.min()), int(e.mant.max())))
        if e.exp is not None:
            _ds(g, "wgtExp", [e.exp], np.int64)

    def _conv(self, g: h5py.Group, n: str, edges: list[ConvEdge]) -> None:
        mant = np.concatenate([e.mant for e in edges], axis=1)
        self._conv_geometry(g, edges[0], mant.shape[1], mant.shape[0])
        _ds(g, "weight", mant, self.wdtype)
        self._quant(g, edges)

    def _pool(self, g: h5py.Group, n: str, edges: list[AvgPoolEdge]) -> None:
        (e,) = edges
        _ds(g, "kernelSize", _pair(e.kernel))
        _ds(g, "stride", _pair(e.kernel))
        _ds(g, "padding", _pair(0))
        _ds(g, "dilation", _pair(1))
        _ds(g, "weight", e.mant, self.wdtype)
        self._quant(g, edges)

    def _convT(self, g: h5py.Group, n: str, edges: list[ConvTransposeEdge]) -> None:  # noqa: N802
        (e,) = edges
        self._conv_geometry(g, e, e.weight.shape[0], e.weight.shape[1])
        _ds(g, "outputPadding", _pair(e.output_padding))
        _ds(g, "weight", e.mant, self.wdtype)
        self._quant(g, edges)

    def write_all(self, plan: list[LayerPlan]) -> None:
        self.ids = {p.node: i for i, p in enumerate(plan) if p.node is not None}
        self.f.create_group(S.LAYER)
        for i, p in enumerate(plan):
            self.write(i, p)


def graph_extra(graph: SpikingGraph) -> dict:
    """``meta.extra`` plus the quantization state under its legacy key (the file's
    ``graph_extra``: the format files have always had)."""
    extra = dict(graph.meta.extra)
    if graph.meta.quant is not None:
        extra[LEGACY_KEY] = graph.meta.quant.to_dict()
    return extra


def _write_meta(
    f: h5py.File,
    graph: SpikingGraph,
    profile: Any,
    form: str,
    include_float: bool,
    extra_meta: dict | None,
) -> None:
    sim = f.create_group(S.SIMULATION)
    _ds(sim, "Ts", 1, np.int64)
    _ds(sim, "tSample", frame_steps(graph), np.int64)
    a = f.create_group(S.META).attrs
    slo, shi = S.signed_range(profile.neuron.state_bits)
    strings = {
        "format": S.FORMAT,
        "task": graph.meta.task,
        "neuron_form": form,
        "delays": delay_mode(graph),
        "input_node": graph.input_name,
        "readout_node": graph.readout_name,
        "hw_profile": profile.name,
    }
    ints = {
        "version": S.VERSION,
        "timesteps": graph.meta.timesteps,
        "pipeline_depth": pipeline_depth(graph),
        "weight_bits": profile.weights.mantissa_bits,
        "weight_exp_min": profile.weights.exp_min,
        "weight_exp_max": profile.weights.exp_max,
        "state_bits": profile.neuron.state_bits,
        "state_min": slo,
        "state_max": shi,
        "has_float": int(include_float),
    }
    try:
        strings["graph_extra"] = S.to_json(graph_extra(graph), "graph.meta.extra")
        strings["extra_meta"] = S.to_json(extra_meta or {}, "extra_meta")
        strings["hw_profile_json"] = S.to_json(profile.as_dict(), "profile")
    except S.SchemaError as exc:
        raise UnsupportedModelError(f"cannot export: {exc}") from exc
    for key, text in strings.items():
        a.create(key, S.bytes_scalar(text))
    for key, value in ints.items():
        a.create(key, np.int64(value))


def export_netx(
    graph: SpikingGraph,
    path: str | os.PathLike,
    overwrite: bool = False,
    neuron_form: str | None = None,
    extra_meta: dict | None = None,
    *,
    profile: Any = None,
    include_float: bool = False,
) -> Path:
    """Write the quantized ``graph`` to ``path`` as a netx HDF5 file, atomically.

    ``neuron_form`` ('graded', 'cascade' or 'virtual') defaults to ``graph.meta.neuron_form``;
    ``profile`` (a ``HardwareProfile`` or a profile name) defaults to
    ``graph.meta.extra['hw_profile']``; ``extra_meta`` is JSON data stored as is.
    ``include_float`` also stores every float weight and bias (``float/`` subgroups) so
    that the loaded graph equals ``graph`` in its float fields too; without it those are
    dequantized on load. Refuses to replace a file unless ``overwrite``.
    """
    from lava_spikingunet.limits import check_lava_supported

    check_writable(path, overwrite, suffixes=(".h5", ".hdf5"))
    check_lava_supported(graph)
    form = graph.meta.neuron_form if neuron_form is None else neuron_form
    if form not in S.NEURON_FORMS:
        raise InputError(f"neuron_form must be one of {S.NEURON_FORMS}, got {form!r}")
    profile = _resolve_profile(graph, profile)
    plan = plan_layers(graph)
    check_quantized(graph, profile, form)
    with atomic_path(path, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            _Writer(f, graph, profile, include_float).write_all(plan)
            _write_meta(f, graph, profile, form, include_float, extra_meta)
            f[S.META].attrs.create(S.CHECKSUM_ATTR, S.bytes_scalar(S.checksum(f)))
    return Path(path)
