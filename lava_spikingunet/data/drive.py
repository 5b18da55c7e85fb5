"""DRIVE retinal vessels: the retina-unet preprocessing, 48x48 training patches, FOV masks.

Preprocessing (orobix retina-unet ``my_PreProc``), applied to a whole split at once:

1. RGB -> grey: ``0.299 R + 0.587 G + 0.114 B``
2. standardize with the split's mean and std, then rescale each image to 0..255
3. CLAHE (clip limit 2.0, 8x8 tiles) on the uint8 image
4. gamma 1.2 via a lookup table (``out = 255 (in / 255)^(1 / 1.2)``)
5. divide by 255: float32 in [0, 1]

Labels are the ``1st_manual`` vessel maps (> 127 = vessel); metrics count only pixels
inside the field-of-view ``mask``. Images stay at 584x565 (the U-Net pads internally).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lava_spikingunet.data.augment import ENDLESS, IndexSeededDataset, random_crop_origin
from lava_spikingunet.data.imageio import read_image
from lava_spikingunet.data.paths import list_files, resolve_data_root
from lava_spikingunet.errors import InputError

LAYOUT = """\
  <data-root>/segmentation/drive/training/images/21_training.tif ... 40_training.tif
  <data-root>/segmentation/drive/training/1st_manual/21_manual1.gif ...
  <data-root>/segmentation/drive/training/mask/21_training_mask.gif ...
  <data-root>/segmentation/drive/test/images/01_test.tif ... 20_test.tif
  <data-root>/segmentation/drive/test/1st_manual/01_manual1.gif ...
  <data-root>/segmentation/drive/test/mask/01_test_mask.gif ..."""

PREPROCESSING = "grey, split standardization + per-image 0..255, CLAHE(2.0, 8x8), gamma 1.2, /255"
SPLITS = ("training", "test")


def preprocess(rgb_images: list[np.ndarray]) -> list[np.ndarray]:
    """The retina-unet preprocessing of a split: HxWx3 uint8 -> HxW float32 in [0, 1]."""
    import cv2

    grey = [
        im[..., 0] * 0.299 + im[..., 1] * 0.587 + im[..., 2] * 0.114
        for im in (x.astype(np.float64) for x in rgb_images)
    ]
    flat = np.concatenate([g.ravel() for g in grey])
    mean, std = flat.mean(), flat.std()
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    table = np.array([((i / 255.0) ** (1.0 / 1.2)) * 255 for i in range(256)]).astype(np.uint8)
    out = []
    for g in grey:
        z = (g - mean) / std
        span = z.max() - z.min()
        z = (z - z.min()) / (span if span > 0 else 1.0) * 255
        eq = clahe.apply(z.astype(np.uint8))  # retina-unet truncates with astype
        out.append(cv2.LUT(eq, table).astype(np.float32) / 255.0)
    return out


def _stem_id(path: Path) -> str:
    return path.name.split("_")[0]


@dataclass
class DriveSplit(Dataset):
    """One DRIVE split, preprocessed: ``images`` (HxW float32), ``vessels``, ``masks`` (bool).

    Item ``i``: ``(image (1, H, W), vessel (1, H, W) float32 in {0, 1}, FOV (1, H, W) bool)``.
    """

    images: list[np.ndarray]
    vessels: list[np.ndarray]
    masks: list[np.ndarray]
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(self.images[i][None]),
            torch.from_numpy(self.vessels[i][None].astype(np.float32)),
            torch.from_numpy(self.masks[i][None]),
        )

    @classmethod
    def load(cls, data_root: str | Path | None, split: str) -> DriveSplit:
        if split not in SPLITS:
            raise InputError(f"DRIVE split must be one of {SPLITS}, got {split!r}")
        base = resolve_data_root(data_root) / "segmentation" / "drive" / split
        images = list_files(base / "images", (".tif", ".tiff"), LAYOUT)
        manual = {_stem_id(p): p for p in list_files(base / "1st_manual", (".gif",), LAYOUT)}
        masks = {_stem_id(p): p for p in list_files(base / "mask", (".gif",), LAYOUT)}
        missing = [p.name for p in images if _stem_id(p) not in manual or _stem_id(p) not in masks]
        if missing:
            raise InputError(
                f"DRIVE {split}: no 1st_manual or mask file for {missing[0]}; expected layout:\n"
                + LAYOUT
            )
        rgb = [read_image(p, "RGB") for p in images]
        vessels = [read_image(manual[_stem_id(p)], "L") > 127 for p in images]
        fov = [read_image(masks[_stem_id(p)], "L") > 127 for p in images]
        for p, im, v, m in zip(images, rgb, vessels, fov, strict=True):
            if not im.shape[:2] == v.shape == m.shape:
                raise InputError(f"DRIVE {p.name}: image, manual and mask sizes differ")
        return cls(preprocess(rgb), vessels, fov, [p.name for p in images])

    def eval_items(self, limit: int | None = None):
        """``(image (1, H, W) tensor, vessel bool HxW, FOV mask bool HxW)`` per image."""
        n = len(self) if limit is None else min(limit, len(self))
        for i in range(n):
            yield torch.from_numpy(self.images[i][None]), self.vessels[i], self.masks[i]


class DrivePatches(IndexSeededDataset):
    """Random ``patch x patch`` training windows whose centre lies inside the FOV.

    Item: ``(image (1, P, P), vessel (1, P, P) float32 in {0, 1})``; random flips.
    """

    def __init__(
        self, split: DriveSplit, patch: int = 48, seed: int = 0, length: int = ENDLESS
    ) -> None:
        super().__init__(seed, length)
        self.split = split
        self.patch = int(patch)

    def sample(self, rng: np.random.Generator):
        p = self.patch
        i = int(rng.integers(len(self.split)))
        image, vessel, mask = self.split.images[i], self.split.vessels[i], self.split.masks[i]
        for _ in range(20):  # retina-unet keeps patches centred in the FOV
            y, x = random_crop_origin(rng, image.shape, (p, p))
            if mask[y + p // 2, x + p // 2]:
                break
        img = image[None, y : y + p, x : x + p]
        lab = vessel[None, y : y + p, x : x + p].astype(np.float32)
        if rng.integers(2):
            img, lab = img[..., ::-1], lab[..., ::-1]
        if rng.integers(2):
            img, lab = img[..., ::-1, :], lab[..., ::-1, :]
        return (
            torch.from_numpy(np.ascontiguousarray(img)),
            torch.from_numpy(np.ascontiguousarray(lab)),
        )
