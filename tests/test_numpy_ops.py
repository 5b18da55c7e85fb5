"""Exact integer numpy ops vs PyTorch float64 on integer-valued inputs."""

from __future__ import annotations

import numpy as np
import pytest

import lava_spikingunet  # noqa: F401  (installs the Lava compat hook)
from lava_spikingunet.backends.lava import numpy_ops as ops

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _np(t: torch.Tensor) -> np.ndarray:
    out = t.numpy()
    assert np.all(out == np.round(out))
    return out.astype(np.int64)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize(
    "k,stride,padding,hw",
    [
        (3, 1, 1, (7, 9)),
        (3, 2, 1, (8, 8)),
        (1, 1, 0, (5, 4)),
        (3, 2, 0, (9, 7)),
        (2, 1, (1, 0), (6, 5)),
    ],
)
def test_conv2d_matches_torch(batch, k, stride, padding, hw) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(2, 3, *hw)) if batch else rng.integers(0, 16, size=(3, *hw))
    w = rng.integers(-128, 128, size=(4, 3, k, k))
    ref = _np(F.conv2d(_t(x if batch else x[None]), _t(w), stride=stride, padding=padding))
    got = ops.conv2d(x, w, stride=stride, padding=padding)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref if batch else ref[0])
    assert got.shape[-3:] == ops.conv2d_output_shape(x.shape[-3:], 4, k, stride, padding)


@pytest.mark.parametrize("scale", [1, 1 << 20, 1 << 40])
def test_conv2d_exact_in_every_dtype_regime(scale) -> None:
    """Small bounds run in float32, larger in float64, huge in int64: all exact."""
    rng = np.random.default_rng(1)
    x = rng.integers(-255, 256, size=(5, 6, 6)) * scale
    w = rng.integers(-128, 128, size=(3, 5, 3, 3))
    got = ops.conv2d(x, w, padding=1)
    # Exact reference: python ints via object arrays (no float rounding at all).
    xp = np.pad(x.astype(object), ((0, 0), (1, 1), (1, 1)))
    ref = np.zeros((3, 6, 6), dtype=object)
    for i in range(3):
        for j in range(3):
            ref += np.tensordot(w[:, :, i, j].astype(object), xp[:, i : i + 6, j : j + 6], 1)
    np.testing.assert_array_equal(got, ref.astype(np.int64))


def test_exact_dtype_thresholds() -> None:
    assert ops.exact_dtype(255, (1 << 24) // 255 - 1) is np.float32
    assert ops.exact_dtype(1, 1 << 24) is np.float64
    assert ops.exact_dtype(1, 1 << 53) is np.int64


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("hw", [(8, 8), (7, 9)])
def test_avgpool_matches_torch(batch, hw) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 16, size=(2, 3, *hw)) if batch else rng.integers(0, 16, size=(3, *hw))
    m = -37
    ref = _np(F.avg_pool2d(_t(x if batch else x[None]), 2) * 4 * m)
    got = ops.avgpool2d(x, m)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref if batch else ref[0])


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize(
    "k,stride,padding,outpad,hw",
    [
        (3, 2, 1, 1, (4, 5)),
        (3, 2, 1, 0, (3, 3)),
        (2, 2, 0, 0, (3, 4)),
        (3, 1, 1, 0, (4, 4)),
        (4, 2, 1, 1, (3, 2)),
    ],
)
def test_conv_transpose_matches_torch(batch, k, stride, padding, outpad, hw) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 16, size=(2, 3, *hw)) if batch else rng.integers(0, 16, size=(3, *hw))
    w = rng.integers(-128, 128, size=(3, 5, k, k))
    ref = _np(
        F.conv_transpose2d(
            _t(x if batch else x[None]),
            _t(w),
            stride=stride,
            padding=padding,
            output_padding=outpad,
        )
    )
    got = ops.conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=outpad)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref if batch else ref[0])
    assert got.shape[-3:] == ops.conv_transpose2d_output_shape(
        x.shape[-3:], 5, k, stride, padding, outpad
    )


def test_conv_transpose_huge_values_int64_path() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 16, size=(2, 3, 3)) << 45
    w = rng.integers(-128, 128, size=(2, 2, 3, 3))
    small = ops.conv_transpose2d(x >> 45, w)
    np.testing.assert_array_equal(ops.conv_transpose2d(x, w), small << 45)


@pytest.mark.parametrize("e", [-7, -1, 0, 3])
def test_shift_is_floor_scaling(e) -> None:
    x = np.arange(-300, 300, 7, dtype=np.int64)
    got = ops.shift(x, e)
    ref = x * (1 << e) if e >= 0 else np.floor(x / (1 << -e)).astype(np.int64)
    np.testing.assert_array_equal(got, ref)
    assert got.dtype == np.int64
