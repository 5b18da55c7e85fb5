"""Deterministic random patches and flips for the training datasets.

Every training dataset is map-style and *index-seeded*: item ``i`` is drawn with
``numpy.random.default_rng((seed, i))``, so a batch is a pure function of
``(seed, step)``. That is what makes training resume bit-identically without saving
any random state, and lets a DataLoader use any number of workers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

#: Nominal length of the endless random-patch datasets.
ENDLESS = 2**31 - 1


def item_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for item ``index`` of a dataset seeded with ``seed``."""
    return np.random.default_rng((int(seed), int(index)))


def random_crop_origin(
    rng: np.random.Generator, shape: tuple[int, int], patch: tuple[int, int]
) -> tuple[int, int]:
    """Top-left corner of a random ``patch`` inside an image of ``shape`` (H, W)."""
    h, w = shape
    ph, pw = patch
    if ph > h or pw > w:
        raise ValueError(f"patch {patch} larger than image {shape}")
    return int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))


def dihedral(arr: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of the last two axes (k in 0..7); k=0 is identity."""
    out = np.rot90(arr, k % 4, axes=(-2, -1))
    if k >= 4:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def hflip(arr: np.ndarray, flip: bool) -> np.ndarray:
    """Mirror the last axis when ``flip``."""
    return np.ascontiguousarray(arr[..., ::-1]) if flip else arr


class IndexSeededDataset(Dataset):
    """Base class: ``self[i]`` calls :meth:`sample` with the generator of item ``i``."""

    def __init__(self, seed: int = 0, length: int = ENDLESS) -> None:
        self.seed = int(seed)
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.sample(item_rng(self.seed, index))

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError
