"""Reading images as numpy arrays (uint8; float conversion is done by the datasets)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from lava_spikingunet.errors import InputError

#: Largest image read (pixels): 8192 x 8192. Pillow's own decompression-bomb guard
#: only warns below 2x its limit; past this the file is refused by name before decoding.
MAX_IMAGE_PIXELS = 8192 * 8192

#: Pillow modes of single-channel images with more than 8 bits per pixel.
_WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _open_checked(path: Path):
    from PIL import Image

    im = Image.open(path)
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        im.close()
        raise InputError(
            f"image {path} is {w}x{h} pixels, more than the {MAX_IMAGE_PIXELS} this reads "
            "(8192 x 8192); crop or downscale it first"
        )
    return im


def read_image(path: Path, mode: str) -> np.ndarray:
    """Read ``path`` with PIL converted to ``mode`` ("L" grey, "RGB"): HxW or HxWx3 uint8.

    16-bit grey images (PNG/TIFF) are rescaled to 8 bits (``v / 257``), not clipped;
    32-bit float or integer images with values outside 16 bits are refused.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open_checked(path) as im:
                if im.mode in _WIDE_GREY or im.mode == "F":
                    grey = _wide_to_uint8(path, np.asarray(im))
                    if mode == "L":
                        return grey
                    return np.repeat(grey[..., None], 3, axis=2)
                return np.asarray(im.convert(mode), dtype=np.uint8).copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"image {path} refused as a decompression bomb: {exc}") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from exc


def _wide_to_uint8(path: Path, arr: np.ndarray) -> np.ndarray:
    """A 16-bit (or 32-bit holding 16-bit values) grey image as uint8, ``round(v / 257)``."""
    if arr.dtype.kind == "f":
        raise InputError(
            f"image {path} holds floating-point pixels; save it as an 8- or 16-bit image, "
            "or as a .npy in [0, 1]"
        )
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise InputError(
            f"image {path} holds values outside 0..65535; save it as an 8- or 16-bit image"
        )
    return np.rint(arr / 257.0).astype(np.uint8)


def read_label(path: Path) -> np.ndarray:
    """Read a label image without colour conversion (palette indices stay indices)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open_checked(path) as im:
            if im.mode not in ("L", "P", "1", "I", "I;16"):
                im = im.convert("L")
            return np.asarray(im).astype(np.int64)
    except (Image.DecompressionBombError, ValueError, SyntaxError) as exc:
        raise InputError(f"cannot read label image {path}: {exc}") from exc
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"cannot read label image {path}: {exc}") from exc


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 HxW or HxWxC -> float32 CxHxW in [0, 1]."""
    x = image.astype(np.float32) / 255.0
    return x[None] if x.ndim == 2 else np.ascontiguousarray(x.transpose(2, 0, 1))


#: Float frames may stray a little outside [0, 1] (noisy inputs); beyond this they are
#: refused as garbage (e.g. a 0..255 float array or 1e30).
FLOAT_RANGE = (-1.0, 2.0)


def load_npy(path: Path) -> np.ndarray:
    """``np.load`` without pickles, checking the declared shape before reading the data."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: expected one array, got {type(arr).__name__}")
    return arr


def frames_from_array(arr, path: Path) -> np.ndarray:
    """Frames given as an array (``(..., H, W)``) as float64 in [0, 1], or a InputError.

    Float arrays are taken as [0, 1] (values in [-1, 2] pass, for noisy inputs); uint8 is
    divided by 255 and uint16 by 65535; other integers, booleans, complex or non-finite
    values, empty arrays and frames above :data:`MAX_IMAGE_PIXELS` are refused.
    """
    arr = np.asarray(arr) if not isinstance(arr, np.ndarray) else arr
    if arr.dtype.kind == "c":
        raise InputError(f"{path}: complex values (dtype {arr.dtype}); frames are real in [0, 1]")
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{path}: not a numeric array (dtype {arr.dtype})")
    if arr.size == 0 or 0 in arr.shape:
        raise InputError(f"{path}: the array is empty (shape {arr.shape})")
    if arr.ndim >= 2 and arr.shape[-1] * arr.shape[-2] > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{path}: frames of {arr.shape[-2]}x{arr.shape[-1]} pixels, more than the "
            f"{MAX_IMAGE_PIXELS} this reads (8192 x 8192)"
        )
    if arr.dtype == np.uint8:
        return np.asarray(arr, dtype=np.float64) / 255.0
    if arr.dtype == np.uint16:
        return np.asarray(arr, dtype=np.float64) / 65535.0
    if arr.dtype.kind in "iub":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 1:
            raise InputError(
                f"{path}: integer array ({arr.dtype}) with values {lo}..{hi}; give float "
                "values in [0, 1], or uint8 (0..255) / uint16 (0..65535)"
            )
        return np.array(arr, dtype=np.float64)
    with np.errstate(all="ignore"):
        out = np.array(arr, dtype=np.float64)  # a copy: never the read-only memory map
    if not np.all(np.isfinite(out)):
        raise InputError(f"{path}: the frames contain NaN or infinite values")
    lo, hi = float(out.min()), float(out.max())
    if lo < FLOAT_RANGE[0] or hi > FLOAT_RANGE[1]:
        hint = "; it looks like 0..255: divide by 255" if 1.5 < hi <= 255.0 and lo >= -1 else ""
        raise InputError(
            f"{path}: float values {lo:.3g}..{hi:.3g}, but frames are in [0, 1] "
            f"(at most [{FLOAT_RANGE[0]:g}, {FLOAT_RANGE[1]:g}] is accepted){hint}"
        )
    return out
