"""The training tasks seen from conversion: calibration / fine-tuning batches, test images,
evaluation of any model (U-Net or spiking module) with the task's own metrics.

A thin adapter over :mod:`lava_spikingunet.training.tasks`, so the conversion code and
the CLI use the same data, losses and metrics as U-Net training.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

#: The paper's simulation length per task (Tables 1-4).
PAPER_T = {"denoise-grey": 10, "denoise-colour": 20, "drive": 10, "isbi2012": 50, "camseq01": 20}


def load_task(
    name: str,
    data_root: str | Path | None = None,
    train_options: dict | None = None,
    seed: int | None = None,
    patch: int | None = None,
):
    """The task ``name`` with the U-Net's training options (noise range, patch size)."""
    from lava_spikingunet.data.paths import resolve_data_root
    from lava_spikingunet.training import TrainOptions, get_task

    cls = get_task(name)
    options = TrainOptions.from_dict({**(train_options or {}), "task": name})
    if seed is not None:
        options.seed = int(seed)
    if patch:
        options.patch = int(patch)
    return cls(resolve_data_root(data_root), options)


def training_batches(task, batch: int, start: int = 0) -> Iterator[list[torch.Tensor]]:
    """Endless deterministic batches of the task's training patches."""
    from lava_spikingunet.training.loop import make_batch

    dataset = task.train_set()
    for step in itertools.count(start):
        yield make_batch(dataset, step, batch)


def test_items(task, limit: int | None = None) -> list:
    """The first ``limit`` test items in the task's own evaluation form."""
    from lava_spikingunet.training.tasks import DenoiseTask

    if isinstance(task, DenoiseTask):
        data = task.test_sets([25])[25]
        n = len(data) if limit is None else min(limit, len(data))
        return [data[i] for i in range(n)]
    return list(task.test_split.eval_items(limit))


def first_test_image(task) -> torch.Tensor:
    """The first test image ``(C, H, W)`` (its size is the default graph frame)."""
    return test_items(task, 1)[0][0]


def task_extra(task) -> dict[str, Any]:
    """What a converted graph records about its task (name, ignore index)."""
    from lava_spikingunet.training.tasks import CamSeqTask

    extra: dict[str, Any] = {"task_name": task.name}
    if isinstance(task, CamSeqTask):
        from lava_spikingunet.data import camseq

        extra["ignore_index"] = camseq.VOID
    return extra


def center_crop(item, size: int | None):
    """Crop every array / tensor of a test item to its central ``size x size`` window."""
    if size is None:
        return item

    def crop(a):
        if a is None or not hasattr(a, "shape") or len(a.shape) < 2:
            return a
        h, w = a.shape[-2:]
        y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
        return a[..., y : y + size, x : x + size]

    return tuple(crop(a) for a in item)


class _Cropped(torch.utils.data.Dataset):
    def __init__(self, data, size: int | None) -> None:
        self.data, self.size = data, size

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        return center_crop(self.data[i], self.size)


def _one(item):
    """The DataLoader's collate for ``batch_size=None``: the item as the dataset gives it
    (frames of different sizes do not stack; numpy labels stay numpy)."""
    return item


def test_loader(data, limit: int | None = None, workers: int = 0) -> DataLoader:
    """A DataLoader over the first ``limit`` items of ``data`` (a Dataset, or a list of
    items), one item at a time, in order; ``workers`` loader processes."""
    n = len(data) if limit is None else min(limit, len(data))
    subset = Subset(data, range(n)) if n < len(data) else data
    return DataLoader(subset, batch_size=None, shuffle=False, collate_fn=_one, num_workers=workers)


def evaluate(
    task,
    model: nn.Module,
    limit: int | None = None,
    sigmas=(25,),
    with_ssim: bool = False,
    crop: int | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """The task's test metrics of ``model`` on the first ``limit`` test images.

    Denoising: PSNR (and SSIM) per ``sigma``; binary segmentation: pooled F1 etc.;
    CamSeq01: mIoU and pixel accuracy (void excluded). ``crop``: evaluate on the central
    ``crop x crop`` window of each image (quick comparisons). The images reach the model
    through a standard :class:`torch.utils.data.DataLoader` (:func:`test_loader`, one
    image at a time, in order; ``workers`` loader processes); the model runs where it
    was built (``SpikingUNetModule(..., device=...)``) and returns its output here.
    """
    from lava_spikingunet.training import evaluate as ev
    from lava_spikingunet.training.tasks import BinarySegTask, CamSeqTask, DenoiseTask

    if isinstance(task, DenoiseTask):
        sets = {
            s: test_loader(_Cropped(d, crop), limit, workers)
            for s, d in task.test_sets(list(sigmas)).items()
        }
        return ev.evaluate_denoise(model, sets, limit, with_ssim)
    items = test_loader(_Cropped(list(task.test_split.eval_items(limit)), crop), None, workers)
    if isinstance(task, BinarySegTask):
        return task.named(ev.evaluate_binary(model, items))
    if isinstance(task, CamSeqTask):
        from lava_spikingunet.data import camseq

        out = ev.evaluate_multiclass(model, items, camseq.NUM_CLASSES, camseq.VOID)
        out.pop("iou_per_class", None)
        return out
    raise TypeError(f"unknown task type {type(task).__name__}")


def primary_metric(task) -> str:
    return task.primary_metric
