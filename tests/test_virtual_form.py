"""The virtual-step neuron form (SpikeYOLO's spike-driven deployment, docs/semantics.md
section 5): thermometer code, accumulate-only synapses, Lava == integer reference bit for
bit, synop counting against a brute-force count, the form in netx files and commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_lava_vs_reference import random_quantized_unet  # the seeded random U-Nets

from lava_spikingunet.backends.lava._common import (
    pack_thermometer,
    substep_counts,
    thermometer,
)
from lava_spikingunet.backends.lava.numpy_ops import avgpool2d, conv2d, conv_transpose2d, shift
from lava_spikingunet.graph.timing import frame_steps
from lava_spikingunet.neuron_forms import NEURON_FORMS, check_neuron_form, resolve_forms
from lava_spikingunet.reference.simulator import simulate

torch.set_num_threads(1)

# --------------------------------------------------------------------------- rule 5


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 8])
def test_thermometer_code_fires_on_the_first_k_substeps(n):
    d = (1 << n) - 1
    k = np.arange(d + 1, dtype=np.int32).reshape(1, 1, -1)  # every count 0 .. 2^N - 1
    s = thermometer(k, d)
    assert s.dtype == bool and s.shape == (d, 1, 1, d + 1)
    for j in range(d + 1):
        col = s[:, 0, 0, j]
        assert col.sum() == j and col[:j].all() and not col[j:].any()  # first k sub-steps
    # on the wire: bit-packed, 8 sub-steps a byte (np.packbits order), ceil(D/8) bytes
    packed = pack_thermometer(k, d)
    assert packed.dtype == np.uint8 and packed.shape == ((d + 7) // 8, 1, 1, d + 1)
    np.testing.assert_array_equal(packed, np.packbits(s, axis=0))
    np.testing.assert_array_equal(substep_counts(packed), k)


def test_substep_counts_of_any_binary_pattern():
    rng = np.random.default_rng(0)
    for d in (1, 7, 8, 9, 63, 255):
        s = rng.random((d, 2, 3, 5)) < 0.4
        got = substep_counts(np.packbits(s, axis=0))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, s.sum(0))


@pytest.mark.parametrize("exp", [-7, -3, 0, 2])
def test_accumulating_substeps_equals_the_graded_current(exp):
    """Rule 5: sum over the D sub-steps of W (*) s_d (binary input: additions of mantissas
    only), shifted once per Lava step, equals shift(W (*) k, e) bit for bit."""
    rng = np.random.default_rng(exp + 10)
    n, d = 4, 15
    k = rng.integers(0, d + 1, size=(3, 6, 6))
    k[rng.random(k.shape) < 0.5] = 0
    s = thermometer(k, d)
    w_conv = rng.integers(-128, 128, (4, 3, 3, 3))
    w_convt = rng.integers(-128, 128, (3, 2, 3, 3))
    m_pool = int(rng.integers(-128, 128))
    ops = [
        lambda x: conv2d(x, w_conv, 1, 1),
        lambda x: conv_transpose2d(x, w_convt, 2, 1, 1),
        lambda x: avgpool2d(x, m_pool, 2),
    ]
    for op in ops:
        acc = None
        for sub in range(d):  # one binary virtual sub-step after another
            c = op(s[sub].astype(np.int64))
            acc = c if acc is None else acc + c
        np.testing.assert_array_equal(shift(acc, exp), shift(op(k), exp))
    assert n == 4


def test_form_names_are_checked_in_one_place():
    assert NEURON_FORMS == ("graded", "cascade", "virtual")
    assert check_neuron_form("virtual") == "virtual"
    assert resolve_forms("all") == NEURON_FORMS
    assert resolve_forms("both") == ("graded", "cascade")
    assert resolve_forms("virtual") == ("virtual",)
    with pytest.raises(ValueError, match="neuron form must be one of graded, cascade, virtual"):
        check_neuron_form("binary")


def test_virtual_ports_refuse_a_wrong_substep_count():
    from lava_spikingunet.backends.lava import ConvSynapse, MTVirtualNeuron, connect_source

    src = MTVirtualNeuron(shape=(2, 4, 4), theta_unit_int=8, n_thresholds=3)
    assert src.s_out_virtual.shape == (1, 2, 4, 4)  # D = 7 bits in one byte per neuron
    assert MTVirtualNeuron(shape=(1, 2, 2), theta_unit_int=1).s_out_virtual.shape == (2, 1, 2, 2)
    w = np.ones((1, 2, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="virtual_substeps=15, source sends D=7"):
        connect_source(src, ConvSynapse(weight=w, in_shape=(2, 4, 4), virtual_substeps=15))
    with pytest.raises(ValueError, match="virtual_substeps must be in"):
        ConvSynapse(weight=w, in_shape=(2, 4, 4), virtual_substeps=256)
    syn = ConvSynapse(weight=w, in_shape=(2, 4, 4), padding=1, virtual_substeps=7)
    connect_source(src, syn)
    assert syn.s_in_virtual.shape == (1, 2, 4, 4)


# --------------------------------------------------------------------------- Lava


CASES = [
    # seed, depth, width, n_thresholds, in/out channels, balanced, T, frames
    (5, 2, 4, 4, (1, 1), True, 4, 2),
    (6, 1, 3, 4, (3, 2), False, 1, 1),
    (7, 2, 3, 2, (1, 1), False, 3, 1),
]


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-d{c[1]}-N{c[3]}-T{c[6]}")
def test_virtual_form_on_lava_matches_reference(case, no_leftover_processes):
    from lava_spikingunet.backends.lava_network import run_lava

    seed, depth, width, n_thr, chans, balanced, timesteps, frames = case
    q, current = random_quantized_unet(
        seed, depth, width, n_thr, chans, balanced, timesteps, frames
    )
    ref = simulate(q, current=current, record_spikes=True)
    res = run_lava(q, current, form="virtual", record=True)
    flen = frame_steps(q)
    assert res.form == "virtual" and res.frame_len == flen == ref.total_steps
    np.testing.assert_array_equal(res.acc, ref.acc.numpy())
    total = 0
    for name in q.neurons():
        want = ref.spikes[name].numpy()  # (steps, B, C, H, W)
        got = res.spikes[name].reshape(frames, flen, *want.shape[2:]).swapaxes(0, 1)
        mismatch = np.argwhere(got != want)
        assert mismatch.size == 0, f"{name}: first mismatch at (step, frame, c, h, w) {mismatch[0]}"
        total += int(want.sum())
    assert total > 0, "the test network should spike"
    if n_thr == 4:  # counts above 1 occur: the sub-steps really carry several spikes
        assert max(int(ref.spikes[n].max()) for n in q.neurons()) > 1


# --------------------------------------------------------------------------- profiler


@pytest.fixture(scope="module")
def recorded():
    """A quantized random U-Net (N = 4 and N = 2 layers) run on the reference, recorded."""
    from lava_spikingunet.profiling.record import record_spikes

    q, _ = random_quantized_unet(8, 2, 4, 4, (1, 1), False, 5, 2)
    q.node("dec0.c1").n_thresholds = 2  # a layer with another N (D = 3)
    x = torch.rand(2, 1, 16, 16) * 2
    return q, record_spikes(q, x)


def _brute_force_virtual(graph, counts):
    """Every binary virtual spike, one at a time: for each source neuron and step, list
    the sub-steps it fires on (thermometer code) and add its fan-out for each."""
    from lava_spikingunet.profiling.brute_force import edge_fanout

    total = 0
    for src, _dst, edge in graph.edges():
        if src == graph.input_name:
            continue
        node = graph.node(src)
        d = (1 << node.n_thresholds) - 1
        k = np.asarray(counts[src])
        for t, b, c, y, x in zip(*np.nonzero(k), strict=True):
            fires = thermometer(np.array(k[t, b, c, y, x]), d)
            total += int(fires.sum()) * edge_fanout(edge, node.shape, int(c), int(y), int(x))
    return total


def test_virtual_synops_match_brute_force(recorded):
    from lava_spikingunet.profiling import brute_force_synops, count_synops, events

    q, rec = recorded
    counts = {n: k.numpy() for n, k in rec.counts.items()}
    res = count_synops(q, rec.counts)
    assert res.synops("virtual") == _brute_force_virtual(q, counts)
    assert brute_force_synops(q, counts)["total"]["virtual"] == res.synops("virtual")
    # per edge: sum over steps and neurons of k x fan-out
    from lava_spikingunet.profiling import fanout_map

    for e in res.edges:
        k = rec.counts[e.src].to(torch.int64).sum((0, 1))
        fan = fanout_map(q.edge(e.src, e.dst), q.node(e.src).shape)
        assert e.synops["virtual"] == int((k * fan).sum())
    # ordering: k >= popcount(k) >= [k > 0]
    assert res.synops("virtual") >= res.synops("cascade") >= res.synops("graded") > 0
    k = rec.counts["enc0.c1"]
    assert torch.equal(events(k, "virtual", 4), k)
    for lay in res.layers.values():
        if lay.kind == "neuron":
            assert lay.events["virtual"] == lay.spike_count


def test_virtual_form_in_report_energy_and_updates(recorded):
    from lava_spikingunet.hw.profiles import load_profile
    from lava_spikingunet.profiling import count_synops
    from lava_spikingunet.profiling.report import build_report, format_table

    q, rec = recorded
    p = load_profile("loihi2")
    res = count_synops(q, rec.counts)
    assert res.virtual_substeps == 15  # the largest N is 4
    neurons = sum(int(np.prod(q.node(n).shape)) for n in q.neurons())
    head = int(np.prod(q.node(q.readout_name).shape))
    steps = rec.total_steps
    assert res.neuron_updates("virtual") == 2 * steps * 15 * (neurons + head)
    rep = build_report(q, res, p, source=rec.source)
    fr = rep["frame"]["virtual"]
    synops, updates = res.synops("virtual") / 2, res.neuron_updates("virtual") / 2
    assert fr["synops"] == pytest.approx(synops)
    assert fr["synops_per_ann_mac"] == pytest.approx(synops / res.ann_macs)
    assert fr["energy_uj"] == pytest.approx((synops * 23.6 + updates * 52.0) / 1e6)
    assert fr["paper_snn_energy_uj"] == pytest.approx((0.9 * synops + 4.6 * res.input_macs) / 1e6)
    assert fr["chip_steps_per_step"] == 15 and rep["frame"]["graded"]["chip_steps_per_step"] == 1
    assert rep["frame"]["spikes_virtual"] == rep["frame"]["spike_count"]
    rows = {r["layer"]: r for r in rep["layers"]}
    assert sum(r["synops_virtual"] for r in rows.values()) == pytest.approx(synops)
    r = rows["dec0.c1"]
    assert r["spikes_virtual"] == r["spike_count"]
    assert r["rate_virtual"] == pytest.approx(r["spike_count"] * 2 / (r["neurons"] * steps * 2 * 3))
    assert r["compartments_virtual"] == r["neurons"]
    text = format_table(rep)
    assert "synops v" in text and "virtual  synops" in text and "synops c" in text


# --------------------------------------------------------------------------- files, CLI


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from lava_spikingunet import cli
    from lava_spikingunet.graph.serialize import save_graph

    tmp = tmp_path_factory.mktemp("virtual")
    q, _ = random_quantized_unet(9, 1, 3, 4, (1, 1), False, 3, 1)
    save_graph(tmp / "q.pt", q)
    assert (
        cli.main(["export", str(tmp / "q.pt"), "--out", str(tmp / "v.h5"), "--form", "virtual"])
        == 0
    )
    np.save(tmp / "img.npy", np.random.default_rng(1).random((1, 8, 8)))
    return tmp


def test_netx_round_trip_keeps_the_virtual_form(exported, tmp_path):
    from lava_spikingunet.backends.netx import export_netx, load_netx, read_netx_info

    assert read_netx_info(exported / "v.h5").neuron_form == "virtual"
    g = load_netx(exported / "v.h5")
    assert g.meta.neuron_form == "virtual"
    export_netx(g, tmp_path / "again.h5")
    assert (tmp_path / "again.h5").read_bytes() == (exported / "v.h5").read_bytes()


@pytest.mark.lava
@pytest.mark.slow
def test_verify_and_simulate_commands_run_the_virtual_form(exported, capsys, no_leftover_processes):
    from lava_spikingunet import cli

    out = exported / "verify.json"
    argv = ["verify", str(exported / "v.h5"), "--image", str(exported / "img.npy")]
    assert cli.main([*argv, "--out", str(out)]) == 0  # the file's form: virtual
    (rep,) = json.loads(out.read_text())
    assert rep["form"] == "virtual" and rep["identical"]
    sim = exported / "sim.json"
    argv = ["simulate", str(exported / "v.h5"), "--image", str(exported / "img.npy")]
    assert cli.main([*argv, "--backend", "lava", "--form", "virtual", "--out", str(sim)]) == 0
    assert cli.main([*argv, "--out", str(exported / "ref.json")]) == 0
    lava, ref = json.loads(sim.read_text()), json.loads((exported / "ref.json").read_text())
    assert lava["form"] == "virtual" and lava["acc"] == ref["acc"]
    assert "(virtual form)" in capsys.readouterr().out


def test_profile_command_reports_three_forms(exported, capsys):
    from lava_spikingunet import cli

    argv = ["profile", str(exported / "v.h5"), "--image", str(exported / "img.npy")]
    assert cli.main([*argv, "--hw", "loihi1"]) == 0  # default --form all
    text = capsys.readouterr().out
    assert "synops g" in text and "synops c" in text and "synops v" in text
    assert "mapping virtual:" in text and "virtual form: 15 binary sub-steps" in text
    assert cli.main([*argv, "--hw", "loihi1", "--form", "virtual"]) == 0  # binary spikes only
    assert "synops g" not in capsys.readouterr().out
