"""Round trip of a SpikingGraph through save_graph / load_graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.errors import UserError
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    InputNode,
    NeuronNode,
    ReadoutNode,
)
from lava_spikingunet.graph.serialize import (
    graph_from_state,
    graph_to_state,
    load_graph,
    save_graph,
)


def _quantized_graph():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=2, base_width=2, depth=1, head_kernel=1))
    graph = unet_to_graph(unet, 8, 8, {"enc0.c2": 0.5}, n_thresholds=3, theta1=1.0)
    rng = np.random.default_rng(0)
    for i, n in enumerate(graph.g.nodes):
        op = graph.node(n)
        if isinstance(op, NeuronNode):
            op.bias_int = rng.integers(-100, 100, op.bias.shape)
            op.theta_unit_int = 2 ** (i % 5 + 3)
        elif isinstance(op, ReadoutNode):
            op.bias_int = rng.integers(-100, 100, op.bias.shape)
            op.scale = 1234.5
    for j, (_, _, e) in enumerate(graph.edges()):
        if not getattr(e, "static", False):
            e.mant = rng.integers(-128, 128, np.shape(e.weight))
            e.exp = j - 4
            e.delay = j % 3
    graph.meta.neuron_form = "cascade"
    graph.meta.extra.update(
        note="round trip", arr=np.arange(3, dtype=np.int32), nested={"x": [1, 2.5, None]}
    )
    return graph


def _assert_same(a, b):
    assert list(a.g.nodes) == list(b.g.nodes)
    assert [(s, d) for s, d, _ in a.edges()] == [(s, d) for s, d, _ in b.edges()]
    assert a.meta.task == b.meta.task and a.meta.timesteps == b.meta.timesteps
    assert a.meta.neuron_form == b.meta.neuron_form
    assert a.meta.extra["note"] == b.meta.extra["note"]
    assert a.meta.extra["nested"] == b.meta.extra["nested"]
    np.testing.assert_array_equal(a.meta.extra["arr"], b.meta.extra["arr"])
    assert b.meta.extra["arr"].dtype == np.int32
    assert a.meta.extra["lambdas"] == b.meta.extra["lambdas"]
    pairs = [(a.node(n), b.node(n)) for n in a.g.nodes]
    pairs += [(ea, eb) for (_, _, ea), (_, _, eb) in zip(a.edges(), b.edges(), strict=True)]
    for x, y in pairs:
        assert type(x) is type(y)
        for f in x.__dataclass_fields__:
            vx, vy = getattr(x, f), getattr(y, f)
            if isinstance(vx, np.ndarray):
                assert vx.dtype == vy.dtype
                np.testing.assert_array_equal(vx, vy)
            else:
                assert vx == vy, f


def test_round_trip_every_type(tmp_path):
    graph = _quantized_graph()
    node_types = {type(graph.node(n)) for n in graph.g.nodes}
    edge_types = {type(e) for _, _, e in graph.edges()}
    assert node_types == {InputNode, NeuronNode, ReadoutNode}
    assert edge_types == {ConvEdge, AvgPoolEdge, ConvTransposeEdge}
    assert any(e.static for _, _, e in graph.edges() if isinstance(e, ConvEdge))
    assert graph.is_quantized

    _assert_same(graph, graph_from_state(graph_to_state(graph)))
    path = save_graph(tmp_path / "m.pt", graph)
    loaded = load_graph(path)
    _assert_same(graph, loaded)
    assert loaded.is_quantized
    # the file is plain data: it loads with weights_only=True
    torch.load(path, weights_only=True)


def test_refuses_overwrite_and_bad_files(tmp_path):
    graph = _quantized_graph()
    path = save_graph(tmp_path / "m.pt", graph)
    with pytest.raises(UserError, match="overwrite"):
        save_graph(path, graph)
    save_graph(path, graph, overwrite=True)
    with pytest.raises(UserError, match="no such file"):
        load_graph(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable"):
        load_graph(bad)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(UserError, match="not a lava-spikingunet"):
        load_graph(other)
    state = graph_to_state(graph)
    state["edges"][0]["fields"]["weight"] = {"__ndarray__": torch.zeros(2, 2)}
    torch.save(state, bad)
    with pytest.raises(UserError, match="conv weight"):
        load_graph(bad)
