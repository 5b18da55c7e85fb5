"""Full-image inference from tiles: the image is cut into ``tile x tile`` windows
every ``stride`` pixels (overlapping when ``stride < tile``), each window is run
separately, and overlapping outputs are averaged (uniform weights). The image is
padded at the bottom/right (reflect) so the windows cover it, and the result is
cropped back. ``stride == tile`` gives non-overlapping tiles.

The float U-Net is fully convolutional and can also run on the whole frame at once;
tiles are what the spiking stages use to keep one Lava network small.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def tile_origins(size: int, tile: int, stride: int) -> list[int]:
    """Window starts along one axis of length ``size`` (after padding to cover it)."""
    if tile < 1 or stride < 1 or stride > tile:
        raise ValueError(f"need 1 <= stride <= tile, got tile={tile} stride={stride}")
    n = max(1, -(-(size - tile) // stride) + 1) if size > tile else 1
    return [i * stride for i in range(n)]


def predict_tiled(
    predict: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int,
    stride: int | None = None,
    batch: int = 16,
) -> torch.Tensor:
    """Run ``predict`` ((N, C, t, t) -> (N, K, t, t)) over tiles of ``image`` (C, H, W).

    Returns the stitched (K, H, W) output, overlaps averaged.
    """
    stride = stride or tile
    _, h, w = image.shape
    ys, xs = tile_origins(h, tile, stride), tile_origins(w, tile, stride)
    ph, pw = ys[-1] + tile - h, xs[-1] + tile - w
    x = image[None]
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    origins = [(y, xx) for y in ys for xx in xs]
    out = count = None
    for start in range(0, len(origins), batch):
        chunk = origins[start : start + batch]
        windows = torch.cat([x[..., y : y + tile, xx : xx + tile] for y, xx in chunk])
        pred = predict(windows)
        if out is None:
            out = pred.new_zeros((pred.shape[1], h + ph, w + pw))
            count = pred.new_zeros((1, h + ph, w + pw))
        for p, (y, xx) in zip(pred, chunk, strict=True):
            out[:, y : y + tile, xx : xx + tile] += p
            count[:, y : y + tile, xx : xx + tile] += 1
    return (out / count)[:, :h, :w]
