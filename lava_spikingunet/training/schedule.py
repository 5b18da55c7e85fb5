"""Learning-rate schedule: linear warm-up then cosine decay, a pure function of step."""

from __future__ import annotations

import math


def lr_at(step: int, total: int, base: float, final: float, warmup: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    t = min(1.0, (step - warmup) / span)
    return final + 0.5 * (base - final) * (1 + math.cos(math.pi * t))
