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
    "Conv2d",
    "ConvTranspose2d",
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


class _Scratch:
    """Arrays kept across calls, one per name (re-made when shape or dtype change): a
    Lava synapse calls its operator every step on the same shapes, and a fresh
    whole-layer array each time costs page faults that outweigh the arithmetic."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype, zero: bool = False) -> np.ndarray:
        buf = self._bufs.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != np.dtype(dtype):
            buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
            self._bufs[name] = buf
        return buf


class Conv2d:
    """Exact integer 2-D cross-correlation with a fixed weight (PyTorch ``conv2d``, no bias).

    ``weight``: ``(C_out, C_in, kh, kw)`` integers, prepared once (matrix form, exactness
    bound, float copies). Call with ``(C_in, H, W)`` or ``(B, C_in, H, W)`` integers; returns
    int64 ``(C_out, H_out, W_out)`` (or with the batch dim). im2col via
    ``sliding_window_view`` + one matrix product.
    """

    def __init__(
        self,
        weight: np.ndarray,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        reuse: bool = False,
    ) -> None:
        weight = np.asarray(weight)
        if weight.ndim != 4 or not np.issubdtype(weight.dtype, np.integer):
            raise ValueError(
                f"conv weight must be an integer (C_out, C_in, kh, kw) array, got "
                f"{weight.dtype} {weight.shape}"
            )
        self._scratch = _Scratch() if reuse else None
        self.c_out, self.c_in, self.kh, self.kw = weight.shape
        self.stride, self.padding = _pair(stride), _pair(padding)
        self._mat = weight.reshape(self.c_out, -1).astype(np.int64)
        self._w_bound = int(np.abs(self._mat).sum(axis=1).max(initial=0))
        self._cast: dict = {np.int64: self._mat}

    def _wmat(self, dtype: type) -> np.ndarray:
        if dtype not in self._cast:
            self._cast[dtype] = self._mat.astype(dtype)
        return self._cast[dtype]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xb, squeeze = _as_batch(x)
        if xb.shape[1] != self.c_in:
            raise ValueError(f"input has {xb.shape[1]} channels, weight expects {self.c_in}")
        (sh, sw), (ph, pw), kh, kw = self.stride, self.padding, self.kh, self.kw
        dtype = exact_dtype(_absmax(xb), self._w_bound)
        if self._scratch is not None:
            return self._call_reusing(xb, squeeze, dtype)
        xp = xb.astype(dtype, copy=False)
        if ph or pw:
            xp = np.pad(xp, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        b, _, ho, wo = win.shape[:4]  # win: (B, C_in, H_out, W_out, kh, kw)
        cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(b, self.c_in * kh * kw, ho * wo)
        y = _to_int64(np.matmul(self._wmat(dtype), cols).reshape(b, self.c_out, ho, wo))
        return y[0] if squeeze else y

    def _call_reusing(self, xb: np.ndarray, squeeze: bool, dtype: type) -> np.ndarray:
        """The same sums, tap by tap, in buffers kept across calls (the result too: use it
        before the next call): ``y = sum_ij W[:, :, i, j] @ x_shifted(i, j)``. No im2col
        matrix (``kh * kw`` times the input), only one shifted copy of the input at a
        time; every partial sum is bounded as in ``__call__``, so the float sums are exact.
        """
        (sh, sw), (ph, pw), kh, kw = self.stride, self.padding, self.kh, self.kw
        b, c, h, w = xb.shape
        sc = self._scratch
        if ph or pw:  # the border is zeroed once and never written
            xp = sc.get("pad", (b, c, h + 2 * ph, w + 2 * pw), dtype, zero=True)
            xp[:, :, ph : ph + h, pw : pw + w] = xb
        else:
            xp = xb.astype(dtype, copy=False)
        ho = (xp.shape[2] - kh) // sh + 1
        wo = (xp.shape[3] - kw) // sw + 1
        taps = self._taps(dtype)
        tap = sc.get("tap", (b, c, ho, wo), dtype)
        part = sc.get("part", (b, self.c_out, ho * wo), dtype)
        acc = sc.get("acc", (b, self.c_out, ho * wo), dtype)
        for t, (i, j) in enumerate((i, j) for i in range(kh) for j in range(kw)):
            np.copyto(tap, xp[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw])
            np.matmul(taps[t], tap.reshape(b, c, ho * wo), out=acc if t == 0 else part)
            if t:
                acc += part
        y = sc.get("y", (b, self.c_out, ho, wo), np.int64)
        np.copyto(y, acc.reshape(b, self.c_out, ho, wo), casting="unsafe")  # exact integers
        return y[0] if squeeze else y

    def _taps(self, dtype: type) -> list[np.ndarray]:
        key = ("taps", np.dtype(dtype).str)
        if key not in self._cast:
            w = self._mat.reshape(self.c_out, self.c_in, self.kh, self.kw)
            self._cast[key] = [
                np.ascontiguousarray(w[:, :, i, j]).astype(dtype)
                for i in range(self.kh)
                for j in range(self.kw)
            ]
        return self._cast[key]


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Exact integer conv2d (see :class:`Conv2d`); ``weight`` is ``(C_out, C_in, kh, kw)``."""
    return Conv2d(weight, stride, padding)(x)


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


class ConvTranspose2d:
    """Exact integer transposed convolution with a fixed weight (PyTorch ``conv_transpose2d``).

    ``weight``: ``(C_in, C_out, kh, kw)``. One matrix product (every input value times its
    whole kernel, i.e. the synaptic fan-out) followed by a scatter-add of the ``kh * kw``
    taps onto the strided output grid, then cropping ``padding``. Returns int64.
    """

    def __init__(
        self,
        weight: np.ndarray,
        stride: int | tuple[int, int] = 2,
        padding: int | tuple[int, int] = 1,
        output_padding: int | tuple[int, int] = 1,
        reuse: bool = False,
    ) -> None:
        self._scratch = _Scratch() if reuse else None
        weight = np.asarray(weight)
        if weight.ndim != 4 or not np.issubdtype(weight.dtype, np.integer):
            raise ValueError(
                f"convT weight must be an integer (C_in, C_out, kh, kw) array, "
                f"got {weight.dtype} {weight.shape}"
            )
        self.c_in, self.c_out, self.kh, self.kw = weight.shape
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.output_padding = _pair(output_padding)
        self._mat = weight.reshape(self.c_in, -1).T.astype(np.int64)  # (C_out*kh*kw, C_in)
        # Each output element sums a subset of sum_{c,i,j} |w[c,o,i,j]| * |x|.
        self._w_bound = int(np.abs(weight).astype(np.int64).sum(axis=(0, 2, 3)).max(initial=0))
        self._cast: dict[type, np.ndarray] = {np.int64: self._mat}

    def _wmat(self, dtype: type) -> np.ndarray:
        if dtype not in self._cast:
            self._cast[dtype] = self._mat.astype(dtype)
        return self._cast[dtype]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xb, squeeze = _as_batch(x)
        if xb.shape[1] != self.c_in:
            raise ValueError(f"input has {xb.shape[1]} channels, weight expects {self.c_in}")
        (sh, sw), (ph, pw), kh, kw = self.stride, self.padding, self.kh, self.kw
        b, _, h, w = xb.shape
        _, ho, wo = conv_transpose2d_output_shape(
            (self.c_in, h, w), self.c_out, (kh, kw), self.stride, self.padding, self.output_padding
        )
        dtype = exact_dtype(_absmax(xb), self._w_bound)
        sc = self._scratch
        full_shape = (
            b, self.c_out, max((h - 1) * sh + kh, ph + ho), max((w - 1) * sw + kw, pw + wo)
        )  # fmt: skip
        if sc is None:
            cols = np.matmul(self._wmat(dtype), xb.reshape(b, self.c_in, h * w).astype(dtype))
            full = np.zeros(full_shape, dtype=dtype)
        else:  # buffers kept across calls (the result too: use it before the next call)
            xin = sc.get("x", (b, self.c_in, h * w), dtype)
            np.copyto(xin, xb.reshape(b, self.c_in, h * w), casting="unsafe")
            cols = sc.get("cols", (b, self.c_out * kh * kw, h * w), dtype)
            np.matmul(self._wmat(dtype), xin, out=cols)
            full = sc.get("full", full_shape, dtype)
            full[...] = 0
        cols = cols.reshape(b, self.c_out, kh, kw, h, w)
        for i in range(kh):
            for j in range(kw):
                full[:, :, i : i + sh * (h - 1) + 1 : sh, j : j + sw * (w - 1) + 1 : sw] += cols[
                    :, :, i, j
                ]
        if sc is None:
            y = _to_int64(full[:, :, ph : ph + ho, pw : pw + wo])
        else:
            y = sc.get("y", (b, self.c_out, ho, wo), np.int64)
            np.copyto(y, full[:, :, ph : ph + ho, pw : pw + wo], casting="unsafe")
        return y[0] if squeeze else y


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 2,
    padding: int | tuple[int, int] = 1,
    output_padding: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Exact integer conv_transpose2d (:class:`ConvTranspose2d`); weight ``(C_in, C_out, k, k)``."""
    return ConvTranspose2d(weight, stride, padding, output_padding)(x)
