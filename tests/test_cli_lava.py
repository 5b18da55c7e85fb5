"""export -> verify through the CLI, and every bad input giving a clean error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lava_spikingunet import cli
from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.serialize import save_graph

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model")
    torch.manual_seed(3)
    unet = UNet(in_channels=1, out_channels=1, base_width=3, depth=1, residual=True)
    graph = unet_to_graph(unet, 8, 8, timesteps=4)
    q = quantize_graph(graph, "loihi2", calib=torch.rand(2, 1, 8, 8))
    save_graph(tmp / "q.pt", q)
    assert cli.main(["export", str(tmp / "q.pt"), "--out", str(tmp / "q.h5")]) == 0
    np.save(tmp / "img.npy", np.random.default_rng(0).random((1, 8, 12)))
    return tmp


def test_export_refuses_to_overwrite(exported, capsys):
    before = (exported / "q.h5").read_bytes()
    assert cli.main(["export", str(exported / "q.pt"), "--out", str(exported / "q.h5")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (exported / "q.h5").read_bytes() == before


def test_verify_reports_identical_per_layer(exported, no_leftover_processes):
    out = exported / "verify.json"
    code = cli.main(
        ["verify", str(exported / "q.h5"), "--image", str(exported / "img.npy"),
         "--form", "both", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    reports = json.loads(out.read_text())
    assert [r["form"] for r in reports] == ["graded", "cascade"]
    for rep in reports:
        assert rep["identical"] and rep["readout_mismatches"] == 0
        assert {r["layer"] for r in rep["layers"]} >= {"enc0.c1", "enc1.c2", "dec0.c2"}
        assert sum(r["spikes"] for r in rep["layers"]) > 0


def _bad(tmp_path, name, array):
    p = tmp_path / name
    np.save(p, array)
    return p


@pytest.mark.parametrize(
    "case, array, message",
    [
        ("channels", np.zeros((3, 8, 8)), "channel"),
        ("nan", np.full((1, 8, 8), np.nan), "NaN"),
    ],
)
def test_bad_images_are_refused_cleanly(
    exported, tmp_path, capsys, case, array, message, no_leftover_processes
):
    img = _bad(tmp_path, f"{case}.npy", array)
    assert cli.main(["verify", str(exported / "q.h5"), "--image", str(img)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_tampered_file_is_refused(exported, tmp_path, capsys, no_leftover_processes):
    import h5py

    bad = tmp_path / "tampered.h5"
    bad.write_bytes((exported / "q.h5").read_bytes())
    with h5py.File(bad, "r+") as f:
        key = next(k for k in f["layer"] if "weight" in f["layer"][k])
        w = f["layer"][key]["weight"]
        w[(0,) * w.ndim] = (int(w[(0,) * w.ndim]) + 1) % 100
    assert cli.main(["verify", str(bad), "--image", str(exported / "img.npy")]) == 2
    assert "checksum" in capsys.readouterr().err.lower()


def test_truncated_file_is_refused(exported, tmp_path, capsys):
    bad = tmp_path / "truncated.h5"
    bad.write_bytes((exported / "q.h5").read_bytes()[:500])
    assert cli.main(["verify", str(bad), "--image", str(exported / "img.npy")]) == 2
    assert "Traceback" not in capsys.readouterr().err
