"""Core mapping onto hardware profiles: exact block resources, limits, refusals, latency."""

from __future__ import annotations

import re
from pathlib import Path

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
    GraphMeta,
    InputNode,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)
from lava_spikingunet.hw.mapping import (
    check_deployable,
    deployment_problems,
    latency,
    map_graph,
)
from lava_spikingunet.hw.profiles import PROFILES_DIR, load_profile
from lava_spikingunet.profiling.synops import fanin_map


def tiny_graph() -> SpikingGraph:
    """input 1x4x4 -(static 3x3)-> n1 1x4x4 -(3x3 p1)-> n2 2x4x4 -(pool)-> n3 2x2x2
    -(convT)-> n4 1x4x4 -(1x1)-> head."""
    g = SpikingGraph(GraphMeta(timesteps=2))
    g.add_node("input", InputNode((1, 4, 4)))
    for name, shape in (("n1", (1, 4, 4)), ("n2", (2, 4, 4)), ("n3", (2, 2, 2)), ("n4", (1, 4, 4))):
        g.add_node(name, NeuronNode(shape, np.zeros(shape[0])))
    g.add_node("head", ReadoutNode((1, 4, 4), np.zeros(1)))
    g.add_edge("input", "n1", ConvEdge(weight=np.ones((1, 1, 3, 3)), padding=1, static=True))
    g.add_edge("n1", "n2", ConvEdge(weight=np.ones((2, 1, 3, 3)), padding=1))
    g.add_edge("n2", "n3", AvgPoolEdge(weight=0.25))
    g.add_edge("n3", "n4", ConvTransposeEdge(weight=np.ones((2, 1, 3, 3))))
    g.add_edge("n4", "head", ConvEdge(weight=np.ones((1, 1, 1, 1))))
    return g


def custom_profile(tmp_path: Path, **changes) -> object:
    """loihi2.toml with ``key = value`` lines replaced (first match of each key)."""
    text = (PROFILES_DIR / "loihi2.toml").read_text()
    text = text.replace('"_paper_energy.toml"', "{ ac_pj = 0.9, mac_pj = 4.6 }")
    for key, value in changes.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, key
    path = tmp_path / "custom.toml"
    path.write_text(text)
    return load_profile(path)


def small_unet_graph(width=4, depth=2, h=8, w=8):
    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=1, base_width=width, depth=depth))
    return unet_to_graph(unet, h, w, timesteps=4)


def test_tiny_blocks_by_hand(tmp_path):
    """n2 (2x4x4) on cores of 16 compartments: two blocks of 2 rows x 2 channels x 4 cols."""
    p = custom_profile(tmp_path, neurons=16)
    m = map_graph(tiny_graph(), p, "graded", "dense")
    n2 = next(lay for lay in m.layers if lay.name == "n2")
    assert [u.block.y for u in n2.cores] == [(0, 2), (2, 4)]
    u = n2.cores[0]
    # fan-in per target from n1 (1 channel, 3x3, padding 1): rows 0..1 reach 2 and 3 source
    # rows, the 4 columns 2 + 3 + 3 + 2 = 10 source columns; 2 target channels
    assert u.synapses == 2 * (2 + 3) * 10
    assert u.fanin_axons == 1 * 3 * 4  # distinct sources: source rows 0..2, all columns
    assert u.synaptic_bytes == 100  # 8-bit mantissas
    # cascade: 5 compartments per neuron; every source has N = 4 stage axons
    p2 = custom_profile(tmp_path, neurons=80)
    n2c = next(lay for lay in map_graph(tiny_graph(), p2, "cascade", "dense").layers
               if lay.name == "n2")  # fmt: skip
    assert n2c.compartments_per_neuron == 5 and n2c.cores[0].compartments == 80
    assert n2c.cores[0].synapses == 4 * 100 and n2c.cores[0].fanin_axons == 4 * 12
    # shared weights: each core stores the kernel slice of its channels (C_in k k per channel)
    shared = map_graph(tiny_graph(), p, "graded", "shared")
    assert next(lay for lay in shared.layers if lay.name == "n2").cores[0].synaptic_bytes == 18


def test_dense_synapses_equal_fanin_maps():
    """The mapping's separable counts equal the profiler's torch fan-in maps, per layer."""
    g = small_unet_graph(h=8, w=16)
    m = map_graph(g, load_profile("loihi2"), "graded", "dense")
    for lay in m.layers:
        want = sum(
            int(fanin_map(e, g.node(s).shape).sum())
            for s, e in g.in_edges(lay.name)
            if s != g.input_name
        )
        assert lay.synapses == want, lay.name
        assert sum(u.block.neurons for u in lay.cores) == lay.neurons


@pytest.mark.parametrize("per_core", [100, 20, 6])  # rows; channel groups; column runs
def test_layers_split_over_cores_and_chips(tmp_path, per_core):
    p = custom_profile(tmp_path, neurons=per_core, cores=4)
    g = small_unet_graph()
    m = map_graph(g, p, "graded")
    s = m.summary()
    for lay in m.layers:
        assert all(u.compartments <= per_core for u in lay.cores)
        assert lay.compartments == lay.neurons
        # blocks tile the layer exactly once
        seen = np.zeros(g.node(lay.name).shape, dtype=int)
        for u in lay.cores:
            b = u.block
            seen[b.c[0] : b.c[1], b.y[0] : b.y[1], b.x[0] : b.x[1]] += 1
        assert (seen == 1).all(), lay.name
    assert s["chips"] == -(-s["cores"] // 4) and s["cores"] == sum(x["cores"] for x in s["layers"])
    assert 0 < s["compartment_util"] <= 1


def test_model_too_big_is_refused_with_layer_named(tmp_path):
    g = small_unet_graph()
    # enc0.c2: an interior neuron has 4 channels x 9 taps = 36 synapses of 8 bits (border
    # neurons 16 or 24: they would fit)
    p = custom_profile(tmp_path, synaptic_memory_bytes=30)
    with pytest.raises(UserError, match=r"layer 'enc0.c2'.*36 bytes of synaptic memory > 30"):
        map_graph(g, p, "graded", "dense")
    # loihi1: 4096 input axons per core; a 3x3 conv from 128 channels in the cascade form
    # needs 128 * 9 * 4 = 4608 for one neuron
    big = small_unet_graph(width=16, depth=4, h=32, w=32)  # enc3 at 4x4: interior neurons
    with pytest.raises(UserError, match=r"layer 'enc3.c2'.*4608 input axons > 4096"):
        map_graph(big, load_profile("loihi1"), "cascade")


def test_loihi1_refuses_graded():
    g = small_unet_graph()
    with pytest.raises(UserError, match="no graded spikes.*cascade"):
        map_graph(g, load_profile("loihi1"), "graded")
    m = map_graph(g, load_profile("loihi1"), "cascade")
    assert all(lay.compartments_per_neuron in (1, 5) for lay in m.layers)


def test_latency():
    g = small_unet_graph()
    p = load_profile("loihi1")
    lat = latency(g, p)
    from lava_spikingunet.graph.timing import pipeline_depth

    assert lat["steps_per_frame"] == pipeline_depth(g) + 4
    assert lat["frame_us"] == pytest.approx(lat["steps_per_frame"] * 10.0)


@pytest.fixture(scope="module")
def quantized():
    from lava_spikingunet.fixed_point.quantize import quantize_graph

    return quantize_graph(small_unet_graph(), "loihi2")


def test_deployment_checks(quantized):
    p = load_profile("loihi2")
    assert deployment_problems(quantized, p, "graded") == []
    check_deployable(quantized, p, "graded")
    bad = quantized.copy()
    bad.edge("enc0.c1", "enc0.c2").delay = 63
    bad.edge("enc0.c2", "pool1").mant = np.int64(300)
    problems = deployment_problems(bad, p, "graded")
    assert any("enc0.c1->enc0.c2: delay 63 > max delay 62" in x for x in problems)
    assert any("enc0.c2->pool1: weight mantissas" in x for x in problems)
    with pytest.raises(UserError, match="does not fit loihi2"):
        check_deployable(bad, p, "graded")
    with pytest.raises(UserError, match="not quantized"):
        check_deployable(small_unet_graph(), p, "graded")
    with pytest.raises(UserError, match="no graded spikes"):
        check_deployable(quantized, load_profile("loihi1"), "graded")
    check_deployable(quantized, load_profile("loihi1"), "cascade")


def test_fanin_limit_tiles_in_two_dimensions():
    """Under the fan-in limit a conv layer maps to square tiles of all its channels (the
    input axons grow with the tile's area plus its halo), not one channel-row per core."""
    from pathlib import Path

    from lava_spikingunet.backends.netx import load_netx
    from lava_spikingunet.hw.mapping import map_graph
    from lava_spikingunet.hw.profiles import load_profile

    h5 = Path(__file__).resolve().parents[1] / "netx_exports" / "drive-t1" / "model.h5"
    g = load_netx(h5).resized(64, 64)
    profile = load_profile("loihi2")
    limited = map_graph(g, profile, "graded")
    free = map_graph(g, profile, "graded", fanin_limit=10**9)
    assert free.cores < limited.cores <= 6 * free.cores  # was 79x with 1-D tiles


def fanin_graph(c_src: int = 10, size: int = 1, kernel: int = 1) -> SpikingGraph:
    """input -(static)-> n1 (c_src x s x s) -(k x k conv)-> n2 (2 x s x s) -(1x1)-> head:
    one n2 neuron needs ``c_src * k * k`` input axons (interior)."""
    g = SpikingGraph(GraphMeta(timesteps=2))
    g.add_node("input", InputNode((1, size, size)))
    g.add_node("n1", NeuronNode((c_src, size, size), np.zeros(c_src)))
    g.add_node("n2", NeuronNode((2, size, size), np.zeros(2)))
    g.add_node("head", ReadoutNode((1, size, size), np.zeros(1)))
    g.add_edge("input", "n1", ConvEdge(weight=np.ones((c_src, 1, 1, 1)), static=True))
    pad = kernel // 2
    g.add_edge("n1", "n2", ConvEdge(weight=np.ones((2, c_src, kernel, kernel)), padding=pad))
    g.add_edge("n2", "head", ConvEdge(weight=np.ones((1, 2, 1, 1))))
    return g


def test_fanin_over_the_limit_is_split_over_partial_sum_neurons():
    """One n2 neuron needs 10 input axons; under a limit of 4 its 10 source channels are
    cut into 3 groups (4 + 4 + 2 axons), each a layer of partial-sum neurons on a core of
    its own, and n2's summing neurons take 3 graded axons each: 3 more cores and one more
    step of latency. More groups would only add cores (one core per group at 1x1)."""
    from lava_spikingunet.graph.timing import pipeline_depth
    from lava_spikingunet.hw.mapping import edge_structure, neuron_fanin, split_fanin

    g, p = fanin_graph(), load_profile("loihi2")
    with pytest.raises(UserError, match=r"layer 'n2'.*40 input axons > 4 .*graded spikes"):
        map_graph(g, load_profile("loihi1"), "cascade", fanin_limit=4)  # binary only, N = 4
    m = map_graph(g, p, "graded", fanin_limit=4)
    n2 = next(lay for lay in m.layers if lay.name == "n2")
    assert n2.partial_groups == 3 and n2.partial_cores == 3
    assert [u.fanin_axons for grp in n2.partials for u in grp] == [4, 4, 2]
    # one graded axon per partial-sum neuron: 2 channels x 3 > 4, so a core per channel
    assert [u.fanin_axons for u in n2.cores] == [3, 3]
    assert m.cores == 1 + (3 + 2) + 1 and m.extra_steps == 1 and m.split_layers == {"n2": 3}
    s = m.summary()
    assert s["fanin_split"] == {"layers": {"n2": 3}, "partial_cores": 3, "extra_steps": 1}
    assert s["layers"][1]["partial_groups"] == 3 and s["layers"][1]["fanin_axons_max"] == 4
    lat = latency(g, p, mapping=m)
    assert lat["pipeline_depth"] == pipeline_depth(g) + 1 == latency(g, p)["pipeline_depth"] + 1
    # the groups cover every source channel once, in order, each within the limit
    structs = [edge_structure(g, "n1", g.edge("n1", "n2"), "graded")]
    assert neuron_fanin(structs) == 10
    groups = split_fanin(structs, 4)
    assert [grp[0].channels.shape[1] for grp in groups] == [4, 4, 2]
    assert all(neuron_fanin(grp) <= 4 for grp in groups)
    # 3x3 taps in the cascade form (N = 4 axons per source): 10 * 9 * 4 = 360 per neuron
    big = fanin_graph(size=6, kernel=3)
    mc = map_graph(big, p, "cascade", fanin_limit=200)
    assert mc.split_layers["n2"] >= 2 and mc.extra_steps == 1
    assert all(u.fanin_axons <= 200 for lay in mc.layers for u in lay._all())


def test_fanin_below_the_limit_changes_nothing():
    """At or under the limit no layer is split: the same cores as the plain tiler's."""
    from lava_spikingunet.hw.mapping import _LayerCost, edge_structure, tile_layer

    g, p = fanin_graph(size=6, kernel=3), load_profile("loihi2")
    m = map_graph(g, p, "graded", fanin_limit=90)  # one n2 neuron: exactly 90 axons
    assert m.split_layers == {} and m.extra_steps == 0 and m.partial_cores == 0
    assert all(lay.partial_groups == 1 and not lay.partials for lay in m.layers)
    assert m.summary()["fanin_split"] == {"layers": {}, "partial_cores": 0, "extra_steps": 0}
    structs = [edge_structure(g, "n1", g.edge("n1", "n2"), "graded")]
    limited = map_graph(g, p, "graded", fanin_limit=90).profile
    plain = tile_layer("n2", (2, 6, 6), _LayerCost(structs, 1, 8, "shared"), limited)
    n2 = next(lay for lay in m.layers if lay.name == "n2")
    assert n2.cores == plain
    assert latency(g, p, mapping=m) == latency(g, p)


def test_profile_latency_counts_the_fanin_split_steps(tmp_path, quantized):
    """``profile`` (the library call behind ``spikingunet profile``) adds the partial-sum
    steps of the mapped form's fan-in splits to the pipeline depth, as ``deploy`` does."""
    from lava_spikingunet.graph.timing import pipeline_depth
    from lava_spikingunet.pipeline.profile import profile

    text = (PROFILES_DIR / "loihi2.toml").read_text()
    text = text.replace('"_paper_energy.toml"', "{ ac_pj = 0.9, mac_pj = 4.6 }")
    text = text.replace("[core]\n", "[core]\nmax_fanin_axons = 16\n", 1)
    (tmp_path / "small.toml").write_text(text)
    small = load_profile(tmp_path / "small.toml")
    frame = np.random.default_rng(0).random((1, 8, 8))
    rep = profile(quantized, frame, small, "graded").report
    extra = rep["mapping"]["graded"]["fanin_split"]["extra_steps"]
    assert extra >= 1
    assert rep["latency"]["pipeline_depth"] == pipeline_depth(quantized) + extra
    plain = profile(quantized, frame, "loihi2", "graded").report
    assert plain["latency"]["pipeline_depth"] == pipeline_depth(quantized)
