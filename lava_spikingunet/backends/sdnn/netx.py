"""netx HDF5 of the ``sdnn`` form, in netx's own terms (docs/netx_schema.md, "The sdnn
form in netx's own terms").

netx's loader (``lava.lib.dl.netx.hdf5.Network``) builds an ``SDNN`` layer as a stock
``Conv`` (no weight exponent: netx never passes one) plus a ``SigmaDelta`` with
``state_exp = 6`` and the network's ``spike_exp``; the input layer as a ``Delta`` neuron
and a ``sigma_output`` layer as a ``Sigma``. A graph in *netx form*
(:func:`to_sdnn_netx`: every neuron ``state_exp = 6``, every conv exponent 0, biases in
message units) therefore means the same in netx as in our reference when loaded with
``Network(path, spike_exp=0, input_message_bits=24)``:

- layer 0 ``input`` (``shape`` only: netx's ``Input`` block does not connect its input
  port to its neuron, so an input neuron would receive nothing): the first neuron layer
  runs on the host, which computes ``I0`` (``host/``: the static conv) and sends that
  layer's messages (its sigma-delta changes, ``>> 6``) into ``Network.inp``, graded
  (``Network(..., input_message_bits=24)``);
- layer ``i`` ``conv``: ``weight`` (PyTorch layout mantissas), ``bias`` (message units:
  netx scales it by ``2^(spike_exp + 6)``), ``neuron/{type 'SDNN', vThMant}``;
- the readout: ``conv`` with ``neuron/{type 'SDNN', sigma_output}``: netx's ``Sigma``
  sends the accumulated current; its bias (state units) is ``spikingunet/readoutBias``,
  added on the host;
- skips (``concat`` with ``layers``), ``convT`` and avg-pool (``pool``), which netx's
  loader does not build, and per-layer ``wgtExp``/``stateExp`` of general ``sdnn``
  graphs, are read by :func:`load_sdnn_netx`, which rebuilds the graph for
  :func:`lava_spikingunet.backends.sdnn.network.build_sdnn` (the same stock classes).

Delays use netx's meaning: ``delay`` is the *extra* delay on top of the synapse's own
one step (0 = none); the graph's edge delay is ``1 + delay``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lava_spikingunet.backends.sdnn.convert import to_sdnn
from lava_spikingunet.fixed_point.formats import FixedPointFormat
from lava_spikingunet.fixed_point.quantize import graph_format, quantize_weights
from lava_spikingunet.graph.dispatch import EdgeTable
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

#: netx's SDNN neurons: ``state_exp`` is fixed to 6 by its loader.
NETX_STATE_EXP = 6
FORMAT = "lava-spikingunet/netx-sdnn"
VERSION = 1

__all__ = ["NETX_STATE_EXP", "export_sdnn_netx", "load_sdnn_netx", "to_sdnn_netx"]


def to_sdnn_netx(q: SpikingGraph, profile: Any = None, *, vth: int = 0) -> SpikingGraph:
    """The ``sdnn`` form of ``q`` restricted to what netx expresses: ``state_exp = 6``,
    conv/pool/convT exponents 0, biases whole message units.

    Node scales are chosen in topological order: the first neuron layer's from the
    headroom rule of :func:`to_sdnn`, every other node's the largest power of two at
    which all its incoming weights (per message unit) fit the mantissa, and at most the
    headroom scale.
    """
    g = to_sdnn(q, profile, vth=vth, state_exp=NETX_STATE_EXP)
    fmt = FixedPointFormat.from_dict(g.meta.extra["sdnn"]["format"])
    lo, hi = fmt.weight_mant_range
    st = NETX_STATE_EXP
    for n in g.order():
        node = g.node(n)
        ins = [(src, e) for src, e in g.in_edges(n) if not getattr(e, "static", False)]
        if not ins:
            continue

        wmax = max(float(np.abs(_per_msg(g, e, src, n, st)).max()) for src, e in ins)
        if wmax > 0:
            down = min(0, math.floor(math.log2((hi + 0.5) / wmax)))  # never above headroom
            if isinstance(node, NeuronNode):
                node.theta_unit_int = max(1, int(node.theta_unit_int) >> -down)
            else:
                node.scale = float(node.scale) * math.ldexp(1.0, down)
        for src, e in ins:
            e.mant, e.exp = quantize_weights(_per_msg(g, e, src, n, st), (lo, hi), (0, 0))
    for n in g.neurons():
        node = g.node(n)
        fed = any(getattr(e, "static", False) for _, e in g.in_edges(n))
        if fed:
            node.bias_int = np.zeros_like(node.bias_int)
        else:  # whole message units, rounded (the half unit of to_sdnn included)
            b = node.bias * float(node.scale) + (1 << (st - 1))
            node.bias_int = np.rint(b / (1 << st)).astype(np.int64) << st
    ro = g.node(g.readout_name)
    ro.bias_int = np.rint(ro.bias * float(ro.scale)).astype(np.int64)
    g.meta.extra["sdnn"]["netx"] = True
    return g


def _scale(g: SpikingGraph, n: str) -> float:
    return float(g.node(n).scale)


def _per_msg(g: SpikingGraph, e, src: str, dst: str, st: int) -> np.ndarray:
    """Float weight of ``e`` per message unit of ``src``, in ``dst``'s state units."""
    unit = float(g.node(src).theta_unit_int)
    return np.asarray(e.weight, float) * _scale(g, dst) * math.ldexp(1.0, st) / unit


# --------------------------------------------------------------------------- export


def _str(group: h5py.Group, key: str, value: str) -> None:
    group.create_dataset(key, data=np.array([value.encode("ascii")], dtype="S16"))


def _pair(v: int) -> np.ndarray:
    return np.array([int(v), int(v)], dtype=np.int64)


def export_sdnn_netx(graph: SpikingGraph, path: str | Path) -> Path:
    """Write the ``sdnn`` graph ``graph`` as netx HDF5 (see the module docstring)."""
    info = graph.meta.extra.get("sdnn")
    if not info:
        raise ValueError("export_sdnn_netx needs a graph in the sdnn form")
    path = Path(path)
    order = [n for n in graph.order() if n != graph.input_name]
    first = order[0]
    ins0 = graph.in_edges(first)
    if len(ins0) != 1 or not getattr(ins0[0][1], "static", False):
        raise ValueError("the first node must be fed by the static input edge alone")
    layer_id: dict[str, int] = {}
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        idx = 0

        def new_layer() -> h5py.Group:
            nonlocal idx
            grp = layers.create_group(str(idx))
            idx += 1
            return grp

        # layer 0: the input layer = the first neuron layer, fed by the host
        n0 = graph.node(first)
        grp = new_layer()
        _str(grp, "type", "input")
        grp.create_dataset("shape", data=np.array(n0.shape, np.int64))
        host = grp.create_group("host")
        e0 = ins0[0][1]
        host.create_dataset("weight", data=np.asarray(e0.weight, np.float64))
        host.create_dataset("bias", data=np.asarray(n0.bias, np.float64))
        host.create_dataset("padding", data=int(e0.padding))
        host.create_dataset("stride", data=int(e0.stride))
        host.create_dataset("inputShape", data=np.array(graph.node(graph.input_name).shape))
        host.create_dataset("thetaUnit", data=int(n0.theta_unit_int))
        host.create_dataset("scale", data=float(n0.scale))
        layer_id[first] = 0
        prev = first
        for n in order[1:]:
            ins = graph.in_edges(n)
            if len(ins) > 1 or ins[0][0] != prev:
                grp = new_layer()
                _str(grp, "type", "concat")
                srcs = [s for s, _ in ins]
                grp.create_dataset("layers", data=np.array([layer_id[s] for s in srcs]))
                c = sum(graph.node(s).shape[0] for s in srcs)
                grp.create_dataset("shape", data=np.array((c, *graph.node(n).shape[1:])))
            grp = new_layer()
            _synapse(grp, graph, n, ins)
            _neuron(grp, graph, n, info)
            layer_id[n] = idx - 1
            prev = n
        sim = f.create_group("simulation")
        sim.create_dataset("Ts", data=1)
        sim.create_dataset("tSample", data=int(info["steps"]))
        ours = f.create_group("spikingunet")
        ro = graph.node(graph.readout_name)
        ours.create_dataset("readoutBias", data=np.asarray(ro.bias_int, np.int64))
        ours.attrs["format"] = FORMAT
        ours.attrs["version"] = VERSION
        ours.attrs["spike_exp"] = 0
        ours.attrs["readout_scale"] = float(ro.scale)
        ours.attrs["netx_compatible"] = int(bool(info.get("netx")))
        ours.attrs["names"] = json.dumps(order)
        ours.attrs["input_node"] = graph.input_name
        ours.attrs["meta"] = json.dumps(
            {"task": graph.meta.task, "timesteps": graph.meta.timesteps}
        )
        kept = ("sdnn", "unet_config", "conversion")  # conversion: I-LIF counts stay usable
        extra = {k: v for k, v in graph.meta.extra.items() if k in kept}
        extra["fixed_point"] = {"format": graph_format(graph).to_dict()}
        ours.attrs["graph_extra"] = json.dumps(extra, default=_jsonable)
    return path


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _neuron(grp, graph, n, info) -> None:
    neu = grp.create_group("neuron")
    _str(neu, "type", "SDNN")
    if n == graph.readout_name:
        neu.create_dataset("vThMant", data=0)
        neu.create_dataset("sigma_output", data=1)
        return
    p = info["nodes"][n]
    neu.create_dataset("vThMant", data=int(p["vth"]))
    neu.create_dataset("stateExp", data=int(p["state_exp"]))
    st = int(p["state_exp"])
    node = graph.node(n)
    grp.create_dataset("thetaUnit", data=int(node.theta_unit_int))  # ours: scale carrier
    grp.create_dataset("scale", data=float(node.scale))  # ours: state units per float unit
    b = np.asarray(node.bias_int, np.int64)
    if st == NETX_STATE_EXP and not np.any(b % (1 << st)):
        grp.create_dataset("bias", data=(b >> st).astype(np.int32))  # message units
    grp.create_dataset("biasState", data=b)  # state units (ours, always)


def _write_conv(grp, e0: ConvEdge, parts: list[np.ndarray]) -> None:
    _str(grp, "type", "conv")
    weight = np.concatenate(parts, axis=1)  # a concat: the inputs' channels side by side
    grp.create_dataset("inChannels", data=int(weight.shape[1]))
    grp.create_dataset("outChannels", data=int(weight.shape[0]))
    grp.create_dataset("kernelSize", data=_pair(e0.kernel_size))
    grp.create_dataset("stride", data=_pair(e0.stride))
    grp.create_dataset("padding", data=_pair(e0.padding))
    grp.create_dataset("dilation", data=_pair(1))
    grp.create_dataset("groups", data=1)
    grp.create_dataset("weight", data=weight.astype(np.int16))


def _write_convt(grp, e0: ConvTransposeEdge, parts: list[np.ndarray]) -> None:
    _str(grp, "type", "convT")
    grp.create_dataset("inChannels", data=int(parts[0].shape[0]))
    grp.create_dataset("outChannels", data=int(parts[0].shape[1]))
    grp.create_dataset("kernelSize", data=_pair(e0.kernel_size))
    grp.create_dataset("stride", data=_pair(e0.stride))
    grp.create_dataset("padding", data=_pair(e0.padding))
    grp.create_dataset("outputPadding", data=_pair(e0.output_padding))
    grp.create_dataset("weight", data=parts[0].astype(np.int16))


def _write_pool(grp, e0: AvgPoolEdge, parts: list[np.ndarray]) -> None:
    _str(grp, "type", "pool")
    grp.create_dataset("kernelSize", data=_pair(e0.kernel))
    grp.create_dataset("stride", data=_pair(e0.kernel))
    grp.create_dataset("weight", data=int(parts[0]))


#: Per edge type: its synapse group writer, and whether several inputs (a concat) may
#: share one group.
_SYNAPSE_WRITERS = EdgeTable(
    "sdnn netx",
    {ConvEdge: (_write_conv, True), ConvTransposeEdge: (_write_convt, False),
     AvgPoolEdge: (_write_pool, False)},
)  # fmt: skip


def _synapse(grp, graph, n, ins) -> None:
    e0 = ins[0][1]
    shape = graph.node(n).shape
    grp.create_dataset("shape", data=np.array(shape, np.int64))
    parts = [np.asarray(e.mant) for _, e in ins]
    writer, concat = _SYNAPSE_WRITERS[e0]
    if len(ins) > 1 and not concat:
        raise ValueError(f"{n}: unsupported inputs {[type(e).__name__ for _, e in ins]}")
    writer(grp, e0, parts)
    grp.create_dataset("wgtExp", data=np.array([int(e.exp) for _, e in ins], np.int64))
    grp.create_dataset("delay", data=np.array([int(e.delay) - 1 for _, e in ins], np.int64))


# --------------------------------------------------------------------------- load


def _s(ds) -> str:
    v = ds[()]
    v = v[0] if np.ndim(v) else v
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def load_sdnn_netx(path: str | Path) -> SpikingGraph:
    """The ``sdnn`` graph of a file written by :func:`export_sdnn_netx` (skips, convT and
    pool included), ready for ``build_sdnn`` / ``simulate_sdnn``."""
    with h5py.File(path, "r") as f:
        ours = f["spikingunet"]
        if ours.attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file")
        names = json.loads(ours.attrs["names"])
        meta = json.loads(ours.attrs["meta"])
        extra = json.loads(ours.attrs["graph_extra"])
        g = SpikingGraph(GraphMeta(task=meta["task"], timesteps=int(meta["timesteps"])))
        g.meta.readout_node = names[-1]
        g.meta.input_node = str(ours.attrs["input_node"])
        g.meta.extra.update(extra)
        nodes = extra["sdnn"]["nodes"]
        lay = f["layer"]
        n_layers = len(lay)
        host = lay["0"]["host"]
        g.add_node(g.input_name, InputNode(tuple(host["inputShape"][()])))
        ids: dict[int, str] = {}
        k = 0
        prev = None
        concat: list[int] | None = None
        for i in range(n_layers):
            grp = lay[str(i)]
            typ = _s(grp["type"])
            if typ == "concat":
                concat = [int(v) for v in grp["layers"][()]]
                continue
            name = names[k]
            k += 1
            shape = tuple(int(v) for v in grp["shape"][()])
            st = nodes.get(name, {}).get("state_exp", 0)
            if name == g.readout_name:
                b = ours["readoutBias"][()]
                node = ReadoutNode(shape, np.zeros(shape[0]), b, float(ours.attrs["readout_scale"]))
            else:
                src = host if typ == "input" else grp
                b = grp["biasState"][()] if "biasState" in grp else np.zeros(shape[0], np.int64)
                unit = int(src["thetaUnit"][()]) if "thetaUnit" in src else 1 << int(st)
                scale = float(src["scale"][()]) if "scale" in src else float(unit)
                # one threshold: theta_unit = theta1, so node.scale = unit / theta1 = scale
                node = NeuronNode(shape, np.zeros(shape[0]), n_thresholds=1, theta1=unit / scale)
                node.bias_int = np.asarray(b, np.int64)
                node.theta_unit_int = unit
            g.add_node(name, node)
            ids[i] = name
            if typ == "input":
                w = host["weight"][()]
                edge = ConvEdge(
                    weight=w, padding=int(host["padding"][()]), stride=int(host["stride"][()]),
                    static=True, delay=0,
                )  # fmt: skip
                node.bias = np.asarray(host["bias"][()], float)
                g.add_edge(g.input_name, name, edge)
            else:
                srcs = [ids[j] for j in concat] if concat is not None else [prev]
                _add_edges(g, grp, typ, srcs, name)
            concat = None
            prev = name
    return g


def _add_edges(g: SpikingGraph, grp, typ: str, srcs: list[str], dst: str) -> None:
    exps = [int(v) for v in grp["wgtExp"][()]]
    delays = [1 + int(v) for v in grp["delay"][()]]
    w = grp["weight"][()]
    k = int(grp["kernelSize"][()][0])
    stride = int(grp["stride"][()][0])
    if typ == "conv":
        pad = int(grp["padding"][()][0])
        c0 = 0
        for j, s in enumerate(srcs):
            c = g.node(s).shape[0]
            m = w[:, c0 : c0 + c].astype(np.int64)
            c0 += c
            e = ConvEdge(weight=m.astype(float), padding=pad, stride=stride, delay=delays[j])
            e.mant, e.exp = m, exps[j]
            g.add_edge(s, dst, e)
    elif typ == "convT":
        m = w.astype(np.int64)
        e = ConvTransposeEdge(
            weight=m.astype(float), stride=stride, padding=int(grp["padding"][()][0]),
            output_padding=int(grp["outputPadding"][()][0]), delay=delays[0],
        )  # fmt: skip
        e.mant, e.exp = m, exps[0]
        g.add_edge(srcs[0], dst, e)
    elif typ == "pool":
        e = AvgPoolEdge(weight=float(w), kernel=k, delay=delays[0])
        e.mant, e.exp = np.asarray(int(w), np.int64), exps[0]
        g.add_edge(srcs[0], dst, e)
    else:
        raise ValueError(f"unknown layer type {typ!r}")


def settled_steps_of(path: str | Path) -> int:
    """``simulation/tSample`` of the file (= settle steps)."""
    with h5py.File(path, "r") as f:
        return int(f["simulation"]["tSample"][()])
