"""CamSeq01 (CamVid 11-class labels): 101 RGB 480x360 frames, labels 0..10, 11 = void.

Split: the first 81 frames (sorted by name) train, the last 20 test
(:data:`NUM_TEST`). The frames are one continuous drive, so a contiguous block is held
out rather than every n-th frame (neighbouring frames are near duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lava_spikingunet.data.augment import ENDLESS, IndexSeededDataset, random_crop_origin
from lava_spikingunet.data.imageio import read_image, read_label, to_float
from lava_spikingunet.data.paths import list_files, resolve_data_root
from lava_spikingunet.errors import InputError

LAYOUT = """\
  <data-root>/segmentation/camseq01/images/0016E5_07959.png ...  (RGB)
  <data-root>/segmentation/camseq01/labels/0016E5_07959.png ...  (0..10 classes, 11 void)"""

CLASS_NAMES = (
    "sky", "building", "pole", "road", "pavement", "tree",
    "sign", "fence", "car", "pedestrian", "bicyclist",
)  # fmt: skip
NUM_CLASSES = len(CLASS_NAMES)
VOID = 11
NUM_TEST = 20
SPLITS = ("train", "test", "all")


def _frame_files(data_root: str | Path | None, kind: str) -> list[Path]:
    """The sequence's ``images`` or ``labels`` PNGs, in frame order."""
    base = resolve_data_root(data_root) / "segmentation" / "camseq01"
    return list_files(base / kind, (".png",), LAYOUT)


@dataclass
class CamSeqSplit(Dataset):
    """Frames of one split: ``images`` (HxWx3 uint8), ``labels`` (HxW int64), ``names``.

    Item ``i``: ``(image (3, H, W), label (H, W) int64)``.
    """

    images: list[np.ndarray]
    labels: list[np.ndarray]
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(to_float(self.images[i])), torch.from_numpy(self.labels[i])

    @staticmethod
    def test_start(data_root: str | Path | None, num_test: int = NUM_TEST) -> int:
        """Index in the whole sequence of the test split's first frame (its last ``num_test``)."""
        return len(_frame_files(data_root, "images")) - num_test

    @classmethod
    def load(
        cls, data_root: str | Path | None, split: str, num_test: int = NUM_TEST
    ) -> CamSeqSplit:
        if split not in SPLITS:
            raise InputError(f"CamSeq01 split must be one of {SPLITS}, got {split!r}")
        images = _frame_files(data_root, "images")
        labels = {p.name: p for p in _frame_files(data_root, "labels")}
        missing = [p.name for p in images if p.name not in labels]
        if missing:
            raise InputError(f"CamSeq01: no label for {missing[0]}; expected layout:\n{LAYOUT}")
        if split != "all" and not 0 < num_test < len(images):
            raise InputError(f"CamSeq01: cannot hold out {num_test} of {len(images)} frames")
        cut = len(images) - num_test
        chosen = {"train": images[:cut], "test": images[cut:], "all": images}[split]
        imgs = [read_image(p, "RGB") for p in chosen]
        labs = [read_label(labels[p.name]) for p in chosen]
        for p, im, lab in zip(chosen, imgs, labs, strict=True):
            if im.shape[:2] != lab.shape:
                raise InputError(f"CamSeq01 {p.name}: image {im.shape[:2]} vs label {lab.shape}")
            if lab.min() < 0 or lab.max() > VOID:
                raise InputError(f"CamSeq01 {p.name}: labels outside 0..{VOID}")
        return cls(imgs, labs, [p.name for p in chosen])

    def eval_items(self, limit: int | None = None):
        """``(image (3, H, W) tensor, label int64 HxW)`` per frame."""
        n = len(self) if limit is None else min(limit, len(self))
        for i in range(n):
            yield torch.from_numpy(to_float(self.images[i])), self.labels[i]


class CamSeqPatches(IndexSeededDataset):
    """Random crops with horizontal flips (no vertical: the scenes have an up).

    Item: ``(image (3, P, P), label (P, P) int64)``.
    """

    def __init__(
        self, split: CamSeqSplit, patch: int = 128, seed: int = 0, length: int = ENDLESS
    ) -> None:
        super().__init__(seed, length)
        self.split = split
        self.patch = int(patch)

    def sample(self, rng: np.random.Generator):
        p = self.patch
        i = int(rng.integers(len(self.split)))
        image, label = self.split.images[i], self.split.labels[i]
        y, x = random_crop_origin(rng, label.shape, (p, p))
        img = to_float(image[y : y + p, x : x + p])
        lab = label[y : y + p, x : x + p]
        if rng.integers(2):
            img, lab = img[..., ::-1], lab[..., ::-1]
        return (
            torch.from_numpy(np.ascontiguousarray(img)),
            torch.from_numpy(np.ascontiguousarray(lab)),
        )


class CamSeqClips(IndexSeededDataset):
    """Random clips of ``frames`` consecutive frames (one crop window and flip for the
    whole clip): the video the stream-aware training runs (:mod:`lava_spikingunet.ann.delta`).

    Item: ``(clip (L, 3, P, P), labels (L, P, P) int64)``.
    """

    def __init__(
        self,
        split: CamSeqSplit,
        patch: int = 128,
        frames: int = 3,
        seed: int = 0,
        length: int = ENDLESS,
    ) -> None:
        super().__init__(seed, length)
        if not 2 <= frames <= len(split):
            raise InputError(f"a clip needs 2..{len(split)} frames, got {frames}")
        self.split = split
        self.patch = int(patch)
        self.frames = int(frames)

    def sample(self, rng: np.random.Generator):
        p, n = self.patch, self.frames
        start = int(rng.integers(len(self.split) - n + 1))
        label0 = self.split.labels[start]
        y, x = random_crop_origin(rng, label0.shape, (p, p))
        flip = bool(rng.integers(2))
        imgs, labs = [], []
        for i in range(start, start + n):
            img = to_float(self.split.images[i][y : y + p, x : x + p])
            lab = self.split.labels[i][y : y + p, x : x + p]
            if flip:
                img, lab = img[..., ::-1], lab[..., ::-1]
            imgs.append(np.ascontiguousarray(img))
            labs.append(np.ascontiguousarray(lab))
        return torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(labs))
