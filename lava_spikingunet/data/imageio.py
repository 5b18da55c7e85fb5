"""Reading images as numpy arrays (uint8; float conversion is done by the datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lava_spikingunet.errors import UserError


def read_image(path: Path, mode: str) -> np.ndarray:
    """Read ``path`` with PIL converted to ``mode`` ("L" grey, "RGB"): HxW or HxWx3 uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from exc


def read_label(path: Path) -> np.ndarray:
    """Read a label image without colour conversion (palette indices stay indices)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "1", "I", "I;16"):
                im = im.convert("L")
            return np.asarray(im).astype(np.int64)
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"cannot read label image {path}: {exc}") from exc


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 HxW or HxWxC -> float32 CxHxW in [0, 1]."""
    x = image.astype(np.float32) / 255.0
    return x[None] if x.ndim == 2 else np.ascontiguousarray(x.transpose(2, 0, 1))
