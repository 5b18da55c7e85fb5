"""The multi-threshold (MT) neuron in float (docs/semantics.md section 1).

Per step: ``v += I``; ``k = clamp(floor(v / theta_N), 0, 2^N - 1)``; reset by
subtraction ``v -= k * theta_N`` (or to zero, ``v = 0`` where ``k > 0``, for the IF
baseline). The output value is ``k * theta_N``; the simulator stores ``k``.
Firing rule ``>=`` (``floor``): a residual that lands exactly on a threshold fires.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def mt_fire(
    v: torch.Tensor, theta_unit: float, max_count: int, reset: str = "subtract"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fire a membrane ``v`` (after integration): returns ``(k, v_after_reset)``."""
    k = torch.clamp(torch.floor(v / theta_unit), 0, max_count)
    if reset == "subtract":
        v = v - k * theta_unit
    elif reset == "zero":
        v = torch.where(k > 0, torch.zeros_like(v), v)
    else:
        raise ValueError(f"reset must be 'subtract' or 'zero', got {reset!r}")
    return k, v


def mt_scan(
    current: torch.Tensor,
    theta_unit: float,
    max_count: int,
    reset: str = "subtract",
    v0: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the neuron over ``current`` of shape ``(T, ...)``.

    Returns ``(k, v)``: spike counts ``(T, ...)`` (written into ``out`` if given, any
    dtype that holds ``max_count``) and the final membrane. ``v0`` is the starting
    membrane (zeros if None).
    """
    if reset not in ("subtract", "zero"):
        raise ValueError(f"reset must be 'subtract' or 'zero', got {reset!r}")
    v = torch.zeros_like(current[0]) if v0 is None else v0.clone()
    if out is None:
        out = torch.empty_like(current)
    k = torch.empty_like(v)
    # multiplying by 1/theta is exact (and faster) when theta is a power of two
    exact_inverse = math.frexp(theta_unit)[0] == 0.5
    for t in range(current.shape[0]):
        v.add_(current[t])
        if exact_inverse:
            torch.mul(v, 1.0 / theta_unit, out=k)
        else:
            torch.div(v, theta_unit, out=k)
        k.floor_().clamp_(0, max_count)
        out[t] = k
        if reset == "subtract":
            v.sub_(k * theta_unit)
        else:
            v.masked_fill_(k > 0, 0.0)
    return out, v


def greedy_cascade(v: float, thetas: Sequence[float]) -> tuple[list[int], float]:
    """The paper's equations 4-6 in plain python: stage ``i`` fires if the residual
    reaches ``theta_i`` and subtracts it. Returns the binary spikes and the residual."""
    spikes = []
    r = v
    for theta in thetas:
        s = 1 if r >= theta else 0
        r -= s * theta
        spikes.append(s)
    return spikes, r


def threshold_ladder(theta1: float, n_thresholds: int) -> list[float]:
    """The halving ladder ``theta_i = theta_1 / 2^(i-1)``, ``i = 1..N``."""
    return [theta1 / 2**i for i in range(n_thresholds)]
