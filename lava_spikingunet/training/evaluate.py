"""Test-set evaluation of a float U-Net for each kind of task."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from lava_spikingunet import metrics
from lava_spikingunet.data.tiling import predict_tiled


@torch.no_grad()
def model_output(
    model: nn.Module, image: torch.Tensor, tile: int | None = None, stride: int | None = None
) -> torch.Tensor:
    """The network's raw output for one (C, H, W) image: whole frame, or tiled."""
    model.eval()
    if tile is None:
        return model(image[None])[0]
    return predict_tiled(model, image, tile, stride)


@torch.no_grad()
def denoise_image(model: nn.Module, noisy: torch.Tensor) -> torch.Tensor:
    """Clean estimate of one (C, H, W) image, clipped to [0, 1] (residual nets subtract)."""
    out = model_output(model, noisy)
    est = noisy - out if getattr(model, "config", None) is None or model.config.residual else out
    return est.clamp(0.0, 1.0)


def evaluate_denoise(
    model: nn.Module,
    test_sets: dict[float, torch.utils.data.Dataset],
    limit: int | None = None,
    with_ssim: bool = True,
) -> dict[str, float]:
    """Mean PSNR (and SSIM) per noise level: keys ``psnr_s25``, ``ssim_s25``, ...

    A test set is a Dataset of ``(noisy, clean)`` pairs, or a DataLoader yielding them
    one by one (``batch_size=None``).
    """
    result: dict[str, float] = {}
    for sigma, data in test_sets.items():
        n = len(data) if limit is None else min(limit, len(data))
        psnrs, ssims = [], []
        if isinstance(data, torch.utils.data.DataLoader):
            pairs = iter(data)
        else:
            pairs = (data[i] for i in range(n))
        for _, (noisy, clean) in zip(range(n), pairs, strict=False):
            est = denoise_image(model, noisy).numpy().transpose(1, 2, 0)
            ref = clean.numpy().transpose(1, 2, 0)
            if est.shape[-1] == 1:
                est, ref = est[..., 0], ref[..., 0]
            psnrs.append(metrics.psnr(est, ref))
            if with_ssim:
                ssims.append(metrics.ssim(est, ref))
        tag = f"s{sigma:g}"
        result[f"psnr_{tag}"] = float(np.mean(psnrs))
        if with_ssim:
            result[f"ssim_{tag}"] = float(np.mean(ssims))
    return result


def evaluate_binary(
    model: nn.Module,
    items: Iterable[tuple[torch.Tensor, np.ndarray, np.ndarray | None]],
    threshold: float = 0.5,
    tile: int | None = None,
    stride: int | None = None,
) -> dict[str, float]:
    """Pooled binary metrics over ``(image, target, mask)`` items (mask may be None).

    The positive class is predicted where ``sigmoid(logit) >= threshold``; counts are
    pooled over all images (and only inside the masks) before F1 etc. are computed.
    ``f1_negative`` is the F1 of the other class (for ISBI-2012: the cell interior, the
    class the paper's data marks 255).
    """
    tp = fp = fn = tn = 0
    for image, target, mask in items:
        prob = torch.sigmoid(model_output(model, image, tile, stride))[0].numpy()
        c = metrics.binary_counts(prob >= threshold, target, mask)
        tp, fp, fn, tn = tp + c[0], fp + c[1], fn + c[2], tn + c[3]
    total = tp + fp + fn + tn
    return {
        "f1": metrics.f1_from_counts(tp, fp, fn),
        "f1_negative": metrics.f1_from_counts(tn, fn, fp),
        "jaccard": metrics.jaccard_from_counts(tp, fp, fn),
        "accuracy": (tp + tn) / total if total else float("nan"),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
    }


def evaluate_multiclass(
    model: nn.Module,
    items: Iterable[tuple[torch.Tensor, np.ndarray]],
    num_classes: int,
    ignore_index: int,
    tile: int | None = None,
    stride: int | None = None,
) -> dict[str, float | list[float]]:
    """mIoU and pixel accuracy (void excluded) from one confusion matrix over all images."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for image, target in items:
        pred = model_output(model, image, tile, stride).argmax(0).numpy()
        confusion += metrics.confusion_matrix(pred, target, num_classes, ignore_index)
    total = confusion.sum()
    return {
        "miou": metrics.mean_iou_from_confusion(confusion),
        "accuracy": float(np.trace(confusion) / total) if total else float("nan"),
        "iou_per_class": [float(v) for v in metrics.iou_per_class(confusion)],
    }
