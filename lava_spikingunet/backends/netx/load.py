"""Read a netx HDF5 file written by :func:`export_netx` back into a :class:`SpikingGraph`.

The file alone defines the graph: every field is read and checked (``docs/netx_schema.md``).
Any problem raises :class:`InputError` naming the layer and field. Traversal and the
string/integer fields netx defines go through netx's own :class:`NetDict`; our float
fields are read raw because ``NetDict`` casts ``weight``/``bias`` to int.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import lava_spikingunet.backends.netx.schema as S
from lava_spikingunet.errors import InputError, SpikingUNetError
from lava_spikingunet.fixed_point.state import migrate_meta
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
from lava_spikingunet.graph.timing import frame_steps, pipeline_depth, start_steps
from lava_spikingunet.limits import MAX_TIMESTEPS, check_lava_supported


@dataclass
class NetxInfo:
    """File-level metadata of a netx file (the ``spikingunet`` group and ``simulation``)."""

    version: int
    num_layers: int
    task: str
    timesteps: int
    neuron_form: str
    delays: str
    pipeline_depth: int
    frame_steps: int
    input_node: str
    readout_node: str
    hw_profile: str
    weight_bits: int
    weight_exp_range: tuple[int, int]
    state_bits: int
    state_range: tuple[int, int]
    has_float: bool
    checksum: str
    extra_meta: dict = field(default_factory=dict)
    hw_profile_dict: dict = field(default_factory=dict)


def _netdict(group: h5py.Group) -> Any:
    from lava.lib.dl.netx.utils import NetDict  # light: h5py + numpy only

    return NetDict(f=group)


class _Fields:
    """Typed, checked access to one layer (or neuron/float subgroup) of the file."""

    def __init__(self, group: h5py.Group, where: str) -> None:
        self.g, self.where, self.nd = group, where, _netdict(group)

    def has(self, key: str) -> bool:
        return key in self.g

    def _ds(self, key: str) -> h5py.Dataset:
        if key not in self.g:
            raise S.SchemaError(f"{self.where}: missing field {key!r}")
        obj = self.g[key]
        if not isinstance(obj, h5py.Dataset):
            raise S.SchemaError(f"{self.where}: field {key!r} must be a dataset")
        return obj

    def group(self, key: str, where: str | None = None) -> _Fields:
        if key not in self.g or not isinstance(self.g[key], h5py.Group):
            raise S.SchemaError(f"{self.where}: missing group {key!r}")
        return _Fields(self.g[key], f"{self.where}/{key}" if where is None else where)

    def string(self, key: str) -> str:
        ds = self._ds(key)
        if ds.dtype.kind != "S" or ds.size != 1:
            raise S.SchemaError(f"{self.where}: field {key!r} must be one byte string")
        try:
            if key == "type":
                return self.nd["type"]  # netx's own decoding
            return S.decode_str(ds[()])
        except UnicodeDecodeError as exc:
            raise S.SchemaError(f"{self.where}: field {key!r} is not valid text") from exc

    def ints(self, key: str, shape: tuple | None = None) -> np.ndarray:
        ds = self._ds(key)
        if ds.dtype.kind not in "iu":
            raise S.SchemaError(
                f"{self.where}: field {key!r} must hold integers, found dtype {ds.dtype}"
            )
        value = self.nd[key] if key in ("weight", "bias") else ds[()]  # NetDict: int copy
        arr = np.asarray(value).astype(np.int64)
        if shape is not None and not _shape_ok(arr.shape, shape):
            raise S.SchemaError(
                f"{self.where}: field {key!r} has shape {arr.shape}, expected {_fmt(shape)}"
            )
        return arr

    def int(self, key: str) -> int:
        return int(self.ints(key, ()))

    def floats(self, key: str, shape: tuple | None = None) -> np.ndarray:
        ds = self._ds(key)
        if ds.dtype.kind != "f":
            raise S.SchemaError(f"{self.where}: field {key!r} must hold floats, found {ds.dtype}")
        arr = np.asarray(ds[()], dtype=np.float64)
        if shape is not None and not _shape_ok(arr.shape, shape):
            raise S.SchemaError(
                f"{self.where}: field {key!r} has shape {arr.shape}, expected {_fmt(shape)}"
            )
        return arr

    def float(self, key: str) -> float:
        return float(self.floats(key, ()))

    def square(self, key: str) -> int:
        """A netx (y, x) pair field whose two entries must be equal."""
        pair = self.ints(key, (2,))
        if pair[0] != pair[1]:
            raise S.SchemaError(f"{self.where}: field {key!r} = {pair.tolist()} must be square")
        return int(pair[0])

    def expect(self, key: str, value: int, what: str) -> None:
        got = self.ints(key)
        if got.size == 0 or np.any(got != value):
            raise S.SchemaError(f"{self.where}: field {key!r} = {got.tolist()}, {what}")

    def fail(self, message: str) -> S.SchemaError:
        return S.SchemaError(f"{self.where}: {message}")


def _shape_ok(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(
        w is None or g == w for g, w in zip(got, want, strict=True)
    )


def _fmt(shape: tuple) -> str:
    inner = ", ".join("any" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


# --------------------------------------------------------------------------- metadata


def _attr(attrs: h5py.AttributeManager, key: str, kind: str) -> Any:
    if key not in attrs:
        raise S.SchemaError(f"{S.META}: missing attribute {key!r}")
    value = np.asarray(attrs[key])
    if kind == "str":
        return S.decode_str(value)
    if value.dtype.kind not in "iu" or value.shape != ():
        raise S.SchemaError(f"{S.META}: attribute {key!r} must be an integer scalar")
    return int(value)


def _read_info(f: h5py.File, stored_checksum: str) -> tuple[NetxInfo, dict]:
    a = f[S.META].attrs
    s = {k: _attr(a, k, "str") for k in ("task", "neuron_form", "delays", "input_node")}
    s.update({k: _attr(a, k, "str") for k in ("readout_node", "hw_profile")})
    i = {
        k: _attr(a, k, "int")
        for k in (
            "timesteps",
            "pipeline_depth",
            "weight_bits",
            "weight_exp_min",
            "weight_exp_max",
            "state_bits",
            "state_min",
            "state_max",
            "has_float",
        )
    }
    if s["neuron_form"] not in S.NEURON_FORMS:
        raise S.SchemaError(f"{S.META}: unknown neuron_form {s['neuron_form']!r}")
    if s["delays"] not in S.DELAY_MODES:
        raise S.SchemaError(f"{S.META}: unknown delays mode {s['delays']!r}")
    if not 2 <= i["weight_bits"] <= 32 or not 2 <= i["state_bits"] <= 63:
        raise S.SchemaError(f"{S.META}: weight_bits/state_bits out of range")
    if (i["state_min"], i["state_max"]) != S.signed_range(i["state_bits"]):
        raise S.SchemaError(f"{S.META}: state_min/state_max disagree with state_bits")
    if not 1 <= i["timesteps"] <= MAX_TIMESTEPS:
        raise S.SchemaError(f"{S.META}: timesteps must be in 1..{MAX_TIMESTEPS}")
    if S.LAYER not in f or not isinstance(f[S.LAYER], h5py.Group):
        raise S.SchemaError(f"missing group {S.LAYER!r}")
    n = len(f[S.LAYER])
    if sorted(f[S.LAYER].keys()) != sorted(str(k) for k in range(n)) or n < 2:
        raise S.SchemaError(f"{S.LAYER}: layers must be named 0..n-1 (n >= 2)")
    sim = _Fields(f[S.SIMULATION], S.SIMULATION) if S.SIMULATION in f else None
    if sim is None:
        raise S.SchemaError(f"missing group {S.SIMULATION!r}")
    if sim.int("Ts") != 1:
        raise S.SchemaError(f"{S.SIMULATION}/Ts must be 1")
    if not 1 <= sim.int("tSample") <= S.MAX_FRAME_STEPS:
        raise S.SchemaError(f"{S.SIMULATION}/tSample must be in 1..{S.MAX_FRAME_STEPS}")
    if not 0 <= i["pipeline_depth"] <= S.MAX_FRAME_STEPS:
        raise S.SchemaError(f"{S.META}: pipeline_depth out of range")
    extra = S.from_json(_attr(a, "graph_extra", "str"), f"{S.META}@graph_extra")
    info = NetxInfo(
        version=S.VERSION,
        num_layers=n,
        task=s["task"],
        timesteps=i["timesteps"],
        neuron_form=s["neuron_form"],
        delays=s["delays"],
        pipeline_depth=i["pipeline_depth"],
        frame_steps=sim.int("tSample"),
        input_node=s["input_node"],
        readout_node=s["readout_node"],
        hw_profile=s["hw_profile"],
        weight_bits=i["weight_bits"],
        weight_exp_range=(i["weight_exp_min"], i["weight_exp_max"]),
        state_bits=i["state_bits"],
        state_range=(i["state_min"], i["state_max"]),
        has_float=bool(i["has_float"]),
        checksum=stored_checksum,
        extra_meta=S.from_json(_attr(a, "extra_meta", "str"), f"{S.META}@extra_meta"),
        hw_profile_dict=S.from_json(_attr(a, "hw_profile_json", "str"), f"{S.META}@hw_profile"),
    )
    if not isinstance(extra, dict):
        raise S.SchemaError(f"{S.META}@graph_extra must be a JSON object")
    return info, extra


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class _LayerKind:
    """How the loader reads one synaptic layer type: the ``_Builder`` methods that read
    its mantissas and make its edge, and whether its weight joins several inputs along
    the input channels (a concat)."""

    mant: str
    edge: str
    joins: bool = False


#: The netx loader's table, keyed by the file's layer type (the writer's
#: ``export.EDGE_LAYER``): a new edge type adds one entry here.
_LAYER_KINDS: dict[str, _LayerKind] = {
    S.CONV: _LayerKind("_conv_mant", "_conv_edge", joins=True),
    S.CONVT: _LayerKind("_conv_t_mant", "_conv_t_edge"),
    S.POOL: _LayerKind("_pool_mant", "_pool_edge"),
}


class _Builder:
    """Builds the graph layer by layer, checking every field against the schema."""

    def __init__(self, f: h5py.File, info: NetxInfo, extra: dict) -> None:
        self.f, self.info = f, info
        meta = GraphMeta(
            task=info.task,
            timesteps=info.timesteps,
            input_node=info.input_node,
            readout_node=info.readout_node,
            neuron_form=info.neuron_form,  # type: ignore[arg-type]
            extra=dict(extra),
        )
        try:
            migrate_meta(meta)  # the quantization state travels in graph_extra
        except (TypeError, ValueError) as exc:
            raise S.SchemaError(f"{S.META}@graph_extra: bad quantization state: {exc}") from exc
        self.graph = SpikingGraph(meta)
        self.node_of: dict[int, str] = {}  # layer id -> node name
        self.starts: dict[str, int] = {}
        self.wrange = S.signed_range(info.weight_bits)
        self.max_delay = S.max_delay(info.hw_profile_dict)

    # -- checks
    def _in_range(self, L: _Fields, key: str, values: np.ndarray, lo: int, hi: int) -> None:
        if values.size and (values.min() < lo or values.max() > hi):
            raise L.fail(
                f"field {key!r} spans [{values.min()}, {values.max()}], outside the stored "
                f"range [{lo}, {hi}]"
            )

    def _mant(self, L: _Fields, shape: tuple) -> np.ndarray:
        mant = L.ints("weight", shape)
        self._in_range(L, "weight", mant, *self.wrange)
        return mant

    def _quant(self, L: _Fields, parts: int) -> tuple[np.ndarray, np.ndarray]:
        exps = L.ints("wgtExp", (parts,))
        self._in_range(L, "wgtExp", exps, *self.info.weight_exp_range)
        delays = L.ints("delay", (parts,))
        self._in_range(L, "delay", delays, 0, self.max_delay)
        return exps, delays

    # -- nodes
    def _neuron(self, L: _Fields, shape: tuple, readout: bool, bias: np.ndarray | None) -> Any:
        N = L.group(S.NEURON)
        ntype = N.string("type")
        if ntype not in S.NEURON_TYPES:
            raise N.fail(f"unknown neuron type {ntype!r} (known: {', '.join(S.NEURON_TYPES)})")
        want = S.READOUT if readout else S.MT
        if ntype != want:
            raise N.fail(f"neuron type {ntype!r} here, expected {want!r}")
        c = shape[0]
        bias_int = N.ints("bias", (c,))
        self._in_range(N, "bias", bias_int, *self.info.state_range)
        if ntype == S.READOUT:
            scale = N.float("scale")
            if not (np.isfinite(scale) and scale > 0):
                raise N.fail(f"field 'scale' = {scale} must be finite and > 0")
            fbias = bias if bias is not None else bias_int / scale
            op = ReadoutNode(shape, fbias, bias_int=bias_int, scale=scale)
        else:
            n_thr = N.int("nThresholds")
            theta1, unit = N.float("theta1"), N.int("thetaUnit")
            if not 1 <= n_thr <= 32 or unit < 1 or not np.isfinite(theta1):
                raise N.fail("nThresholds, thetaUnit or theta1 out of range")
            theta = N.ints("theta", (n_thr,))
            if not np.array_equal(theta, S.ladder(unit, n_thr)):
                raise N.fail(f"field 'theta' = {theta.tolist()} is not thetaUnit * 2^(N-i)")
            self._in_range(N, "theta", theta, 1, self.info.state_range[1])
            reset = N.string("reset")
            probe = NeuronNode(shape, np.zeros(c), n_thr, theta1, reset, theta_unit_int=unit)
            fbias = bias if bias is not None else bias_int / probe.scale
            op = NeuronNode(shape, fbias, n_thr, theta1, reset, bias_int, unit)  # type: ignore[arg-type]
        return op, N.int("start")

    def _float(self, L: _Fields, key: str, shape: tuple) -> np.ndarray | None:
        if not self.info.has_float:
            return None
        return L.group(S.FLOAT).floats(key, shape)

    def _add_node(self, L: _Fields, name: str, op: Any, start: int) -> None:
        if name in self.graph:
            raise L.fail(f"node name {name!r} used twice")
        self.graph.add_node(name, op)
        self.starts[name] = start

    def _add_edge(self, L: _Fields, src: str, dst: str, op: Any) -> None:
        try:
            self.graph.add_edge(src, dst, op)
        except ValueError as exc:
            raise L.fail(str(exc)) from exc

    # -- layers
    def _input(self, L: _Fields, shape: tuple, name: str) -> None:
        in_name = L.string("inputName")
        if in_name != self.info.input_node:
            raise L.fail(f"inputName {in_name!r} differs from input_node {self.info.input_node!r}")
        in_shape = tuple(int(v) for v in L.ints("inputShape", (3,)))
        k = L.square("kernelSize")
        weight = L.floats("weight", (shape[0], in_shape[0], k, k))
        self._geometry(L, weight.shape[1], weight.shape[0])
        bias = L.floats("bias", (shape[0],))
        scale = L.float("scale")
        (delay,) = L.ints("delay", (1,))
        mant = L.ints("weightMant", weight.shape) if L.has("weightMant") else None
        exp = int(L.ints("wgtExp", (1,))[0]) if L.has("wgtExp") else None
        op, start = self._neuron(L, shape, readout=False, bias=bias)
        if scale != op.scale:
            raise L.fail(f"field 'scale' = {scale} differs from the neuron's {op.scale}")
        self.graph.add_node(in_name, InputNode(in_shape))
        self.starts[in_name] = 0
        self._add_node(L, name, op, start)
        edge = ConvEdge(
            weight=weight,
            stride=L.square("stride"),
            padding=L.square("padding"),
            static=True,
            delay=int(delay),
            mant=mant,
            exp=exp,
        )
        self._add_edge(L, in_name, name, edge)

    def _geometry(self, L: _Fields, c_in: int, c_out: int) -> None:
        if L.int("inChannels") != c_in or L.int("outChannels") != c_out:
            raise L.fail(
                f"inChannels/outChannels = {L.int('inChannels')}/{L.int('outChannels')} "
                f"disagree with the weight's {c_in}/{c_out}"
            )
        L.expect("dilation", 1, "only dilation 1 is supported")
        L.expect("groups", 1, "only groups 1 is supported")

    # -- one reader per synaptic layer type (see _LAYER_KINDS)
    def _conv_mant(self, L: _Fields, shape: tuple, srcs: list, sources: list[str]):
        k = L.square("kernelSize")
        c_in = sum(s[0] for s in srcs)
        mant = self._mant(L, (shape[0], None, k, k))
        if mant.shape[1] != c_in:
            raise L.fail(
                f"field 'weight' has {mant.shape[1]} input channels, its inputs "
                f"{sources} have {c_in}"
            )
        self._geometry(L, c_in, shape[0])
        return mant

    def _conv_t_mant(self, L: _Fields, shape: tuple, srcs: list, sources: list[str]):
        k = L.square("kernelSize")
        mant = self._mant(L, (srcs[0][0], shape[0], k, k))
        self._geometry(L, mant.shape[0], mant.shape[1])
        return mant

    def _pool_mant(self, L: _Fields, shape: tuple, srcs: list, sources: list[str]):
        k = L.square("kernelSize")
        if L.square("stride") != k:
            raise L.fail("pool stride must equal its kernel size")
        L.expect("padding", 0, "pool padding must be 0")
        L.expect("dilation", 1, "only dilation 1 is supported")
        return self._mant(L, ())

    @staticmethod
    def _conv_edge(L: _Fields, w: Any, common: dict) -> ConvEdge:
        return ConvEdge(weight=w, stride=L.square("stride"), padding=L.square("padding"), **common)

    @staticmethod
    def _conv_t_edge(L: _Fields, w: Any, common: dict) -> ConvTransposeEdge:
        return ConvTransposeEdge(
            weight=w,
            stride=L.square("stride"),
            padding=L.square("padding"),
            output_padding=L.square("outputPadding"),
            **common,
        )

    @staticmethod
    def _pool_edge(L: _Fields, w: Any, common: dict) -> AvgPoolEdge:
        return AvgPoolEdge(weight=float(w), kernel=L.square("kernelSize"), **common)

    def _synapse_layer(
        self, L: _Fields, kind: str, shape: tuple, name: str, sources: list[str]
    ) -> None:
        last = name == self.info.readout_node
        srcs = [self.graph.node(s).shape for s in sources]
        rule = _LAYER_KINDS[kind]
        mant = getattr(self, rule.mant)(L, shape, srcs, sources)
        exps, delays = self._quant(L, len(sources))
        fweight = self._float(L, "weight", mant.shape)
        fbias = self._float(L, "bias", (shape[0],))
        op, start = self._neuron(L, shape, readout=last, bias=fbias)
        self._add_node(L, name, op, start)
        node_scale = op.scale
        cuts = np.cumsum([0] + [s[0] for s in srcs]) if rule.joins else [0, None]
        for j, src in enumerate(sources):
            m = mant[:, cuts[j] : cuts[j + 1]] if rule.joins else mant
            exp = int(exps[j])
            if fweight is None:
                w = m * 2.0**exp / node_scale
            else:
                w = fweight[:, cuts[j] : cuts[j + 1]] if rule.joins else fweight
            common = {"delay": int(delays[j]), "mant": m, "exp": exp}
            self._add_edge(L, src, name, getattr(self, rule.edge)(L, w, common))

    def build(self) -> SpikingGraph:
        pending: list[str] | None = None
        n = self.info.num_layers
        for i in range(n):
            L = _Fields(self.f[f"{S.LAYER}/{i}"], f"{S.LAYER}/{i}")
            if L.has("name"):
                L.where = f"{S.LAYER}/{i} ({L.string('name')})"
            kind = L.string("type")
            if kind not in S.LAYER_TYPES:
                raise L.fail(f"unknown layer type {kind!r} (known: {', '.join(S.LAYER_TYPES)})")
            if (kind == S.INPUT) != (i == 0):
                raise L.fail("layer 0, and only layer 0, must be of type 'input'")
            shape = tuple(int(v) for v in L.ints("shape", (3,)))
            if min(shape) < 1:
                raise L.fail(f"field 'shape' = {shape} must be positive")
            if kind == S.CONCAT:
                if pending is not None:
                    raise L.fail("two concat layers in a row")
                pending = self._concat(L, i, shape)
                continue
            name = L.string("name")
            if i == n - 1 and name != self.info.readout_node:
                raise L.fail(f"the last layer must be the readout {self.info.readout_node!r}")
            if i < n - 1 and name == self.info.readout_node:
                raise L.fail("the readout must be the last layer")
            try:
                if kind == S.INPUT:
                    self._input(L, shape, name)
                else:
                    sources = pending if pending is not None else [self.node_of[i - 1]]
                    if len(sources) > 1 and not _LAYER_KINDS[kind].joins:
                        raise L.fail(f"a {kind!r} layer cannot follow a multi-part concat")
                    self._synapse_layer(L, kind, shape, name, sources)
            except ValueError as exc:
                if isinstance(exc, S.SchemaError):
                    raise
                raise L.fail(str(exc)) from exc
            self.node_of[i] = name
            pending = None
        if pending is not None:
            raise S.SchemaError(f"{S.LAYER}/{n - 1}: the file ends with a concat layer")
        self._check_timing()
        return self.graph

    def _concat(self, L: _Fields, i: int, shape: tuple) -> list[str]:
        ids = L.ints("layers", (None,))
        if ids.size == 0:
            raise L.fail("field 'layers' is empty")
        for j in ids:
            if not 0 <= j < i or int(j) not in self.node_of:
                raise L.fail(f"field 'layers' refers to {int(j)}, not an earlier node layer")
        names = [self.node_of[int(j)] for j in ids]
        shapes = [self.graph.node(s).shape for s in names]
        joined = (sum(s[0] for s in shapes), shapes[0][1], shapes[0][2])
        if any(s[1:] != shapes[0][1:] for s in shapes) or joined != shape:
            raise L.fail(f"field 'shape' = {shape} but the joined layers give {joined}")
        return names

    def _check_timing(self) -> None:
        g = self.graph
        try:
            g.validate()
        except ValueError as exc:
            raise S.SchemaError(f"invalid graph: {exc}") from exc
        actual = start_steps(g)
        for i, name in sorted(self.node_of.items()):
            if self.starts[name] != actual[name]:
                raise S.SchemaError(
                    f"{S.LAYER}/{i} ({name}): neuron/start = {self.starts[name]} but the "
                    f"delays give {actual[name]}"
                )
        if pipeline_depth(g) != self.info.pipeline_depth:
            raise S.SchemaError(f"{S.META}: pipeline_depth disagrees with the delays")
        if frame_steps(g) != self.info.frame_steps:
            raise S.SchemaError(f"{S.SIMULATION}/tSample disagrees with T + pipeline depth")
        from lava_spikingunet.backends.netx.export import delay_mode

        if delay_mode(g) != self.info.delays:
            raise S.SchemaError(
                f"{S.META}: delays = {self.info.delays!r} but the file's are {delay_mode(g)!r}"
            )


# --------------------------------------------------------------------------- entry points


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a netx HDF5 Spiking-UNet)")
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError and others
        raise InputError(
            f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}"
        ) from exc


def read_netx(path: str | os.PathLike) -> tuple[SpikingGraph, NetxInfo]:
    """The graph and the file-level metadata of a netx file, all of it checked."""
    path = Path(path)
    f = _open(path)
    try:
        if S.META not in f or not isinstance(f[S.META], h5py.Group):
            raise InputError(f"{path}: not a lava-spikingunet netx file (no {S.META!r} group)")
        a = f[S.META].attrs
        fmt = S.decode_str(a["format"]) if "format" in a else None
        if fmt != S.FORMAT:
            raise InputError(f"{path}: format {fmt!r}, expected {S.FORMAT!r}")
        version = _attr(a, "version", "int")
        if version != S.VERSION:
            raise InputError(
                f"{path}: format version {version}, this loader reads version {S.VERSION}"
            )
        stored = _attr(a, S.CHECKSUM_ATTR, "str")
        S.check_declared_sizes(f)  # before the checksum reads any data
        if S.checksum(f) != stored:
            raise InputError(
                f"{path}: checksum mismatch: the layer data was modified or corrupted after export"
            )
        info, extra = _read_info(f, stored)
        graph = _Builder(f, info, extra).build()
        check_lava_supported(graph, str(path))
        return graph, info
    except S.SchemaError as exc:
        raise InputError(f"{path}: {exc}") from exc
    except SpikingUNetError:
        raise
    except (OSError, RuntimeError, KeyError) as exc:
        raise InputError(
            f"{path}: unreadable HDF5 data (truncated or corrupt file?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        f.close()


def load_netx(path: str | os.PathLike) -> SpikingGraph:
    """The :class:`SpikingGraph` stored in a netx file (see :func:`read_netx`)."""
    return read_netx(path)[0]


def read_netx_info(path: str | os.PathLike) -> NetxInfo:
    """The file-level metadata of a netx file (the whole file is checked)."""
    return read_netx(path)[1]
