"""Exact integer synaptic ops in vectorized numpy (no torch, safe inside Lava processes).

Arrays are ``(C, H, W)`` for one frame or ``(B, C, H, W)`` for a batch; results are
``int64`` and equal the mathematically exact integer results (docs/semantics.md, section 4).

The matrix products run in a floating dtype on BLAS whenever that is provably exact:
every partial sum of ``sum(w * x)`` is bounded by ``max|x| * max_o sum|w[o]|``; if that
bound is below ``2**24`` (float32) or ``2**53`` (float64), every intermediate value is an
exactly representable integer and the float result is the integer result. Otherwise the
product runs in ``int64`` (exact as long as the true result fits in int64).

This module imports nothing from the package on purpose: Lava's model discovery executes
every module of this directory standalone.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "avgpool2d",
    "conv2d",
    "conv2d_output_shape",
    "conv_transpose2d",
    "conv_transpose2d_output_shape",
    "exact_dtype",
    "shift",
]

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(v, (tuple, list, np.ndarray)):
        a, b = (int(u) for u in v)
        return a, b
    return int(v), int(v)


def shift(x: np.ndarray | int, e: int) -> np.ndarray:
    """``x << e`` for ``e >= 0``, arithmetic (floor) ``x >> -e`` for ``e < 0``, in int64."""
    x = np.asarray(x, dtype=np.int64)
    e = int(e)
    return np.left_shift(x, e) if e >= 0 else np.right_shift(x, -e)


def exact_dtype(x_absmax: int, w_abs_rowsum_max: int) -> type:
    """Cheapest dtype in which a sum of products bounded by ``x_absmax * w_rowsum`` is exact."""
    bound = int(x_absmax) * int(w_abs_rowsum_max)
    if bound < _F32_EXACT:
        return np.float32
    if bound < _F64_EXACT:
        return np.float64
    return np.int64


def _absmax(x: np.ndarray) -> int:
    if x.size == 0:
        return 0
    return int(max(abs(int(x.max())), abs(int(x.min()))))


def _as_batch(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None], True
    if x.ndim == 4:
        return x, False
    raise ValueError(f"expected (C,H,W) or (B,C,H,W), got shape {x.shape}")


def _to_int64(y: np.ndarray) -> np.ndarray:
    return y if y.dtype == np.int64 else y.astype(np.int64)


def conv2d_output_shape(
    in_shape: tuple[int, int, int],
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> tuple[int, int, int]:
    """Output ``(C_out, H_out, W_out)`` of a 2-D convolution (dilation 1)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(padding)
    _, h, w = in_shape
    return out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def conv_transpose2d_output_shape(
    in_shape: tuple[int, int, int],
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 2,
    padding: int | tuple[int, int] = 1,
    output_padding: int | tuple[int, int] = 1,
) -> tuple[int, int, int]:
    """Output ``(C_out, H_out, W_out)`` of a transposed convolution (dilation 1)."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    (ph, pw), (oh, ow) = _pair(padding), _pair(output_padding)
    _, h, w = in_shape
    return out_channels, (h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Exact integer 2-D cross-correlation (PyTorch ``conv2d`` semantics, no bias).

    ``x``: ``(C_in, H, W)`` or ``(B, C_in, H, W)`` integers; ``weight``: ``(C_out, C_in, kh, kw)``
    integers. Returns int64 ``(C_out, H_out, W_out)`` (or with the batch dim). im2col via
    ``sliding_window_view`` + one matrix product.
    """
    xb, squeeze = _as_batch(x)
    weight = np.asarray(weight)
    c_out, c_in, kh, kw = weight.shape
    if xb.shape[1] != c_in:
        raise ValueError(f"input has {xb.shape[1]} channels, weight expects {c_in}")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    wmat = weight.reshape(c_out, c_in * kh * kw)
    dtype = exact_dtype(_absmax(xb), int(np.abs(wmat).sum(axis=1).max(initial=0)))
    xp = xb.astype(dtype, copy=False)
    if ph or pw:
        xp = np.pad(xp, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # B,Cin,Ho,Wo,kh,kw
    b, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(b, c_in * kh * kw, ho * wo)
    y = np.matmul(wmat.astype(dtype, copy=False), cols).reshape(b, c_out, ho, wo)
    y = _to_int64(y)
    return y[0] if squeeze else y


def avgpool2d(x: np.ndarray, weight: int, kernel: int = 2) -> np.ndarray:
    """Average pooling as a scalar-weight synapse: ``weight * sum`` over each window.

    Non-overlapping ``kernel x kernel`` windows (stride = kernel), floor mode like PyTorch's
    ``avg_pool2d`` (trailing rows/columns that do not fill a window are dropped). The 1/4 and
    the normalization are folded into the integer ``weight``. Returns int64.
    """
    xb, squeeze = _as_batch(x)
    b, c, h, w = xb.shape
    ho, wo = h // kernel, w // kernel
    xb = xb[:, :, : ho * kernel, : wo * kernel].astype(np.int64, copy=False)
    y = xb.reshape(b, c, ho, kernel, wo, kernel).sum(axis=(3, 5)) * np.int64(weight)
    return y[0] if squeeze else y


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 2,
    padding: int | tuple[int, int] = 1,
    output_padding: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Exact integer transposed convolution (PyTorch ``conv_transpose2d`` semantics, no bias).

    ``weight``: ``(C_in, C_out, kh, kw)``. Computed as one matrix product (every input
    value times its whole kernel, i.e. the synaptic fan-out) followed by a scatter-add of
    the ``kh * kw`` taps onto the strided output grid, then cropping ``padding``.
    """
    xb, squeeze = _as_batch(x)
    weight = np.asarray(weight)
    c_in, c_out, kh, kw = weight.shape
    if xb.shape[1] != c_in:
        raise ValueError(f"input has {xb.shape[1]} channels, weight expects {c_in}")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    b, _, h, w = xb.shape
    _, ho, wo = conv_transpose2d_output_shape(
        (c_in, h, w), c_out, (kh, kw), stride, padding, output_padding
    )
    # Per output element, the contributing terms are a subset of sum_{c,i,j} |w[c,o,i,j]| |x|.
    w_bound = int(np.abs(weight).sum(axis=(0, 2, 3)).max(initial=0))
    dtype = exact_dtype(_absmax(xb), w_bound)
    wmat = weight.reshape(c_in, c_out * kh * kw).T.astype(dtype)  # (Cout*kh*kw, Cin)
    cols = np.matmul(wmat, xb.reshape(b, c_in, h * w).astype(dtype, copy=False))
    cols = cols.reshape(b, c_out, kh, kw, h, w)
    hf = max((h - 1) * sh + kh, ph + ho)
    wf = max((w - 1) * sw + kw, pw + wo)
    full = np.zeros((b, c_out, hf, wf), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            full[:, :, i : i + sh * (h - 1) + 1 : sh, j : j + sw * (w - 1) + 1 : sw] += cols[
                :, :, i, j
            ]
    y = _to_int64(full[:, :, ph : ph + ho, pw : pw + wo])
    return y[0] if squeeze else y
