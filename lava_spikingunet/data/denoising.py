"""Gaussian denoising data: Train400 / BSD200 training patches, BSD68 / CBSD68 test.

Protocol (DnCNN's): images are scaled to [0, 1]; the noisy image is
``clean + sigma / 255 * n`` with ``n ~ N(0, 1)`` and is **not** clipped. Training
patches draw sigma uniformly from ``sigma_range`` (both ends equal: fixed sigma).
Test noise is fixed per image: image ``i`` at level ``sigma`` uses
``numpy.random.default_rng((seed, round(100 * sigma), i))``, so every run sees the
same noisy test images.
"""

from __future__ import annotations

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
  <data-root>/denoising/train400/*.png   400 grey 180x180 (DnCNN Train400)
  <data-root>/denoising/bsd200/*.jpg     200 colour (BSDS500 train split)
  <data-root>/denoising/BSD68/*.png      68 grey test images
  <data-root>/denoising/CBSD68/*.png     68 colour test images"""

#: Folder name, file suffixes and colour flag of each published set.
SETS = {
    "train400": (".png",),
    "bsd200": (".jpg", ".jpeg"),
    "BSD68": (".png",),
    "CBSD68": (".png",),
}
COLOUR = {"train400": False, "bsd200": True, "BSD68": False, "CBSD68": True}

#: The paper's test noise levels (on the 0..255 scale).
TEST_SIGMAS = (15, 25, 50)


def add_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``clean + sigma/255 * N(0, 1)`` in float32, unclipped."""
    noise = rng.standard_normal(clean.shape, dtype=np.float32)
    return clean + np.float32(sigma / 255.0) * noise


def load_set(name: str, data_root: str | Path | None = None) -> tuple[list[np.ndarray], list[str]]:
    """uint8 images (HxW grey or HxWx3 colour) and file names of a published set."""
    if name not in SETS:
        raise InputError(f"unknown denoising set {name!r}; known: {', '.join(SETS)}")
    folder = resolve_data_root(data_root) / "denoising" / name
    files = list_files(folder, SETS[name], LAYOUT)
    mode = "RGB" if COLOUR[name] else "L"
    return [read_image(f, mode) for f in files], [f.name for f in files]


class DenoisePatches(IndexSeededDataset):
    """Endless random noisy/clean patches with the 8 flips/rotations.

    Item: ``(noisy, clean)``, float32 tensors of shape (C, patch, patch).
    """

    def __init__(
        self,
        images: list[np.ndarray],
        patch: int = 64,
        sigma_range: tuple[float, float] = (25.0, 25.0),
        seed: int = 0,
        length: int = ENDLESS,
        augment: bool = True,
    ) -> None:
        super().__init__(seed, length)
        if not images:
            raise InputError("no training images")
        small = [im.shape[:2] for im in images if min(im.shape[:2]) < patch]
        if small:
            raise InputError(f"patch {patch} is larger than image(s) of size {small[0]}")
        self.images = images
        self.patch = int(patch)
        self.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
        self.augment = augment

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[int(rng.integers(len(self.images)))]
        y, x = random_crop_origin(rng, image.shape[:2], (self.patch, self.patch))
        clean = to_float(image[y : y + self.patch, x : x + self.patch])
        if self.augment:
            clean = dihedral(clean, int(rng.integers(8)))
        lo, hi = self.sigma_range
        sigma = lo if lo == hi else float(rng.uniform(lo, hi))
        noisy = add_noise(clean, sigma, rng)
        return torch.from_numpy(noisy), torch.from_numpy(clean)


class DenoiseTestSet(Dataset):
    """Whole test images with fixed per-image noise.

    Item: ``(noisy, clean)``, float32 tensors of shape (C, H, W); ``names[i]`` is the file.
    """

    def __init__(
        self,
        images: list[np.ndarray],
        sigma: float,
        names: list[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.images = images
        self.sigma = float(sigma)
        self.names = names or [str(i) for i in range(len(images))]
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        clean = to_float(self.images[index])
        rng = np.random.default_rng((self.seed, round(100 * self.sigma), index))
        return torch.from_numpy(add_noise(clean, self.sigma, rng)), torch.from_numpy(clean)


def train_patches(colour: bool, data_root: str | Path | None = None, **kwargs) -> DenoisePatches:
    """Training patches from BSD200 (colour) or Train400 (grey); kwargs go to DenoisePatches."""
    images, _ = load_set("bsd200" if colour else "train400", data_root)
    return DenoisePatches(images, **kwargs)


def test_set(
    colour: bool, sigma: float, data_root: str | Path | None = None, seed: int = 0
) -> DenoiseTestSet:
    """CBSD68 (colour) or BSD68 (grey) at noise level ``sigma`` (0..255 scale)."""
    images, names = load_set("CBSD68" if colour else "BSD68", data_root)
    return DenoiseTestSet(images, sigma, names, seed)
