"""Metrics against hand-worked values and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from lava_spikingunet import metrics

PRED = np.array([[1, 1, 0], [0, 1, 0]], bool)
TRUE = np.array([[1, 0, 0], [1, 1, 0]], bool)  # TP 2, FP 1, FN 1, TN 2


def test_binary_counts_by_hand():
    assert metrics.binary_counts(PRED, TRUE) == (2, 1, 1, 2)
    assert metrics.f1_score(PRED, TRUE) == pytest.approx(4 / 6)
    assert metrics.jaccard(PRED, TRUE) == pytest.approx(2 / 4)
    assert metrics.pixel_accuracy(PRED, TRUE) == pytest.approx(4 / 6)


def test_binary_mask_restricts_pixels():
    mask = np.array([[1, 1, 1], [0, 0, 0]], bool)  # keeps TP 1, FP 1, TN 1
    assert metrics.binary_counts(PRED, TRUE, mask) == (1, 1, 0, 1)
    assert metrics.f1_score(PRED, TRUE, mask) == pytest.approx(2 / 3)
    assert metrics.jaccard(PRED, TRUE, mask) == pytest.approx(1 / 2)
    assert metrics.pixel_accuracy(PRED, TRUE, mask) == pytest.approx(2 / 3)


def test_empty_conventions():
    z = np.zeros((2, 2), bool)
    assert metrics.f1_score(z, z) == 1.0
    assert metrics.jaccard(z, z) == 1.0
    assert math.isnan(metrics.pixel_accuracy(z, z, mask=z))
    assert metrics.f1_score(~z, z) == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        metrics.f1_score(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((2, 2)), np.zeros((2, 3)))


def test_miou_by_hand_with_ignore():
    target = np.array([[0, 0, 1], [1, 2, 9]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])  # the 9 (void) pixel is skipped
    cm = metrics.confusion_matrix(pred, target, 3, ignore_index=9)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # IoU: class0 1/(2+2-1)=1/3, class1 2/(2+3-2)=2/3, class2 0/(1+0-0)=0
    assert metrics.iou_per_class(cm) == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert metrics.mean_iou(pred, target, 3, ignore_index=9) == pytest.approx(1 / 3)
    assert metrics.pixel_accuracy(pred, target, ignore_index=9) == pytest.approx(3 / 5)


def test_miou_skips_absent_classes():
    t = np.array([0, 0, 1, 1])
    assert metrics.mean_iou(t, t, num_classes=4) == 1.0  # classes 2, 3 absent: NaN, skipped


def test_confusion_rejects_bad_predictions():
    with pytest.raises(ValueError):
        metrics.confusion_matrix(np.array([5]), np.array([0]), 3)


def test_psnr_by_hand():
    ref = np.zeros((4, 4))
    est = np.full((4, 4), 0.1)  # MSE 0.01 -> 20 dB
    assert metrics.psnr(est, ref) == pytest.approx(20.0)
    assert metrics.psnr(ref, ref) == math.inf
    assert metrics.psnr(est * 255, ref, data_range=255) == pytest.approx(20.0)


def test_ssim_identical_is_one():
    x = np.random.default_rng(0).random((20, 20))
    assert metrics.ssim(x, x) == pytest.approx(1.0)


@pytest.mark.parametrize("gaussian", [True, False])
@pytest.mark.parametrize("shape", [(32, 41), (23, 30, 3)])
def test_ssim_matches_skimage(gaussian, shape):
    rng = np.random.default_rng(1)
    a = rng.random(shape)
    b = np.clip(a + 0.2 * rng.standard_normal(shape), 0, 1)
    kw = {"data_range": 1.0, "channel_axis": -1 if len(shape) == 3 else None}
    if gaussian:
        kw.update(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    ref = structural_similarity(b, a, **kw)
    assert metrics.ssim(b, a, gaussian=gaussian) == pytest.approx(ref, abs=1e-10)


def test_ssim_too_small_raises():
    with pytest.raises(ValueError):
        metrics.ssim(np.zeros((5, 5)), np.zeros((5, 5)))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 0.5))
def test_psnr_matches_skimage(seed, noise):
    rng = np.random.default_rng(seed)
    a = rng.random((9, 7))
    b = a + noise * rng.standard_normal(a.shape)
    assert metrics.psnr(b, a) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_f1_jaccard_identity(seed):
    rng = np.random.default_rng(seed)
    p, t = rng.random((6, 6)) < 0.4, rng.random((6, 6)) < 0.4
    f1, j = metrics.f1_score(p, t), metrics.jaccard(p, t)
    assert f1 == pytest.approx(2 * j / (1 + j))


def test_evaluate_binary_pools_counts_and_scores_both_classes():
    import torch

    from lava_spikingunet.training.evaluate import evaluate_binary

    logits = torch.where(torch.from_numpy(PRED), 3.0, -3.0)[None].float()
    out = evaluate_binary(torch.nn.Identity(), [(logits, TRUE, None)] * 2)
    # TP 2, FP 1, FN 1, TN 2 per image: F1 = 4/6 for either class, accuracy 4/6
    assert out["f1"] == pytest.approx(4 / 6)
    assert out["f1_negative"] == pytest.approx(4 / 6)
    mask = np.array([[1, 1, 1], [0, 1, 1]], bool)  # drops the FN: TN 2, FP 1
    out = evaluate_binary(torch.nn.Identity(), [(logits, TRUE, mask)])
    assert out["f1"] == pytest.approx(4 / 5)  # 2TP / (2TP + FP)
    assert out["f1_negative"] == pytest.approx(4 / 5)  # 2TN / (2TN + FN(=FP of pos))
