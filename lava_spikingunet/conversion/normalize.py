"""Weight normalization scales (lambdas) and BatchNorm folding.

A neuron layer whose ANN activation has scale ``lam`` represents ``a / lam``; the graph
builder (:func:`lava_spikingunet.graph.from_unet.unet_to_graph`) scales every edge by
its *own* source's ``lam`` and the target's, so the two modes differ only in the lambdas:

- ``connection``: every activation point has its own lambda (its percentile). The two
  halves of a decoder concat are two edges, each scaled by its own source.
- ``layer``: one lambda per layer *input tensor*. The decoder's input is the tensor
  ``cat(enc{i}.c2, up{i})``, so those two points share one lambda: the percentile of
  the concatenated values (the paper's layer-wise normalization treats the concat as one
  tensor). Every other point is a layer's whole input on its own and keeps its lambda.

Both are exact for every channel (no channel falls between the parts, unlike the
reference code's slicing); they differ in how finely each source is resolved at short T.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from lava_spikingunet.conversion.calibrate import ActivationStats
from lava_spikingunet.graph.from_unet import activation_points

Norm = Literal["connection", "layer"]


def lambda_groups(depth: int, norm: Norm) -> list[list[str]]:
    """Activation points that share one lambda, in forward order."""
    names = activation_points(depth)
    if norm == "connection":
        return [[n] for n in names]
    if norm != "layer":
        raise ValueError(f"norm must be 'connection' or 'layer', got {norm!r}")
    shared = {f"enc{i}.c2": f"up{i}" for i in range(depth)}
    partners = set(shared.values())
    groups = []
    for n in names:
        if n in shared:
            groups.append([n, shared[n]])
        elif n not in partners:
            groups.append([n])
    return groups


def safe_lambda(value: float, fallback: float) -> float:
    """``value`` if positive and finite, else ``fallback`` if so, else 1.0 (dead layer)."""
    for v in (value, fallback):
        if math.isfinite(v) and v > 0:
            return float(v)
    return 1.0


def compute_lambdas(
    stats: ActivationStats, depth: int, norm: Norm = "connection", percentile: float = 99.9
) -> dict[str, float]:
    """Lambda per activation point (``percentile >= 100`` means the maximum)."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    lambdas: dict[str, float] = {}
    for group in lambda_groups(depth, norm):
        value = stats.percentile(group, percentile)
        lam = safe_lambda(value, stats.percentile(group, 100.0))
        lambdas.update(dict.fromkeys(group, lam))
    return lambdas


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d computing ``bn(conv(x))`` in eval mode (running statistics)."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
        beta = bn.bias if bn.affine else torch.zeros_like(bn.running_var)
        scale = gamma / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        fused.bias.copy_((bias - bn.running_mean) * scale + beta)
    return fused


def fold_all_batchnorm(module: nn.Module) -> int:
    """Fold every ``Conv2d`` directly followed by ``BatchNorm2d`` in an ``nn.Sequential``
    (in place: the BN becomes Identity). Returns how many were folded."""
    folded = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        keys = list(child._modules)
        for a, b in zip(keys, keys[1:], strict=False):
            conv, bn = child._modules[a], child._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                child._modules[a] = fold_batchnorm(conv, bn)
                child._modules[b] = nn.Identity()
                folded += 1
    return folded
