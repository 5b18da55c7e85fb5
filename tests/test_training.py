"""Training loop: resume is bit-identical, runs are never silently overwritten,
checkpoints load with weights_only, every task trains on synthetic data."""

from __future__ import annotations

import json

import pytest
import torch

from lava_spikingunet.checkpoints import load_checkpoint, load_unet, save_checkpoint
from lava_spikingunet.cli import main
from lava_spikingunet.data.synthetic import make_synthetic_datasets
from lava_spikingunet.errors import UserError
from lava_spikingunet.training import TASKS, TrainOptions, train
from lava_spikingunet.training.schedule import lr_at


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


def tiny(task: str = "denoise-grey", steps: int = 4) -> TrainOptions:
    return TrainOptions(
        task=task, width=4, depth=2, steps=steps, batch=2, patch=16, warmup=1,
        eval_every=2, checkpoint_every=2,
    )  # fmt: skip


def run(opts, out, syn, **kw):
    return train(opts, out, data_root=syn, threads=1, progress=False, **kw)


def test_resume_is_identical(tmp_path, syn):
    full = run(tiny(steps=5), tmp_path / "a", syn)
    paused = run(tiny(steps=5), tmp_path / "b", syn, stop_at=2)
    assert paused["completed"] is False and not (tmp_path / "b" / "final.pt").exists()
    resumed = run(tiny(steps=5), tmp_path / "b", syn, resume=True)
    assert resumed["completed"] and resumed["step"] == 5
    a = load_checkpoint(tmp_path / "a" / "final.pt")
    b = load_checkpoint(tmp_path / "b" / "final.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    assert full["metrics"] == resumed["metrics"]
    assert [h["loss"] for h in full["history"]] == [h["loss"] for h in resumed["history"]]


def test_refuses_to_overwrite(tmp_path, syn):
    run(tiny(steps=2), tmp_path, syn)
    before = (tmp_path / "final.pt").read_bytes()
    with pytest.raises(UserError, match="--resume.*--overwrite"):
        run(tiny(steps=2), tmp_path, syn)
    assert (tmp_path / "final.pt").read_bytes() == before
    run(tiny(steps=2), tmp_path, syn, overwrite=True)  # explicit: allowed
    with pytest.raises(UserError, match="holds a 'denoise-grey' run"):
        run(tiny("drive", steps=2), tmp_path, syn, resume=True)


def test_cli_train_and_refusal(tmp_path, syn, capsys):
    args = ["train", "isbi2012", "--out", str(tmp_path), "--data-root", str(syn),
            "--width", "2", "--depth", "1", "--steps", "2", "--batch", "1", "--patch", "16",
            "--threads", "1", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["task"] == "isbi2012" and 0 <= summary["metrics"]["f1"] <= 1
    assert summary["data"]["test_slices"] == [25, 26, 27, 28, 29]
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "nope", *args[2:]]) == 2  # unknown task
    assert main([*args, "--resume", "--overwrite"]) == 2


def test_time_budget_stops_and_evaluates(tmp_path, syn):
    s = run(tiny(steps=1000), tmp_path, syn, time_budget_s=0.0)
    assert s["stopped"] == "time budget" and not s["completed"] and s["step"] == 0
    assert "psnr_s25" in s["metrics"]


@pytest.mark.parametrize("task", sorted(set(TASKS) - {"denoise-grey"}))
def test_every_task_trains(tmp_path, syn, task):
    s = run(tiny(task, steps=2), tmp_path, syn)
    key = {"denoise-colour": "psnr_s50", "drive": "f1", "isbi2012": "f1", "camseq01": "miou"}
    assert key[task] in s["metrics"]
    model, meta = load_unet(tmp_path / "final.pt")
    assert meta["task"] == task and "optimizer" not in meta
    c = 3 if task in ("denoise-colour", "camseq01") else 1
    assert model.config.in_channels == c
    assert model(torch.zeros(1, c, 13, 21)).shape[-2:] == (13, 21)


def test_checkpoint_format(tmp_path, syn):
    run(tiny(steps=2), tmp_path, syn)
    raw = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert raw["optimizer"]["state"] and raw["step"] == 2 and raw["task"] == "denoise-grey"
    assert raw["config"]["residual"] is True and raw["config"]["head_kernel"] == 3
    assert raw["data"]["sigma_range"] == [25.0, 25.0]
    model, meta = load_unet(tmp_path / "final.pt")
    assert not model.training and meta["metrics"]["psnr_s25"] > 0


def test_load_unet_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable"):
        load_unet(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_unet(tmp_path / "none.pt")
    save_checkpoint(tmp_path / "x.pt", {"a": 1}, overwrite=False)
    with pytest.raises(UserError, match="not a U-Net checkpoint"):
        load_unet(tmp_path / "x.pt")
    with pytest.raises(UserError, match="refusing to overwrite"):
        save_checkpoint(tmp_path / "x.pt", {"a": 1}, overwrite=False)
    save_checkpoint(
        tmp_path / "y.pt", {"config": {"base_width": 2}, "state_dict": {}, "task": "t"}, False
    )
    with pytest.raises(UserError, match="do not fit"):
        load_unet(tmp_path / "y.pt")


def test_lr_schedule():
    assert lr_at(0, 100, 1e-3, 1e-5, 10) == pytest.approx(1e-4)
    assert lr_at(10, 100, 1e-3, 1e-5, 10) == pytest.approx(1e-3)
    assert lr_at(100, 100, 1e-3, 1e-5, 10) == pytest.approx(1e-5)
    assert lr_at(55, 100, 1e-3, 1e-5, 10) == pytest.approx((1e-3 + 1e-5) / 2)
