"""``spikingunet simulate --stream``: frames through the sdnn form from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lava_spikingunet import cli
from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.serialize import save_graph


def test_simulate_stream_runs_frames_back_to_back(tmp_path, capsys):
    torch.manual_seed(0)
    unet = UNet(UNetConfig(1, 2, 3, 1)).eval()
    graph = unet_to_graph(unet, 8, 8, n_thresholds=6, theta1=1.0)
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (3, 1, 8, 8))
    frames[1] = frames[0]  # a repeated frame costs nothing
    q = quantize_graph(graph, "loihi2", calib=torch.as_tensor(frames).float())
    model = save_graph(tmp_path / "q.pt", q)
    np.save(tmp_path / "frames.npy", frames)
    out = tmp_path / "r.json"
    rc = cli.main(
        ["simulate", str(model), "--image", str(tmp_path / "frames.npy"), "--stream",
         "--vth", "0.001", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "sdnn stream (reference): 3 frames 8x8" in text and "synops per ANN MAC" in text
    info = json.loads(out.read_text())["info"]
    assert info["frames"] == 3 and info["synops_per_frame"][1] == 0
    assert info["synops_per_frame"][0] > 0 and info["hold"] == 9


def _ilif_model(tmp_path):
    """A quantized one-timestep I-LIF graph file and a frame .npy."""
    from lava_spikingunet.ann.ilif import calibrate_thetas
    from lava_spikingunet.conversion.ilif import convert_ilif

    torch.manual_seed(1)
    unet = UNet(UNetConfig(1, 1, 3, 1, activation="ilif", levels=15))
    x = torch.rand(1, 1, 8, 8)
    calibrate_thetas(unet, [x], percentile=99.0)
    q = quantize_graph(convert_ilif(unet.eval(), 8, 8), "loihi2", calib=x)
    np.save(tmp_path / "x.npy", np.random.default_rng(1).uniform(0, 1, (1, 5, 5)))
    return save_graph(tmp_path / "q.pt", q), tmp_path / "x.npy"


def test_profile_form_sdnn_reports_graded_delta_synops_and_cores(tmp_path, capsys):
    model, image = _ilif_model(tmp_path)
    out = tmp_path / "prof"
    rc = cli.main(["profile", str(model), "--image", str(image), "--form", "sdnn",
                   "--out", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "padded the 5x5 image to 6x6" in text and "synops of graded deltas" in text
    rep = json.loads((out / "profile.json").read_text())
    assert rep["synops_per_frame"][0] > 0 and rep["cores"] > 0
    assert rep["synops_per_mac"][0] == rep["synops_per_frame"][0] / rep["ann_macs_per_frame"]


def test_deploy_form_sdnn_checks_then_stops_without_lava_loihi(tmp_path, capsys, monkeypatch):
    from lava_spikingunet.pipeline import deploy

    model, image = _ilif_model(tmp_path)
    assert cli.main(["deploy", str(model), "--form", "sdnn", "--check-only"]) == 0
    assert "fits loihi2 (sdnn form" in capsys.readouterr().out
    monkeypatch.setattr(deploy, "lava_loihi_available", lambda: False)
    rc = cli.main(["deploy", str(model), "--form", "sdnn", "--image", str(image)])
    out, err = capsys.readouterr()
    assert rc != 0 and "lava-loihi is not installed" in err and "Traceback" not in err


@pytest.mark.lava
@pytest.mark.slow
def test_verify_form_sdnn_is_identical(tmp_path, capsys, no_leftover_processes):
    model, image = _ilif_model(tmp_path)
    rc = cli.main(["verify", str(model), "--image", str(image), "--form", "sdnn",
                   "--out", str(tmp_path / "v.json")])  # fmt: skip
    assert rc == 0 and "sdnn form: IDENTICAL" in capsys.readouterr().out
    rep = json.loads((tmp_path / "v.json").read_text())
    assert rep["mismatches"] == 0 and rep["messages"] > 0


def test_simulate_stream_takes_vth_in_counts_and_cum_error(tmp_path, capsys):
    """An I-LIF model streams with its threshold in I-LIF counts (the same per-neuron
    message units as vth_from_counts) and in SigmaDelta's cum_error mode; a float-unit
    model refuses counts, and two thresholds at once are refused."""
    from lava_spikingunet.backends.sdnn.stages import load_sdnn_model
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.sigma_delta import simulate_sdnn, vth_from_counts

    model, _ = _ilif_model(tmp_path)
    rng = np.random.default_rng(2)
    frames = rng.uniform(0, 1, (4, 1, 8, 8))
    np.save(tmp_path / "f.npy", frames)
    args = ["simulate", str(model), "--image", str(tmp_path / "f.npy"), "--stream",
            "--hold", "2", "--vth-counts", "0.5"]  # fmt: skip
    out = tmp_path / "c.json"
    assert cli.main([*args, "--cum-error", "--out", str(out)]) == 0
    assert "vth 0.5 counts, cum_error" in capsys.readouterr().out
    info = json.loads(out.read_text())["info"]
    assert info["vth_counts"] == 0.5 and info["cum_error"] is True
    g = load_sdnn_model(model)
    cur = np.stack([input_current(g, f[None]) for f in frames])
    latency = int(g.meta.extra["sdnn"]["steps"]) - 1  # hold 2 < settle: a pipeline
    assert info["latency"] == latency
    ref = simulate_sdnn(
        g, cur, 2, vth=vth_from_counts(g, 0.5), latency=latency, rest=True, cum_error=True
    )
    win = ref.synops[:8].reshape(-1, 2).sum(1)
    win[-1] += ref.synops[8:].sum()  # the drain goes to the last frame
    assert info["synops_per_frame"] == [int(s) for s in win]
    assert cli.main([*args, "--vth", "0.1"]) != 0
    assert "--vth or --vth-counts" in capsys.readouterr().err
    torch.manual_seed(0)
    unet = UNet(UNetConfig(1, 2, 3, 1)).eval()
    q = quantize_graph(unet_to_graph(unet, 8, 8), "loihi2", calib=torch.rand(1, 1, 8, 8))
    mt = save_graph(tmp_path / "mt.pt", q)
    assert cli.main([*args[:1], str(mt), *args[2:]]) != 0
    assert "I-LIF" in capsys.readouterr().err


def _stream_on_both_backends(args: list[str], tmp_path) -> tuple[dict, dict]:
    """``simulate --stream`` with ``args`` on the reference and on Lava: ``({backend: y},
    {backend: info})``."""
    ys, infos = {}, {}
    for backend in ("reference", "lava"):
        out = tmp_path / f"{backend}.npz"
        assert cli.main([*args, "--backend", backend, "--out", str(out)]) == 0
        data = np.load(out)
        ys[backend], infos[backend] = data["y"], json.loads(str(data["info"]))
    return ys, infos


def test_simulate_stream_pipeline_reads_each_frame_and_takes_a_layer_map(tmp_path, capsys):
    """Held one step each (a pipeline), frame f's result is read once it has crossed the
    network, on Lava as in the reference; a per-layer map (counts) scales with
    --vth-counts, and bad maps are refused with a message."""
    from lava_spikingunet.backends.sdnn.stages import load_sdnn_model
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.sigma_delta import simulate_sdnn, vth_from_counts

    model, _ = _ilif_model(tmp_path)
    g = load_sdnn_model(model)
    layer = g.neurons()[0]
    (tmp_path / "map.json").write_text(json.dumps({"meta": {"base": 0.5},
                                                   "layer_vth": {layer: 2.0}}))  # fmt: skip
    frames = np.random.default_rng(3).uniform(0, 1, (3, 1, 8, 8))
    np.save(tmp_path / "f.npy", frames)
    args = ["simulate", str(model), "--image", str(tmp_path / "f.npy"), "--stream",
            "--hold", "1", "--vth-counts", "0.25",
            "--layer-vth", str(tmp_path / "map.json")]  # fmt: skip
    ys, _ = _stream_on_both_backends(args, tmp_path)
    assert np.array_equal(ys["reference"], ys["lava"])
    vth = vth_from_counts(g, 0.25)
    vth[layer] = vth_from_counts(g, 2.0 * 0.25 / 0.5)[layer]  # the map, scaled
    cur = np.stack([input_current(g, f[None]) for f in frames])
    settle = int(g.meta.extra["sdnn"]["steps"])
    ref = simulate_sdnn(g, cur, 1, vth=vth, latency=settle - 1, rest=True)
    assert np.array_equal(ys["reference"], ref.y[:, 0])
    (tmp_path / "bad.json").write_text(json.dumps({"no_such_layer": 1.0}))
    bad = [*args[:-1], str(tmp_path / "bad.json")]
    assert cli.main(bad) != 0
    assert "no such layers" in capsys.readouterr().err
    assert cli.main([*args, "--vth", "0.1"]) != 0


def test_shipped_video_model_streams_bit_exact_with_its_layer_map(
    repo_root, tmp_path, capsys, no_leftover_processes
):
    """netx_exports/camseq01-video-sdnn: the shipped stream network with its per-layer
    thresholds (layer_vth.json), one step per frame in cum_error mode, on three 16x16
    frames: the reference and the stock-process Lava build give the same frames."""
    folder = repo_root / "netx_exports" / "camseq01-video-sdnn"
    if not (folder / "model.h5").is_file():
        pytest.skip("netx_exports/camseq01-video-sdnn is absent")
    table = json.loads((folder / "layer_vth.json").read_text())
    frames = np.random.default_rng(4).uniform(0, 1, (3, 3, 16, 16))
    np.save(tmp_path / "f.npy", frames)
    args = ["simulate", str(folder / "model.h5"), "--image", str(tmp_path / "f.npy"),
            "--stream", "--hold", "1", "--cum-error",
            "--layer-vth", str(folder / "layer_vth.json")]  # fmt: skip
    ys, infos = _stream_on_both_backends(args, tmp_path)
    for info in infos.values():
        assert info["layer_vth"] == table["layer_vth"] and info["cum_error"] is True
    assert "per-layer map" in capsys.readouterr().out
    assert np.array_equal(ys["reference"], ys["lava"])


def test_ilif_sdnn_netx_file_keeps_its_counts(tmp_path, capsys):
    """An I-LIF network's sdnn netx file still knows it counts I-LIF quanta, so a stream
    on the file takes --vth-counts like the model it came from."""
    from lava_spikingunet.backends.sdnn.convert import is_ilif_graph
    from lava_spikingunet.backends.sdnn.netx import export_sdnn_netx, load_sdnn_netx
    from lava_spikingunet.backends.sdnn.stages import load_sdnn_model

    model, _ = _ilif_model(tmp_path)
    h5 = export_sdnn_netx(load_sdnn_model(model), tmp_path / "m.h5")
    assert is_ilif_graph(load_sdnn_netx(h5))
    np.save(tmp_path / "f.npy", np.random.default_rng(5).uniform(0, 1, (2, 1, 8, 8)))
    outs = {}
    for m in (model, h5):
        out = tmp_path / f"{Path(m).stem}.npz"
        args = ["simulate", str(m), "--image", str(tmp_path / "f.npy"), "--stream",
                "--vth-counts", "0.5", "--out", str(out)]  # fmt: skip
        assert cli.main(args) == 0
        outs[m] = np.load(out)["y"]
    assert np.array_equal(outs[model], outs[h5])
