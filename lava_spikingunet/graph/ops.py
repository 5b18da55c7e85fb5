"""Edge operators in torch, shared by the float simulator and the integer reference.

Each takes a ``(N, C, H, W)`` batch (N = steps x images) and the weight tensor
(float, or int64 mantissas for exact integer arithmetic) and returns the edge's
output before any exponent shift.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lava_spikingunet.graph.ir import AvgPoolEdge, ConvEdge, ConvTransposeEdge, Edge


def apply_edge(edge: Edge, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Apply ``edge`` with ``weight`` (a tensor, or a 0-d tensor for avg-pool)."""
    if isinstance(edge, ConvEdge):
        return F.conv2d(x, weight, stride=edge.stride, padding=edge.padding)
    if isinstance(edge, AvgPoolEdge):
        k = edge.kernel
        summed = F.avg_pool2d(x, k, stride=k, divisor_override=1)
        return summed * weight
    if isinstance(edge, ConvTransposeEdge):
        return F.conv_transpose2d(
            x,
            weight,
            stride=edge.stride,
            padding=edge.padding,
            output_padding=edge.output_padding,
        )
    raise TypeError(f"unknown edge type {type(edge).__name__}")
