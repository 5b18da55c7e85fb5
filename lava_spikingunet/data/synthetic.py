"""Tiny stand-in datasets in the published layouts, for tests and offline demos.

``make_synthetic_datasets(root)`` writes ``root/denoising/...`` and
``root/segmentation/...`` exactly as the real sets are laid out (PNG/JPG/TIF/GIF with
the real file names), with small smooth random images and labels derived from them
so that a network can learn something in a few steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _smooth(rng: np.random.Generator, h: int, w: int, channels: int = 0) -> np.ndarray:
    """Smooth uint8 texture: bilinear upsampling of a coarse random grid."""
    shape = (h, w, channels) if channels else (h, w)
    coarse = rng.random((max(2, h // 8), max(2, w // 8)) + shape[2:])
    ys = np.linspace(0, coarse.shape[0] - 1, h)
    xs = np.linspace(0, coarse.shape[1] - 1, w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, coarse.shape[0] - 1), np.minimum(x0 + 1, coarse.shape[1] - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    if channels:
        fy, fx = fy[..., None], fx[..., None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x1] * fx
    bot = coarse[y1][:, x0] * (1 - fx) + coarse[y1][:, x1] * fx
    return np.round(255 * (top * (1 - fy) + bot * fy)).astype(np.uint8)


def _save(path: Path, array: np.ndarray, **kwargs) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def make_synthetic_datasets(root: str | Path, seed: int = 0, size: int = 48) -> Path:
    """Write the five tiny datasets under ``root``; returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    den = root / "denoising"
    for i in range(1, 5):
        _save(den / "train400" / f"test_{i:03d}.png", _smooth(rng, size, size))
        _save(den / "bsd200" / f"{100000 + i}.jpg", _smooth(rng, size, size + 8, 3), quality=95)
    for i in range(1, 4):  # odd sizes on purpose
        _save(den / "BSD68" / f"test{i:03d}.png", _smooth(rng, size - 7, size + 5))
        _save(den / "CBSD68" / f"{101000 + i}.png", _smooth(rng, size + 5, size - 7, 3))

    seg = root / "segmentation"
    for s in range(30):
        img = _smooth(rng, size, size)
        _save(seg / "isbi2012" / "train" / "image" / f"{s}.png", img)
        _save(
            seg / "isbi2012" / "train" / "label" / f"{s}.png",
            np.where(img < 80, 0, 255).astype(np.uint8),
        )
    h, w = size + 10, size + 3
    yy, xx = np.mgrid[:h, :w]
    fov = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.48 * min(h, w)) ** 2
    for split, ids, tag in (("training", (21, 22), "training"), ("test", (1, 2), "test")):
        for k in ids:
            rgb = _smooth(rng, h, w, 3)
            vessel = np.where(rgb[..., 1] < 90, 255, 0).astype(np.uint8)
            base = seg / "drive" / split
            _save(base / "images" / f"{k:02d}_{tag}.tif", rgb)
            _save(base / "1st_manual" / f"{k:02d}_manual1.gif", vessel)
            _save(base / "mask" / f"{k:02d}_{tag}_mask.gif", (fov * 255).astype(np.uint8))
    for f in range(24):
        rgb = _smooth(rng, size - 8, size, 3)
        label = (rgb[..., 0].astype(np.int64) * 12 // 256).astype(np.uint8)  # 0..11, 11 void
        name = f"0016E5_{7959 + 2 * f:05d}.png"
        _save(seg / "camseq01" / "images" / name, rgb)
        _save(seg / "camseq01" / "labels" / name, label)
    return root
