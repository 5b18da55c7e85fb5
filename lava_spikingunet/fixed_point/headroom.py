"""Headroom of a quantized Spiking-UNet: how close state and current come to their bounds.

Runs the integer reference on calibration frames and reports, per layer, the largest
``|v|`` (before saturation; the readout's accumulator for the head) and ``|I|`` reached,
against the profile's state and current bounds. A model that saturates, or whose current
leaves the profile's current format, gets a :func:`warnings.warn` and a flag.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from lava_spikingunet.fixed_point.state import graph_format
from lava_spikingunet.graph.ir import SpikingGraph


class HeadroomWarning(UserWarning):
    """A quantized model saturates or overflows a format on calibration data."""


@dataclass
class HeadroomRow:
    node: str
    max_abs_state: int
    max_abs_current: int
    state_bound: int
    current_bound: int
    saturated: int

    @property
    def state_headroom_bits(self) -> float:
        """``log2(bound / max |state|)``: bits left before saturation (inf if never used)."""
        return _bits(self.state_bound, self.max_abs_state)

    @property
    def current_headroom_bits(self) -> float:
        return _bits(self.current_bound, self.max_abs_current)


def _bits(bound: int, value: float) -> float:
    return math.inf if value <= 0 else math.log2(bound / value)


@dataclass
class HeadroomReport:
    profile: str
    frames: int
    timesteps: int
    rows: list[HeadroomRow] = field(default_factory=list)

    @property
    def saturates(self) -> bool:
        """Some state reached a saturation bound."""
        return any(r.saturated for r in self.rows)

    @property
    def current_overflow(self) -> bool:
        """Some current left the profile's current format."""
        return any(r.max_abs_current > r.current_bound for r in self.rows)

    @property
    def ok(self) -> bool:
        return not (self.saturates or self.current_overflow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "frames": self.frames,
            "timesteps": self.timesteps,
            "saturates": self.saturates,
            "current_overflow": self.current_overflow,
            "rows": [asdict(r) for r in self.rows],
        }

    def table(self) -> str:
        """A plain-text table, one line per layer."""
        head = (
            f"{'layer':<12} {'max|state|':>11} {'bits left':>9} {'max|current|':>12} "
            f"{'bits left':>9} {'saturated':>9}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.node:<12} {r.max_abs_state:>11} {r.state_headroom_bits:>9.1f} "
                f"{r.max_abs_current:>12} {r.current_headroom_bits:>9.1f} {r.saturated:>9}"
            )
        b = self.rows[0].state_bound if self.rows else 0
        verdict = "OK" if self.ok else "SATURATES" if self.saturates else "CURRENT OVERFLOW"
        lines.append(
            f"state bound {b} ({self.profile}); {self.frames} frame(s), T={self.timesteps}: "
            f"{verdict}"
        )
        return "\n".join(lines)


def report_from_stats(
    graph: SpikingGraph, stats: dict, frames: int, timesteps: int, warn: bool = True
) -> HeadroomReport:
    """Build a report from :class:`~lava_spikingunet.reference.simulator.LayerStats`."""
    fmt = graph_format(graph)
    s_bound = max(-fmt.state_range[0], fmt.state_range[1])
    c_bound = max(-fmt.current_range[0], fmt.current_range[1])
    rep = HeadroomReport(fmt.name, frames, timesteps)
    for name, st in stats.items():
        rep.rows.append(
            HeadroomRow(
                name,
                int(st.max_abs_state),
                int(st.max_abs_current),
                s_bound,
                c_bound,
                int(st.saturated),
            )
        )
    if warn and not rep.ok:
        bad = [r.node for r in rep.rows if r.saturated or r.max_abs_current > r.current_bound]
        what = "saturates" if rep.saturates else "overflows the current format"
        warnings.warn(
            f"quantized model {what} on calibration data in layer(s) {', '.join(bad)}; "
            "lower theta_unit_bits (or the readout scale)",
            HeadroomWarning,
            stacklevel=2,
        )
    return rep


def headroom(
    graph: SpikingGraph,
    frames: Any,
    timesteps: int | None = None,
    delays: tuple[str, ...] = ("graph",),
    batch: int = 4,
    warn: bool = True,
) -> HeadroomReport:
    """Run the integer reference on ``frames`` ``(B, C, H, W)`` and report the headroom.

    Every node runs on every step of the frame (as on Lava). ``delays``: the delay
    settings to cover (``graph``, ``native``, ``balanced``, ``zero``); the report keeps
    the worst case over all of them.
    """
    import numpy as np

    from lava_spikingunet.graph.timing import with_delays
    from lava_spikingunet.reference.input_current import check_frames
    from lava_spikingunet.reference.simulator import LayerStats, simulate

    x = check_frames(graph, frames)
    merged: dict[str, LayerStats] = {}
    steps = int(timesteps if timesteps is not None else graph.meta.timesteps)
    runs = [
        (with_delays(graph, d), np.ascontiguousarray(x[i : i + batch]))
        for d in delays
        for i in range(0, x.shape[0], batch)
    ]
    for g, xb in runs:
        res = simulate(g, xb, timesteps=steps, all_steps=True)
        for name, st in res.stats.items():
            m = merged.setdefault(name, LayerStats())
            m.max_abs_state = max(m.max_abs_state, st.max_abs_state)
            m.max_abs_current = max(m.max_abs_current, st.max_abs_current)
            m.saturated += st.saturated
    return report_from_stats(graph, merged, x.shape[0], steps, warn=warn)
