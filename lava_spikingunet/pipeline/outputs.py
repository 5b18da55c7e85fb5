"""What the simulate stage returns (a leaf module: backends and tiling build it too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SimOutput"]


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
