"""The five baseline tasks: model shape, training data, loss and evaluation of each.

A task is built once per run (``get_task(name)(data_root, options)``); it loads its
images up front so that evaluation during training reads nothing from disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lava_spikingunet.ann.unet import UNetConfig
from lava_spikingunet.errors import UserError
from lava_spikingunet.training import evaluate, losses
from lava_spikingunet.training.options import TrainOptions


class Task:
    """Base class. Subclasses set the class attributes and implement the methods."""

    name = ""
    in_channels = 1
    out_channels = 1
    head_kernel = 1
    residual = False
    default_patch = 64
    primary_metric = ""  # the number to watch (higher is better)
    quick_limit = 5  # test images used by the periodic evaluation

    def __init__(self, data_root: Path, options: TrainOptions) -> None:
        self.data_root = data_root
        self.options = options
        self.patch = options.patch or self.default_patch

    def model_config(self) -> UNetConfig:
        o = self.options
        return UNetConfig(
            self.in_channels,
            self.out_channels,
            o.width,
            o.depth,
            self.head_kernel,
            self.residual,
            activation=o.activation,
            levels=o.levels,
        )

    def train_set(self) -> torch.utils.data.Dataset:
        raise NotImplementedError

    def num_train_images(self) -> int:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def stream_set(self) -> torch.utils.data.Dataset:
        """Clips of consecutive frames (stream-aware training); only video tasks have them."""
        raise UserError(
            f"stream-aware training (--stream-vth) needs a video task (camseq01), not {self.name!r}"
        )

    def stream_loss(self, model: nn.Module, stream, batch, penalty: float):
        raise NotImplementedError

    def pair_set(self) -> torch.utils.data.Dataset:
        """Pairs of consecutive frames (the temporal penalty); only video tasks have them."""
        raise UserError(
            f"the temporal penalty (--temporal) needs a video task (camseq01), not {self.name!r}"
        )

    def temporal_loss(self, model: nn.Module, probe, batch, weight: float):
        raise NotImplementedError

    def evaluate(self, model: nn.Module, quick: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def data_info(self) -> dict[str, Any]:
        """What goes into the checkpoint's ``data`` entry."""
        return {"data_root": str(self.data_root), "patch": self.patch}


class DenoiseTask(Task):
    """Gaussian denoising, residual learning (the net predicts the noise), 3x3 head."""

    head_kernel = 3
    residual = True
    default_patch = 64
    primary_metric = "psnr_s25"
    quick_limit = 12
    colour = False

    def __init__(self, data_root: Path, options: TrainOptions) -> None:
        super().__init__(data_root, options)
        from lava_spikingunet.data import denoising

        self._mod = denoising
        self.train_name = "bsd200" if self.colour else "train400"
        self.test_name = "CBSD68" if self.colour else "BSD68"
        self.train_images, _ = denoising.load_set(self.train_name, data_root)
        self.test_images, self.test_names = denoising.load_set(self.test_name, data_root)

    def train_set(self):
        o = self.options
        return self._mod.DenoisePatches(
            self.train_images, self.patch, (o.sigma_min, o.sigma_max), seed=o.seed
        )

    def num_train_images(self) -> int:
        return len(self.train_images)

    def loss(self, model, batch):
        return losses.denoise_loss(model, batch[0], batch[1])

    def test_sets(self, sigmas) -> dict:
        return {s: self._mod.DenoiseTestSet(self.test_images, s, self.test_names) for s in sigmas}

    def evaluate(self, model, quick=False):
        if quick:
            return evaluate.evaluate_denoise(
                model, self.test_sets([25]), limit=self.quick_limit, with_ssim=False
            )
        return evaluate.evaluate_denoise(model, self.test_sets(self._mod.TEST_SIGMAS))

    def data_info(self):
        o = self.options
        return {
            **super().data_info(),
            "train_set": self.train_name,
            "test_set": self.test_name,
            "sigma_range": [o.sigma_min, o.sigma_max],
            "test_sigmas": list(self._mod.TEST_SIGMAS),
            "noise": "clean + sigma/255 * N(0,1), unclipped; images in [0, 1]",
        }


class DenoiseGrey(DenoiseTask):
    name = "denoise-grey"


class DenoiseColour(DenoiseTask):
    name = "denoise-colour"
    in_channels = out_channels = 3
    colour = True


class BinarySegTask(Task):
    """One logit per pixel, BCE, 1x1 head; F1 of the positive class at p >= 0.5."""

    primary_metric = "f1"
    #: names of the (positive, negative) classes, to report both F1s by name
    class_names: tuple[str, str] | None = None

    def loss(self, model, batch):
        return losses.binary_loss(model, batch[0], batch[1])

    def named(self, result: dict[str, float]) -> dict[str, float]:
        """``result`` plus ``f1_<positive>`` / ``f1_<negative>`` when the classes have names."""
        if self.class_names is None:
            return result
        pos, neg = self.class_names
        return {**result, f"f1_{pos}": result["f1"], f"f1_{neg}": result["f1_negative"]}

    def num_train_images(self) -> int:
        return len(self.train_split)

    def evaluate(self, model, quick=False):
        limit = self.quick_limit if quick else None
        return self.named(evaluate.evaluate_binary(model, self.test_split.eval_items(limit)))


class DriveTask(BinarySegTask):
    name = "drive"
    default_patch = 48

    def __init__(self, data_root: Path, options: TrainOptions) -> None:
        super().__init__(data_root, options)
        from lava_spikingunet.data import drive

        self._mod = drive
        self.train_split = drive.DriveSplit.load(data_root, "training")
        self.test_split = drive.DriveSplit.load(data_root, "test")

    def train_set(self):
        return self._mod.DrivePatches(self.train_split, self.patch, seed=self.options.seed)

    def data_info(self):
        return {
            **super().data_info(),
            "train_set": "DRIVE training (20)",
            "test_set": "DRIVE test (20), 1st_manual, metrics inside the FOV mask",
            "preprocessing": self._mod.PREPROCESSING,
        }


class IsbiTask(BinarySegTask):
    """Trained on membrane (label 0) as the positive class; both F1s are reported, and the
    primary one is the cell interior's (label 255), the foreground of the paper's data."""

    name = "isbi2012"
    default_patch = 128
    class_names = ("membrane", "interior")
    primary_metric = "f1_interior"

    def __init__(self, data_root: Path, options: TrainOptions) -> None:
        super().__init__(data_root, options)
        from lava_spikingunet.data import isbi

        self._mod = isbi
        self.train_split = isbi.IsbiSplit.load(data_root, "train")
        self.test_split = isbi.IsbiSplit.load(data_root, "test")

    def train_set(self):
        return self._mod.IsbiPatches(self.train_split, self.patch, seed=self.options.seed)

    def data_info(self):
        return {
            **super().data_info(),
            "train_slices": list(self.train_split.slices),
            "test_slices": list(self.test_split.slices),
            "positive_class": "membrane (label == 0); f1_interior scores label 255",
        }


class CamSeqTask(Task):
    """11 CamVid classes, cross-entropy with void (11) ignored, 1x1 head; mIoU."""

    name = "camseq01"
    in_channels = 3
    primary_metric = "miou"
    default_patch = 128

    def __init__(self, data_root: Path, options: TrainOptions) -> None:
        super().__init__(data_root, options)
        from lava_spikingunet.data import camseq

        self._mod = camseq
        self.out_channels = camseq.NUM_CLASSES
        self.train_split = camseq.CamSeqSplit.load(data_root, "train")
        self.test_split = camseq.CamSeqSplit.load(data_root, "test")

    def train_set(self):
        return self._mod.CamSeqPatches(self.train_split, self.patch, seed=self.options.seed)

    def num_train_images(self) -> int:
        return len(self.train_split)

    def loss(self, model, batch):
        return losses.multiclass_loss(model, batch[0], batch[1], self._mod.VOID)

    def stream_set(self):
        o = self.options
        return self._mod.CamSeqClips(
            self.train_split, self.patch, o.stream_warmup + o.stream_frames, seed=o.seed
        )

    def stream_loss(self, model, stream, batch, penalty):
        from lava_spikingunet.ann.delta import stream_loss

        return stream_loss(
            model, stream, batch[0], batch[1], self._mod.VOID, penalty, self.options.stream_warmup
        )

    def pair_set(self):
        return self._mod.CamSeqClips(self.train_split, self.patch, 2, seed=self.options.seed)

    def temporal_loss(self, model, probe, batch, weight):
        from lava_spikingunet.ann.temporal import temporal_loss

        return temporal_loss(
            model, probe, batch[0], batch[1], self._mod.VOID, weight, self.options.temporal_active
        )

    def evaluate(self, model, quick=False):
        limit = self.quick_limit if quick else None
        return evaluate.evaluate_multiclass(
            model, self.test_split.eval_items(limit), self._mod.NUM_CLASSES, self._mod.VOID
        )

    def data_info(self):
        return {
            **super().data_info(),
            "classes": list(self._mod.CLASS_NAMES),
            "void": self._mod.VOID,
            "train_frames": list(self.train_split.names),
            "test_frames": list(self.test_split.names),
        }


TASKS: dict[str, type[Task]] = {
    t.name: t for t in (DenoiseGrey, DenoiseColour, DriveTask, IsbiTask, CamSeqTask)
}


def get_task(name: str) -> type[Task]:
    """The task class called ``name``; a UserError listing the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
