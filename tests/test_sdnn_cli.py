"""``spikingunet simulate --stream``: frames through the sdnn form from the command line."""

from __future__ import annotations

import json

import numpy as np
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
