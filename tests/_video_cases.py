"""Shared by the video tests (tests/test_stream_training.py, tests/test_temporal_penalty.py,
tests/test_stream_vth_search.py, tests/test_stream_benchmark.py): small calibrated I-LIF
U-Nets and the train CLI's arguments for a tiny CamSeq01 run on synthetic data."""

from __future__ import annotations

import torch

from lava_spikingunet.ann.ilif import calibrate_thetas
from lava_spikingunet.ann.unet import UNet, UNetConfig

ILIF_ARGS = ["--activation", "ilif", "--levels", "15"]


def small_ilif_net(seed: int = 0):
    """``(unet, x)``: a depth-2 width-4 I-LIF U-Net (15 levels) calibrated on ``x`` (2
    random 16x16 RGB frames), in evaluation mode."""
    torch.manual_seed(seed)
    unet = UNet(UNetConfig(3, 4, 4, 2, activation="ilif", levels=15))
    x = torch.rand(2, 3, 16, 16)
    calibrate_thetas(unet, [x], percentile=99.0)
    unet.eval()
    return unet, x


def small_ilif_checkpoint(path):
    """A depth-2 width-4 I-LIF CamSeq01 U-Net (12 outputs) saved at ``path``."""
    from lava_spikingunet.checkpoints import save_checkpoint

    torch.manual_seed(0)
    unet = UNet(UNetConfig(3, 12, 4, 2, activation="ilif", levels=15))
    calibrate_thetas(unet, [torch.rand(2, 3, 16, 16)], percentile=99.0)
    payload = {"config": unet.config.to_dict(), "state_dict": unet.state_dict(), "task": "camseq01"}
    return save_checkpoint(path, payload, overwrite=False)


def tiny_camseq_train_args(data_root) -> list[str]:
    """``spikingunet train camseq01`` for 2 steps of 2 16x16 patches on ``data_root``."""
    return [
        "train", "camseq01", "--width", "4", "--depth", "2", "--steps", "2", "--batch",
        "2", "--patch", "16", "--warmup", "1", "--eval-every", "2", "--threads", "1",
        "--no-progress", "--data-root", str(data_root),
    ]  # fmt: skip
