"""The graph IR (shapes, one edge per synaptic connection, cycles) and timing (delays)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.graph.from_unet import unet_to_graph
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
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.graph.timing import (
    balance_delays,
    frame_steps,
    is_balanced,
    max_delay,
    pipeline_depth,
    set_native_delays,
    set_zero_delays,
    start_steps,
)


def _unet(depth: int = 2, width: int = 4, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return UNet(in_channels=1, out_channels=1, base_width=width, depth=depth, residual=True)


def _graph(depth: int = 2, size: int = 16, timesteps: int = 6):
    net = _unet(depth)
    return net, unet_to_graph(net, size, size, timesteps=timesteps)


# --------------------------------------------------------------------------- primitives


def test_node_shape_checks():
    with pytest.raises(ValueError):
        InputNode((1, 0, 4))
    with pytest.raises(ValueError):
        InputNode((1, 4))
    with pytest.raises(ValueError, match="bias"):
        NeuronNode((3, 4, 4), np.zeros(2))
    with pytest.raises(ValueError):
        NeuronNode((3, 4, 4), np.zeros(3), n_thresholds=0)
    with pytest.raises(ValueError):
        NeuronNode((3, 4, 4), np.zeros(3), theta1=0.0)
    with pytest.raises(ValueError):
        NeuronNode((3, 4, 4), np.zeros(3), theta_unit_int=0)
    with pytest.raises(ValueError, match="integer"):
        NeuronNode((3, 4, 4), np.zeros(3), bias_int=np.zeros(3))
    with pytest.raises(ValueError):
        ReadoutNode((1, 4, 4), np.zeros(1), scale=0.0)
    n = NeuronNode((2, 4, 4), np.zeros(2), n_thresholds=4, theta1=2.0)
    assert n.theta_unit == 0.25 and n.max_count == 15 and n.scale is None
    n.theta_unit_int = 256
    assert n.scale == 1024.0


def test_edge_shape_checks():
    with pytest.raises(ValueError):
        ConvEdge(weight=np.zeros((2, 3, 3)))
    with pytest.raises(ValueError):
        ConvEdge(weight=np.zeros((2, 3, 3, 2)))
    with pytest.raises(ValueError):
        ConvEdge(weight=np.zeros((2, 3, 3, 3)), delay=-1)
    with pytest.raises(ValueError, match="mant"):
        ConvEdge(weight=np.zeros((2, 3, 3, 3)), mant=np.zeros((2, 3, 1, 1), dtype=int))
    with pytest.raises(ValueError):
        ConvTransposeEdge(weight=np.zeros((2, 3, 3, 3)), output_padding=2)
    conv = ConvEdge(weight=np.zeros((5, 3, 3, 3)), padding=1)
    assert conv.out_shape((3, 8, 6)) == (5, 8, 6)
    with pytest.raises(ValueError, match="channels"):
        conv.out_shape((2, 8, 8))
    assert AvgPoolEdge().out_shape((3, 8, 6)) == (3, 4, 3)
    with pytest.raises(ValueError):
        AvgPoolEdge().out_shape((3, 7, 6))
    up = ConvTransposeEdge(weight=np.zeros((4, 2, 3, 3)))
    assert up.out_shape((4, 5, 3)) == (2, 10, 6)


def _chain() -> SpikingGraph:
    g = SpikingGraph(GraphMeta(readout_node="out"))
    g.add_node("input", InputNode((1, 4, 4)))
    g.add_node("a", NeuronNode((2, 4, 4), np.zeros(2)))
    g.add_node("b", NeuronNode((2, 4, 4), np.zeros(2)))
    g.add_node("out", ReadoutNode((1, 4, 4), np.zeros(1)))
    g.add_edge("input", "a", ConvEdge(weight=np.ones((2, 1, 3, 3)), padding=1, static=True))
    g.add_edge("a", "b", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    g.add_edge("b", "out", ConvEdge(weight=np.ones((1, 2, 1, 1))))
    return g


def test_graph_refuses_bad_edges_and_cycles():
    g = _chain()
    g.validate()
    with pytest.raises(ValueError, match="produces"):
        g.add_edge("a", "out", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    with pytest.raises(ValueError, match="already exists"):
        g.add_edge("a", "b", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    with pytest.raises(ValueError, match="unknown node"):
        g.add_edge("a", "nope", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    with pytest.raises(ValueError, match="input"):
        g.add_edge("a", "input", ConvEdge(weight=np.ones((1, 2, 1, 1))))
    with pytest.raises(ValueError, match="already exists"):
        g.add_node("a", NeuronNode((2, 4, 4), np.zeros(2)))
    n_edges = g.g.number_of_edges()
    with pytest.raises(ValueError, match="cycle"):
        g.add_edge("b", "a", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    assert g.g.number_of_edges() == n_edges and not g.g.has_edge("b", "a")
    g.add_node("c", NeuronNode((2, 4, 4), np.zeros(2)))
    g.add_edge("b", "c", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    with pytest.raises(ValueError, match="cycle"):
        g.add_edge("c", "a", ConvEdge(weight=np.ones((2, 2, 1, 1))))
    with pytest.raises(ValueError, match="feeds nothing"):
        g.validate()


def test_validate_static_rule():
    g = _chain()
    g.edge("a", "b").static = True
    with pytest.raises(ValueError, match="static"):
        g.validate()


# --------------------------------------------------------------------------- U-Net graph


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unet_graph_has_one_edge_per_connection(depth):
    net, g = _graph(depth, size=8 * 2**depth // 2 if depth > 1 else 8)
    g.validate()
    edges = g.edges()
    kinds = [type(e) for _, _, e in edges]
    # enc: 2 convs x (D+1); dec: 2 concat halves + conv2 per level; head: 1.
    assert kinds.count(ConvEdge) == 2 * (depth + 1) + 3 * depth + 1
    assert kinds.count(AvgPoolEdge) == depth
    assert kinds.count(ConvTransposeEdge) == depth
    assert len(edges) == 7 * depth + 3
    assert sum(getattr(e, "static", False) for _, _, e in edges) == 1
    # Neurons: 2 per enc level, pool per down level, up + 2 per dec level.
    assert len(g.neurons()) == 2 * (depth + 1) + depth + 3 * depth
    for i in range(depth):
        ins = g.in_edges(f"dec{i}.c1")
        assert [s for s, _ in ins] == [f"enc{i}.c2", f"up{i}"]
        w = net.dec[i].conv1.weight.detach().double().numpy()
        got = np.concatenate([e.weight for _, e in ins], axis=1) / 0.25  # gain theta_N
        np.testing.assert_allclose(got, w, rtol=1e-12)
        np.testing.assert_allclose(g.node(f"dec{i}.c1").bias, net.dec[i].conv1.bias.detach())


def test_unet_graph_computes_the_unet():
    """Evaluating the graph as an ANN (count = relu(z) / theta_N) gives the U-Net exactly."""
    net, g = _graph(2, size=16)
    net = net.double()
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    z: dict[str, torch.Tensor] = {}
    counts: dict[str, torch.Tensor] = {}
    for n in g.order():
        node = g.node(n)
        if isinstance(node, InputNode):
            counts[n] = x
            continue
        total = torch.as_tensor(node.bias).view(1, -1, 1, 1).clone()
        for src, e in g.in_edges(n):
            total = total + apply_edge(e, counts[src], torch.as_tensor(e.weight))
        z[n] = total
        if isinstance(node, NeuronNode):
            counts[n] = F.relu(total) / node.theta_unit
    with torch.no_grad():
        ref = net.forward_unpadded(x)
    torch.testing.assert_close(z["head"], ref, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- timing


def test_native_zero_and_balanced_delays():
    _, g = _graph(2)
    set_native_delays(g)
    for s, _, e in g.edges():
        assert e.delay == (0 if s == "input" else 1)
    start = start_steps(g)
    assert start["input"] == 0 and start["enc0.c1"] == 0 and start["enc0.c2"] == 1
    # Native: the shortest path enc0.c2 -> dec0.c1 -> dec0.c2 -> head.
    assert pipeline_depth(g) == 4 and frame_steps(g, 10) == 14
    assert not is_balanced(g)
    native = {(s, d): e.delay for s, d, e in g.edges()}
    balance_delays(g)
    assert is_balanced(g)
    for s, d, e in g.edges():
        assert e.delay >= native[s, d]
    # Balanced: the longest path 1 + 3D (down) + 3D (up) + 1 (head).
    assert pipeline_depth(g) == 2 + 6 * 2
    assert g.edge("enc0.c2", "dec0.c1").delay == start_steps(g)["dec0.c1"] - 1
    assert max_delay(g) == g.edge("enc0.c2", "dec0.c1").delay
    set_zero_delays(g)
    assert set(start_steps(g).values()) == {0} and frame_steps(g, 7) == 7


@st.composite
def _random_dag(draw):
    n = draw(st.integers(2, 7))
    g = SpikingGraph(GraphMeta(readout_node=f"n{n}"))
    g.add_node("input", InputNode((1, 2, 2)))
    one = np.ones((1, 1, 1, 1))
    for i in range(1, n + 1):
        node = ReadoutNode((1, 2, 2), np.zeros(1)) if i == n else NeuronNode((1, 2, 2), [0.0])
        g.add_node(f"n{i}", node)
        srcs = draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=3)) if i > 1 else {0}
        for j in sorted(srcs):
            src = "input" if j == 0 else f"n{j}"
            edge = ConvEdge(weight=one, static=j == 0, delay=draw(st.integers(0, 3)))
            g.add_edge(src, f"n{i}", edge)
    return g


@settings(max_examples=60, deadline=None)
@given(_random_dag())
def test_balance_delays_on_random_dags(g):
    before = {(s, d): e.delay for s, d, e in g.edges()}
    # The longest weighted path to each node, by brute force over the DAG.
    longest = {"input": 0}
    for n in g.order()[1:]:
        longest[n] = max(longest[s] + before[s, n] for s, _ in g.in_edges(n))
    balance_delays(g)
    assert is_balanced(g)
    start = start_steps(g)
    for s, d, e in g.edges():
        assert e.delay >= before[s, d]
        assert start[s] + e.delay == start[d]
    assert start == longest
