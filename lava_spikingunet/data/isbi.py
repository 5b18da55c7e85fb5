"""ISBI-2012 EM membranes: 30 labelled slices, the last 5 held out for testing.

Labels: 255 = cell interior, 0 = membrane. The positive class is **membrane**
(label < 128). Slices 0..24 train, 25..29 test (:data:`TEST_SLICES`). Images are
grey 512x512 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lava_spikingunet.data.augment import (
    ENDLESS,
    IndexSeededDataset,
    dihedral,
    random_crop_origin,
)
from lava_spikingunet.data.imageio import read_image, to_float
from lava_spikingunet.data.paths import list_files, resolve_data_root
from lava_spikingunet.errors import InputError

LAYOUT = """\
  <data-root>/segmentation/isbi2012/train/image/0.png ... 29.png  (grey 512x512)
  <data-root>/segmentation/isbi2012/train/label/0.png ... 29.png  (255 cell, 0 membrane)"""

NUM_SLICES = 30
TEST_SLICES = tuple(range(25, 30))
SPLITS = ("train", "test", "all")


def _slice_index(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        msg = f"ISBI-2012 file {path} is not named <slice>.png; layout:\n{LAYOUT}"
        raise InputError(msg) from None


@dataclass
class IsbiSplit(Dataset):
    """Slices of one split: ``images`` (HxW uint8), ``membranes`` (HxW bool), ``slices``.

    Item ``i``: ``(image (1, H, W), membrane (1, H, W) float32 in {0, 1})``.
    """

    images: list[np.ndarray]
    membranes: list[np.ndarray]
    slices: list[int]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        membrane = self.membranes[i][None].astype(np.float32)
        return torch.from_numpy(to_float(self.images[i])), torch.from_numpy(membrane)

    @classmethod
    def load(cls, data_root: str | Path | None, split: str, test_slices=TEST_SLICES) -> IsbiSplit:
        if split not in SPLITS:
            raise InputError(f"ISBI-2012 split must be one of {SPLITS}, got {split!r}")
        base = resolve_data_root(data_root) / "segmentation" / "isbi2012" / "train"
        images = {_slice_index(p): p for p in list_files(base / "image", (".png", ".tif"), LAYOUT)}
        labels = {_slice_index(p): p for p in list_files(base / "label", (".png", ".tif"), LAYOUT)}
        if set(images) != set(labels):
            odd = sorted(set(images) ^ set(labels))
            raise InputError(f"ISBI-2012: slices {odd} lack an image or a label; layout:\n{LAYOUT}")
        test = set(test_slices)
        if split != "all" and not test <= set(images):
            raise InputError(f"ISBI-2012: held-out slices {sorted(test)} are not all present")
        keep = sorted(s for s in images if split == "all" or (s in test) == (split == "test"))
        imgs = [read_image(images[s], "L") for s in keep]
        mems = [read_image(labels[s], "L") < 128 for s in keep]
        for s, a, b in zip(keep, imgs, mems, strict=True):
            if a.shape != b.shape:
                raise InputError(f"ISBI-2012 slice {s}: image {a.shape} vs label {b.shape}")
        return cls(imgs, mems, keep)

    def eval_items(self, limit: int | None = None):
        """``(image (1, H, W) tensor, membrane bool HxW, None)`` per slice."""
        n = len(self) if limit is None else min(limit, len(self))
        for i in range(n):
            yield torch.from_numpy(to_float(self.images[i])), self.membranes[i], None


class IsbiPatches(IndexSeededDataset):
    """Random crops with the 8 flips/rotations (EM sections have no orientation).

    Item: ``(image (1, P, P), membrane (1, P, P) float32 in {0, 1})``.
    """

    def __init__(
        self, split: IsbiSplit, patch: int = 128, seed: int = 0, length: int = ENDLESS
    ) -> None:
        super().__init__(seed, length)
        self.split = split
        self.patch = int(patch)

    def sample(self, rng: np.random.Generator):
        p = self.patch
        i = int(rng.integers(len(self.split)))
        image, mem = self.split.images[i], self.split.membranes[i]
        y, x = random_crop_origin(rng, image.shape, (p, p))
        k = int(rng.integers(8))
        img = dihedral(to_float(image[y : y + p, x : x + p]), k)
        lab = dihedral(mem[None, y : y + p, x : x + p].astype(np.float32), k)
        return torch.from_numpy(img), torch.from_numpy(lab)
