"""Image metrics on numpy arrays: segmentation (F1, Jaccard, accuracy, mIoU) and
restoration (PSNR, SSIM).

Binary metrics take boolean (or 0/1) prediction and target arrays of equal shape and
an optional boolean ``mask`` of pixels to count (DRIVE's field of view). Conventions
for empty cases: F1 and Jaccard are 1.0 when prediction and target have no positive
pixel (perfect agreement), accuracy is NaN on an empty mask.

SSIM matches ``skimage.metrics.structural_similarity``: by default the Gaussian
window of Wang et al. (``gaussian_weights=True, sigma=1.5,
use_sample_covariance=False``); ``gaussian=False`` gives skimage's default 7x7
uniform window with sample covariance. Colour images (H, W, C) average the
per-channel SSIM, as skimage does with ``channel_axis=-1``.
"""

from __future__ import annotations

import numpy as np


def _binary(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None):
    pred = np.asarray(pred).astype(bool)
    target = np.asarray(target).astype(bool)
    if pred.shape != target.shape:
        raise ValueError(f"shape mismatch: pred {pred.shape} vs target {target.shape}")
    if mask is not None:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != pred.shape:
            raise ValueError(f"mask shape {mask.shape} differs from {pred.shape}")
        pred, target = pred[mask], target[mask]
    return pred, target


def binary_counts(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) of a binary prediction, within ``mask`` if given."""
    p, t = _binary(pred, target, mask)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return tp, fp, fn, p.size - tp - fp - fn


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """2TP / (2TP + FP + FN); 1.0 when there are no positives at all."""
    denom = 2 * tp + fp + fn
    return 1.0 if denom == 0 else 2 * tp / denom


def jaccard_from_counts(tp: int, fp: int, fn: int) -> float:
    """TP / (TP + FP + FN); 1.0 when there are no positives at all."""
    denom = tp + fp + fn
    return 1.0 if denom == 0 else tp / denom


def f1_score(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Binary F1 (Dice) of the positive class."""
    tp, fp, fn, _ = binary_counts(pred, target, mask)
    return f1_from_counts(tp, fp, fn)


def jaccard(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Binary Jaccard index (IoU) of the positive class."""
    tp, fp, fn, _ = binary_counts(pred, target, mask)
    return jaccard_from_counts(tp, fp, fn)


def pixel_accuracy(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    ignore_index: int | None = None,
) -> float:
    """Fraction of equal labels, over ``mask`` and excluding ``target == ignore_index``."""
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"shape mismatch: pred {pred.shape} vs target {target.shape}")
    keep = np.ones(target.shape, bool) if mask is None else np.asarray(mask).astype(bool)
    if ignore_index is not None:
        keep &= target != ignore_index
    n = int(np.count_nonzero(keep))
    return float("nan") if n == 0 else float(np.count_nonzero((pred == target) & keep) / n)


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = target, columns = prediction.

    Pixels whose target is ``ignore_index`` (or outside ``0..num_classes-1``) are skipped.
    """
    pred = np.asarray(pred).ravel().astype(np.int64)
    target = np.asarray(target).ravel().astype(np.int64)
    if pred.shape != target.shape:
        raise ValueError("pred and target differ in size")
    keep = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    pred, target = pred[keep], target[keep]
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"predictions outside 0..{num_classes - 1}")
    idx = target * num_classes + pred
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU of each class from a confusion matrix; NaN for classes absent from both."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou_from_confusion(confusion: np.ndarray) -> float:
    """Mean IoU over the classes present in target or prediction."""
    iou = iou_per_class(confusion)
    return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")


def mean_iou(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> float:
    """mIoU of one label map (accumulate :func:`confusion_matrix` for a whole data set)."""
    return mean_iou_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index))


def psnr(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def _ssim_channel(a: np.ndarray, b: np.ndarray, data_range: float, gaussian: bool) -> float:
    from scipy.ndimage import gaussian_filter, uniform_filter

    if gaussian:
        sigma, truncate = 1.5, 3.5
        win = 2 * int(truncate * sigma + 0.5) + 1
        filt = lambda x: gaussian_filter(x, sigma=sigma, truncate=truncate, mode="reflect")
        cov_norm = 1.0
    else:
        win = 7
        filt = lambda x: uniform_filter(x, size=win, mode="reflect")
        cov_norm = win * win / (win * win - 1)
    if min(a.shape) < win:
        raise ValueError(f"image {a.shape} smaller than the {win}x{win} SSIM window")
    ux, uy = filt(a), filt(b)
    vx = cov_norm * (filt(a * a) - ux * ux)
    vy = cov_norm * (filt(b * b) - uy * uy)
    vxy = cov_norm * (filt(a * b) - ux * uy)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def ssim(
    estimate: np.ndarray,
    reference: np.ndarray,
    data_range: float = 1.0,
    gaussian: bool = True,
) -> float:
    """Structural similarity of grey (H, W) or colour (H, W, C) images (skimage's)."""
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        return _ssim_channel(a, b, data_range, gaussian)
    if a.ndim == 3:
        vals = [
            _ssim_channel(a[..., c], b[..., c], data_range, gaussian) for c in range(a.shape[-1])
        ]
        return float(np.mean(vals))
    raise ValueError(f"expected (H, W) or (H, W, C), got {a.shape}")
