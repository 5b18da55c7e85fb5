"""What the simulate stage returns (a leaf module: backends and tiling build it too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimOutput", "layer_row"]


@dataclass
class SimOutput:
    """What a backend returns for one frame ``(C, H, W)``.

    ``acc``: the readout accumulator (int64; float64 for the float backend); ``y``:
    ``acc / (T * scale)``; ``prediction``: the task output (denoised frame or class per
    pixel), filled by :func:`simulate`; ``stats``: per-layer headroom (reference only).
    """

    acc: Any
    y: Any
    timesteps: int
    total_steps: int
    pipeline_depth: int
    stats: dict[str, dict] = field(default_factory=dict)
    prediction: Any = None
    backend: str = ""
    form: str | None = None
    seconds: float = 0.0
    tiles: int = 1  # > 1: a tiled run (lava_spikingunet/tiling.py), ``tile`` its size
    tile: tuple[int, int] | None = None

    @property
    def saturated(self) -> list[str]:
        """Layers whose state was clamped at a bound during the run."""
        return [n for n, s in self.stats.items() if s.get("saturated")]


def layer_row(name: str, want: np.ndarray, got: np.ndarray) -> dict:
    """One layer's comparison: spikes ``want`` (reference) against ``got`` (Lava), both
    ``(steps, ...)``; the first 20 mismatching steps are listed."""
    diff = got != want
    steps = np.flatnonzero(diff.reshape(diff.shape[0], -1).any(1))
    return {
        "layer": name,
        "steps": int(want.shape[0]),
        "elements": int(want[0].size),
        "spikes": int(want.sum()),
        "mismatches": int(diff.sum()),
        "mismatch_steps": steps.tolist()[:20],
    }
