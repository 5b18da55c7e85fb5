"""Save and load a :class:`SpikingGraph` as a plain ``torch.save`` state.

The state holds only tensors, strings, numbers, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code). Every dataclass field of every
node and edge primitive is stored, so quantized fields (``mant``, ``exp``,
``bias_int``, ``theta_unit_int``, readout ``scale``) travel with the float ones.
Numpy arrays become tensors of the same dtype and come back as numpy arrays.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_spikingunet.errors import UserError
from lava_spikingunet.fileio import atomic_path
from lava_spikingunet.fixed_point.state import QuantState, migrate_meta
from lava_spikingunet.graph.ir import (
    EDGE_TYPES,
    GraphMeta,
    InputNode,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)

FORMAT = "lava-spikingunet/spiking-graph"
VERSION = 1

_NODE_TYPES = {c.__name__: c for c in (InputNode, NeuronNode, ReadoutNode)}
_EDGE_TYPES = {c.__name__: c for c in EDGE_TYPES}
_ARRAY_TAG = "__ndarray__"


def _to_plain(value: Any) -> Any:
    """Numpy arrays -> tagged tensors, numpy scalars -> python, containers recursively."""
    if isinstance(value, np.ndarray):
        return {_ARRAY_TAG: torch.from_numpy(np.array(value, order="C", copy=True))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    raise TypeError(f"cannot serialize a {type(value).__name__}")


def _from_plain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY_TAG}:
            return value[_ARRAY_TAG].numpy().copy()
        return {k: _from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_plain(v) for v in value]
    return value


def _fields(op: Any) -> dict[str, Any]:
    return {f.name: _to_plain(getattr(op, f.name)) for f in dataclasses.fields(op)}


def _meta_fields(meta: GraphMeta) -> dict[str, Any]:
    fields = {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta)}
    if meta.quant is None:
        del fields["quant"]  # what files before QuantState held
    else:
        fields["quant"] = meta.quant.to_dict()
    return _to_plain(fields)


def meta_from_plain(fields: dict[str, Any]) -> GraphMeta:
    """A :class:`GraphMeta` from plain fields, a legacy ``extra["fixed_point"]`` dict
    moved into ``quant``."""
    fields = dict(fields)
    quant = fields.pop("quant", None)
    meta = GraphMeta(**fields)
    if quant is not None:
        meta.quant = QuantState.from_dict(quant)
    return migrate_meta(meta)


def graph_to_state(graph: SpikingGraph) -> dict:
    """A ``weights_only``-loadable dict describing ``graph`` completely."""
    nodes = [
        {"name": n, "type": type(graph.node(n)).__name__, "fields": _fields(graph.node(n))}
        for n in graph.nodes()
    ]
    edges = [
        {"src": s, "dst": d, "type": type(e).__name__, "fields": _fields(e)}
        for s, d, e in graph.edges()
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "meta": _meta_fields(graph.meta),
        "nodes": nodes,
        "edges": edges,
    }


def graph_from_state(state: dict) -> SpikingGraph:
    """Rebuild a graph from :func:`graph_to_state` output; ValueError if malformed."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} state")
    if state.get("version") != VERSION:
        raise ValueError(f"unsupported {FORMAT} version {state.get('version')!r}")
    try:
        graph = SpikingGraph(meta_from_plain(_from_plain(state["meta"])))
        for item in state["nodes"]:
            cls = _NODE_TYPES.get(item["type"])
            if cls is None:
                raise ValueError(f"unknown node type {item['type']!r}")
            graph.add_node(item["name"], cls(**_from_plain(item["fields"])))
        for item in state["edges"]:
            cls = _EDGE_TYPES.get(item["type"])
            if cls is None:
                raise ValueError(f"unknown edge type {item['type']!r}")
            graph.add_edge(item["src"], item["dst"], cls(**_from_plain(item["fields"])))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {FORMAT} state: {type(exc).__name__}: {exc}") from exc
    graph.validate()
    return graph


def save_graph(path: str | os.PathLike, graph: SpikingGraph, overwrite: bool = False) -> Path:
    """Write ``graph`` to ``path`` atomically (refuses to replace a file unless ``overwrite``)."""
    state = graph_to_state(graph)
    with atomic_path(path, overwrite) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_graph(path: str | os.PathLike) -> SpikingGraph:
    """Read a graph written by :func:`save_graph`; UserError on a missing or bad file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (expected a Spiking-UNet graph .pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise UserError(f"{path}: not a readable Spiking-UNet graph file ({exc})") from exc
    try:
        return graph_from_state(state)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from exc
