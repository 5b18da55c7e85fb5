"""Training losses for the three kinds of task."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def denoise_loss(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """MSE of the clean estimate ``noisy - model(noisy)`` (residual learning)."""
    return F.mse_loss(noisy - model(noisy), clean)


def binary_loss(model: nn.Module, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE on one logit per pixel; ``target`` is (B, 1, H, W) in {0, 1}."""
    return F.binary_cross_entropy_with_logits(model(image), target)


def multiclass_loss(
    model: nn.Module, image: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> torch.Tensor:
    """Cross-entropy over class logits; ``target`` is (B, H, W) int64."""
    return F.cross_entropy(model(image), target, ignore_index=ignore_index)
