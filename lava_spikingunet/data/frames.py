"""Input frames for the pipeline: an image or array file as float64 ``(C, H, W)`` in [0, 1].

``load_input`` reads the one frame ``simulate``, ``verify``, ``profile`` and ``deploy``
run; ``load_frames`` the calibration frames ``quantize`` uses. Both refuse anything
unreadable, of the wrong channel count, or not finite, with an :class:`InputError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lava_spikingunet.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "fit_frame", "load_frames", "load_input", "read_frame"]

#: Image files a folder of calibration frames may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")


def read_frame(path: str | Path, channels: int) -> np.ndarray:
    """An image file as float64 ``(C, H, W)`` in [0, 1]; InputError on a channel mismatch."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from lava_spikingunet.data.imageio import MAX_IMAGE_PIXELS, read_image, to_float

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                bands = 1 if im.mode in ("1", "L", "LA", "I", "F") or im.mode[:4] == "I;16" else 3
                if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                    raise InputError(
                        f"image {path} is {im.size[0]}x{im.size[1]} pixels, more than the "
                        f"{MAX_IMAGE_PIXELS} this reads; crop or downscale it first"
                    )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"image {path} refused as a decompression bomb: {exc}") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from exc
    if channels not in (1, 3):
        raise InputError(f"model takes {channels} input channels; only 1 or 3 come from images")
    if bands != channels:
        kind = {1: "grey", 3: "colour"}
        raise InputError(
            f"{path} is a {kind[bands]} image ({bands} channel(s)) but the model takes "
            f"{channels} ({kind[channels]}); convert the image first"
        )
    return to_float(read_image(path, "L" if channels == 1 else "RGB")).astype("float64")


def load_input(path: str | Path, channels: int) -> np.ndarray:
    """The input frame of an image or ``.npy`` file as float64 ``(C, H, W)``; InputError on
    a missing file, the wrong channel count or non-finite values."""
    from lava_spikingunet.data.imageio import frames_from_array, load_npy

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path} not found")
    if path.suffix.lower() == ".npy":
        arr = load_npy(path)
        if arr.ndim not in (2, 3):
            raise InputError(f"{path}: expected (C, H, W) or (H, W), got shape {arr.shape}")
        arr = frames_from_array(arr, path)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.shape[0] != channels:
            raise InputError(f"{path} has {arr.shape[0]} channel(s) but the model takes {channels}")
    else:
        arr = read_frame(path, channels)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: the image contains NaN or infinite values")
    return arr


def fit_frame(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """Crop ``(C, H', W')`` to its top-left ``h x w``; pad (reflect) if smaller."""
    frame = frame[:, :h, :w]
    ph, pw = h - frame.shape[1], w - frame.shape[2]
    if ph or pw:
        mode = "reflect" if min(frame.shape[1:]) > max(ph, pw) else "edge"
        frame = np.pad(frame, ((0, 0), (0, ph), (0, pw)), mode=mode)
    return frame


def load_frames(path: str | Path, shape: tuple[int, int, int], limit: int) -> np.ndarray:
    """Up to ``limit`` frames ``(B, C, H, W)`` float64 from an image, a folder of images or
    a ``.npy``/``.pt`` array, cropped/padded to ``shape`` ``(C, H, W)``; InputError on
    anything unreadable or of the wrong channel count."""
    path = Path(path)
    c, h, w = shape
    if not path.exists():
        raise InputError(f"calibration data {path} not found")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
        frames = [read_frame(f, c) for f in files[:limit]]
    elif path.suffix.lower() in (".npy", ".pt"):
        arr = _read_array(path)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1] != c:
            raise InputError(f"{path}: expected (B, {c}, H, W) frames, got shape {arr.shape}")
        frames = list(arr[:limit])
    else:
        frames = [read_frame(path, c)]
    out = np.stack([fit_frame(f, h, w) for f in frames])
    if not np.all(np.isfinite(out)):
        raise InputError(f"{path}: calibration frames contain NaN or infinite values")
    return out


def _read_array(path: Path) -> np.ndarray:
    from lava_spikingunet.data.imageio import frames_from_array, load_npy

    if path.suffix.lower() == ".npy":
        arr = load_npy(path)
    else:
        try:
            import torch

            arr = torch.load(path, map_location="cpu", weights_only=True)
            arr = arr.numpy() if hasattr(arr, "numpy") else np.asarray(arr)
        except Exception as exc:  # noqa: BLE001 - any failure means an unreadable file
            raise InputError(f"{path}: cannot read an array ({exc})") from exc
    if arr.ndim not in (3, 4):
        raise InputError(f"{path}: expected (B, C, H, W) frames, got shape {arr.shape}")
    return frames_from_array(arr, path)
