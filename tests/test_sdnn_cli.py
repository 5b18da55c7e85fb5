"""``spikingunet simulate --stream``: frames through the sdnn form from the command line."""

from __future__ import annotations

import json

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
