"""The multi-threshold (MT) neuron in float (docs/semantics.md section 1).

Per step: ``v += I``; ``k = clamp(floor(v / theta_N), 0, 2^N - 1)``; reset by
subtraction ``v -= k * theta_N`` (or to zero, ``v = 0`` where ``k > 0``, for the IF
baseline). The output value is ``k * theta_N``; the simulator stores ``k``.
Firing rule ``>=`` (``floor``): a residual that lands exactly on a threshold fires.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lava_spikingunet.snn.engine import scan_mt


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
    v = torch.zeros_like(current[0]) if v0 is None else v0.clone()
    if out is None:
        out = torch.empty_like(current)
    scan_mt(current, v, out, theta_unit, max_count, reset)
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
