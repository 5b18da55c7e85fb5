"""Synaptic-op counting: hand-computed fan-outs with stride and padding, both neuron forms,
the brute-force counter, energies, the report and the ``profile`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
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
from lava_spikingunet.hw.profiles import load_profile
from lava_spikingunet.profiling import brute_force_synops, count_synops, fanout_map, popcount
from lava_spikingunet.profiling.report import build_report, format_table, write_json
from lava_spikingunet.profiling.synops import events, fanin_map, graph_ann_macs

# --------------------------------------------------------------------------- tiny network


def tiny_graph() -> SpikingGraph:
    """input 1x4x4 -(3x3 p1, static)-> n1 1x4x4 -(3x3 p1)-> n2 2x4x4 -(pool 2)-> n3 2x2x2
    -(convT k3 s2 p1 op1)-> n4 1x4x4 -(1x1)-> head 1x4x4."""
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
    g.validate()
    return g


def tiny_counts() -> dict[str, np.ndarray]:
    """Hand-placed spike counts, (T_total=2, B=1, C, H, W)."""
    c = {n: np.zeros((2, 1, *s), dtype=np.uint8) for n, s in
         (("n1", (1, 4, 4)), ("n2", (2, 4, 4)), ("n3", (2, 2, 2)), ("n4", (1, 4, 4)))}  # fmt: skip
    c["n1"][0, 0, 0, 0, 0] = 3  # corner: 4 taps x 2 channels; popcount 2
    c["n1"][1, 0, 0, 1, 1] = 1  # centre: 9 x 2
    c["n1"][1, 0, 0, 0, 2] = 6  # edge: 6 x 2; popcount 2
    c["n2"][0, 0, 1, 3, 3] = 15  # pool: 1 target; popcount 4
    c["n2"][1, 0, 0, 0, 0] = 2  # popcount 1
    c["n3"][1, 0, 0, 0, 0] = 5  # convT from (0, 0): rows {0, 1} x cols {0, 1} = 4; popcount 2
    c["n3"][1, 0, 1, 1, 1] = 1  # convT from (1, 1): rows {1, 2, 3} x cols {1, 2, 3} = 9
    c["n4"][0, 0, 0, 2, 1] = 4  # 1x1 readout: 1 target
    c["n4"][1, 0, 0, 2, 1] = 3  # popcount 2
    return c


# Expected by hand (see tiny_counts): graded = events x fan-out, cascade = popcount x fan-out,
# virtual = k x fan-out (one binary spike per virtual sub-step the neuron fires on).
HAND = {
    "n1->n2": {"graded": 8 + 18 + 12, "cascade": 2 * 8 + 18 + 2 * 12, "virtual": 24 + 18 + 72},
    "n2->n3": {"graded": 2, "cascade": 4 + 1, "virtual": 15 + 2},
    "n3->n4": {"graded": 4 + 9, "cascade": 2 * 4 + 9, "virtual": 5 * 4 + 9},
    "n4->head": {"graded": 2, "cascade": 1 + 2, "virtual": 4 + 3},
}
TOTAL = {"graded": 55, "cascade": 83, "virtual": 167}


def test_fanout_maps_by_hand():
    g = tiny_graph()
    conv = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    fan = fanout_map(g.edge("n1", "n2"), (1, 4, 4)).numpy()
    np.testing.assert_array_equal(fan[0], 2 * conv)  # 2 output channels
    np.testing.assert_array_equal(fanout_map(g.edge("n2", "n3"), (2, 4, 4)).numpy(), 1)
    convt = np.array([[4, 6], [6, 9]])  # per axis: source 0 reaches 2 rows, source 1 three
    fan_t = fanout_map(g.edge("n3", "n4"), (2, 2, 2)).numpy()
    np.testing.assert_array_equal(fan_t, np.stack([convt, convt]))
    # fan-in of the conv: the same border pattern on the target side, 1 input channel
    np.testing.assert_array_equal(fanin_map(g.edge("n1", "n2"), (1, 4, 4)).numpy()[1], conv)
    # convT fan-in: every target of a 4x4 output from a 2x2 input, 2 input channels
    fin_t = fanin_map(g.edge("n3", "n4"), (2, 2, 2)).numpy()[0]
    rows = np.array([1, 2, 1, 1])  # target row o reached by sources i with 2i - 1 + ky = o
    np.testing.assert_array_equal(fin_t, 2 * np.outer(rows, rows))


def test_tiny_network_synops_by_hand():
    g = tiny_graph()
    res = count_synops(g, tiny_counts())
    got = {f"{e.src}->{e.dst}": e.synops for e in res.edges}
    assert got == HAND
    assert {f"{e.src}->{e.dst}": e.synapses for e in res.edges} == {
        "n1->n2": 2 * 100,  # 4 corners x 4 + 8 edges x 6 + 4 centres x 9 = 100 per channel
        "n2->n3": 32,
        "n3->n4": 2 * 25,
        "n4->head": 16,
    }
    assert res.synops("graded") == sum(v["graded"] for v in HAND.values()) == 55
    assert res.synops("cascade") == sum(v["cascade"] for v in HAND.values()) == 83
    assert res.synops("virtual") == sum(v["virtual"] for v in HAND.values()) == 167
    assert res.input_macs == 16 * 9  # the static conv, dense, on the host
    n2 = res.layers["n2"]
    assert n2.spike_count == 17 and n2.events == {"graded": 2, "cascade": 5, "virtual": 17}
    assert n2.stage_spikes == [1, 1, 2, 1]  # 15 = 1111b, 2 = 0010b (stage 3 is bit 1)
    assert n2.synops_in == HAND["n1->n2"] and n2.synops_out == HAND["n2->n3"]
    assert res.layers["head"].synops_in == HAND["n4->head"]
    np.testing.assert_array_equal(res.synops_per_step("graded"), [8 + 1 + 1, 30 + 1 + 13 + 1])
    np.testing.assert_array_equal(res.synops_per_step("virtual"), [24 + 15 + 4, 90 + 2 + 29 + 3])
    assert brute_force_synops(g, tiny_counts()) == {**HAND, "total": TOTAL}


def test_popcount_and_events():
    k = torch.arange(16)
    assert popcount(k, 4).tolist() == [bin(i).count("1") for i in range(16)]
    assert events(k, "graded", 4).tolist() == [0] + [1] * 15
    assert events(k, "virtual", 4).tolist() == list(range(16))  # k sub-step spikes
    with pytest.raises(ValueError):
        popcount(torch.tensor([16]), 4)
    with pytest.raises(ValueError):
        events(k, "spiky", 4)


def test_nonzero_synapses_skip_zero_weights():
    g = tiny_graph()
    w = np.ones((2, 1, 3, 3))
    w[1] = 0.0  # the second output channel has no synapses
    w[0, 0, 0, 0] = 0.0  # tap (ky, kx) = (0, 0) reaches target (y + 1, x + 1)
    g.edge("n1", "n2").weight = w
    fan = fanout_map(g.edge("n1", "n2"), (1, 4, 4), nonzero=True).numpy()[0]
    conv = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    lost = np.zeros((4, 4), dtype=int)
    lost[:3, :3] = 1  # sources whose target (y + 1, x + 1) exists
    np.testing.assert_array_equal(fan, conv - lost)
    counts = tiny_counts()
    res = count_synops(g, counts, nonzero=True)
    bf = brute_force_synops(g, counts, nonzero=True)
    assert {f"{e.src}->{e.dst}": e.synops for e in res.edges} == {
        k: v for k, v in bf.items() if k != "total"
    }
    assert res.edges[0].synops["graded"] == 3 + 8 + 5  # corner 4-1, centre 9-1, edge 6-1
    assert res.edges[0].synops["virtual"] == 3 * 3 + 1 * 8 + 6 * 5


def test_counts_shape_checked():
    g = tiny_graph()
    counts = tiny_counts()
    counts["n2"] = counts["n2"][:, :, :1]
    with pytest.raises(ValueError, match="n2"):
        count_synops(g, counts)
    del counts["n2"]
    with pytest.raises(ValueError, match="no recorded counts for n2"):
        count_synops(g, counts)


# --------------------------------------------------------------------------- U-Net graphs


@pytest.fixture(scope="module")
def unet_run():
    """A quantized random U-Net run on the integer reference with spike recording."""
    from lava_spikingunet.fixed_point.quantize import quantize_graph
    from lava_spikingunet.profiling.record import record_spikes

    torch.manual_seed(0)
    unet = UNet(UNetConfig(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True))
    graph = unet_to_graph(unet, 8, 12, timesteps=5)
    x = torch.rand(2, 1, 8, 12) * 2
    q = quantize_graph(graph, "loihi2", calib=x)
    return unet, q, x, record_spikes(q, x)


def test_profiler_matches_brute_force_on_reference_spikes(unet_run):
    _, q, _, rec = unet_run
    assert rec.source == "integer reference"
    counts = {n: k.numpy() for n, k in rec.counts.items()}
    assert sum(int(k.sum()) for k in counts.values()) > 0
    for nonzero in (False, True):
        res = count_synops(q, rec.counts, nonzero=nonzero)
        bf = brute_force_synops(q, counts, nonzero=nonzero)
        got = {f"{e.src}->{e.dst}": e.synops for e in res.edges}
        assert got == {k: v for k, v in bf.items() if k != "total"}
        assert {f: res.synops(f) for f in TOTAL} == bf["total"]
    assert res.synops("virtual") >= res.synops("cascade") >= res.synops("graded")


def test_ann_macs_match_unet(unet_run):
    unet, q, _, _ = unet_run
    assert graph_ann_macs(q) == unet.count_macs(8, 12)


def test_report_energies_and_json(unet_run, tmp_path):
    _, q, _, rec = unet_run
    p = load_profile("loihi2")
    res = count_synops(q, rec.counts)
    rep = build_report(rec.graph, res, p, source=rec.source)
    fr = rep["frame"]
    assert rep["frames"] == 2 and rep["total_steps"] == rec.total_steps
    for form in ("graded", "cascade"):
        synops = res.synops(form) / 2
        updates = res.neuron_updates(form) / 2
        assert fr[form]["synops"] == pytest.approx(synops)
        assert fr[form]["energy_uj"] == pytest.approx((synops * 23.6 + updates * 52.0) / 1e6)
        paper = 0.9 * synops + 4.6 * res.input_macs
        assert fr[form]["paper_snn_energy_uj"] == pytest.approx(paper / 1e6)
        assert sum(r[f"synops_{form}"] for r in rep["layers"]) == pytest.approx(synops)
    assert fr["paper_ann_energy_uj"] == pytest.approx(4.6 * graph_ann_macs(q) / 1e6)
    # cascade: N + 1 compartments per neuron, graded 1; the readout 1 either way
    neurons = sum(int(np.prod(q.node(n).shape)) for n in q.neurons())
    steps = rec.total_steps
    assert res.neuron_updates("graded") == 2 * steps * (neurons + 8 * 12)
    assert res.neuron_updates("cascade") == 2 * steps * (5 * neurons + 8 * 12)
    text = format_table(rep)
    assert "enc0.c2" in text and "head" in text and "per frame" in text
    write_json(rep, tmp_path / "p.json")
    back = json.loads((tmp_path / "p.json").read_text())
    assert back["frame"]["graded"]["synops"] == fr["graded"]["synops"]


@pytest.mark.lava
@pytest.mark.slow
def test_profiler_on_lava_recorded_spikes(unet_run, no_leftover_processes):
    """Profiler == brute force on spikes recorded in a Lava run (== the reference's)."""
    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.reference.input_current import input_current

    _, q, x, rec = unet_run
    frames = x[:1]
    res = run_lava(q, input_current(q, frames.numpy()), form="cascade", record=True)
    counts = {n: k[:, None] for n, k in res.spikes.items()}  # one frame: (steps, 1, C, H, W)
    bf = brute_force_synops(q, counts)
    prof = count_synops(q, counts)
    assert {f: prof.synops(f) for f in TOTAL} == bf["total"]
    ref = count_synops(q, {n: k[:, :1] for n, k in rec.counts.items()})
    assert prof.synops("cascade") == ref.synops("cascade")


# --------------------------------------------------------------------------- command


@pytest.fixture(scope="module")
def model_files(unet_run, tmp_path_factory):
    from PIL import Image

    from lava_spikingunet.backends.netx import export_netx

    _, q, _, _ = unet_run
    d = tmp_path_factory.mktemp("profile")
    export_netx(q, d / "m.h5", include_float=True)
    img = (np.random.default_rng(0).random((8, 12)) * 255).astype(np.uint8)
    Image.fromarray(img).save(d / "img.png")
    return d


def test_profile_command_writes_json_and_figures(model_files, capsys):
    from lava_spikingunet.cli import main

    d = model_files
    out = d / "out"
    argv = ["profile", str(d / "m.h5"), "--image", str(d / "img.png"), "--out", str(out)]
    rc = main([*argv, "--layer", "enc1.c1", "--compare", str(d / "m.h5")])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "synops" in text and "latency" in text and "mapping cascade" in text
    for name in ("profile.json", "layers.png", "raster_enc1.c1.png", "activation_vs_rate.png"):
        assert (out / name).stat().st_size > 0
    rep = json.loads((out / "profile.json").read_text())
    assert rep["frame"]["graded"]["synops"] > 0 and rep["mapping"]["graded"]["cores"] >= 15
    assert main(argv) == 2  # files exist: refused without --overwrite


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--hw", "loihi1", "--form", "graded"], "no graded spikes"),
        (["--layer", "nope"], "no neuron layer 'nope'"),
        (["--hw", "loihi9"], "unknown hardware profile"),
    ],
)
def test_profile_command_bad_input(model_files, capsys, extra, message):
    from lava_spikingunet.cli import main

    d = model_files
    rc = main(["profile", str(d / "m.h5"), "--image", str(d / "img.png"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_profile_command_missing_files(model_files, capsys):
    from lava_spikingunet.cli import main

    d = model_files
    assert main(["profile", str(d / "none.h5"), "--image", str(d / "img.png")]) == 2
    assert main(["profile", str(d / "m.h5"), "--image", str(d / "none.png")]) == 2
    assert "Traceback" not in capsys.readouterr().err
