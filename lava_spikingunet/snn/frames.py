"""Frames of any size for networks whose sides must divide by ``2^depth``."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_frames(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` bottom/right (reflect, like ``UNet.forward``) to ``multiple``.

    Returns the padded frames and the original ``(H, W)`` to crop back to.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
