"""Edge operators in torch, shared by the float simulation and the integer reference.

Each takes a ``(N, C, H, W)`` batch (N = steps x images) and the weight tensor
(float, or int64 mantissas for exact integer arithmetic) and returns the edge's
output before any exponent shift. :data:`TORCH_OPS` is the torch backend's edge table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import AvgPoolEdge, ConvEdge, ConvTransposeEdge, Edge


def _conv(edge: ConvEdge, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, stride=edge.stride, padding=edge.padding)


def _pool(edge: AvgPoolEdge, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    k = edge.kernel
    return F.avg_pool2d(x, k, stride=k, divisor_override=1) * weight


def _conv_t(edge: ConvTransposeEdge, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.conv_transpose2d(
        x, weight, stride=edge.stride, padding=edge.padding, output_padding=edge.output_padding
    )


#: The torch operator of each edge type.
TORCH_OPS = EdgeTable(
    "torch ops", {ConvEdge: _conv, AvgPoolEdge: _pool, ConvTransposeEdge: _conv_t}
)


def apply_edge(edge: Edge, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Apply ``edge`` with ``weight`` (a tensor, or a 0-d tensor for avg-pool)."""
    return TORCH_OPS[edge](edge, x, weight)
