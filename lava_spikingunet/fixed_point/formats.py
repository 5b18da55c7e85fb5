"""The fixed-point formats quantization and the integer reference need, from a profile.

A :class:`FixedPointFormat` is the part of a hardware profile (``hw_profiles/*.toml``,
:mod:`lava_spikingunet.hw.profiles`) that decides integer values: weight mantissa and
exponent ranges, bias format, threshold granularity, state and current bounds. A
quantized graph stores it in ``graph.meta.quant.format`` (plain lists in files,
so it serializes) and the reference reads its saturation bounds from there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

Range = tuple[int, int]


def _range(value: Any, name: str) -> Range:
    lo, hi = (int(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}: empty range ({lo}, {hi})")
    return lo, hi


@dataclass(frozen=True)
class FixedPointFormat:
    """Integer formats of one target (all ranges inclusive)."""

    name: str
    weight_mant_range: Range
    weight_exp_range: Range
    bias_mant_range: Range
    bias_exp_range: Range
    state_range: Range
    current_range: Range
    threshold_step: int = 1
    threshold_max: int | None = None

    def __post_init__(self) -> None:
        for f in (
            "weight_mant_range",
            "weight_exp_range",
            "bias_mant_range",
            "bias_exp_range",
            "state_range",
            "current_range",
        ):
            object.__setattr__(self, f, _range(getattr(self, f), f))
        if self.state_range[0] >= 0 or self.state_range[1] <= 0:
            raise ValueError(f"state_range must contain 0 strictly inside, got {self.state_range}")
        if self.threshold_step < 1:
            raise ValueError(f"threshold_step must be >= 1, got {self.threshold_step}")

    @property
    def state_bits(self) -> int:
        """Width of the (two's-complement) state: ``B`` with ``hi = 2^(B-1) - 1``."""
        return (self.state_range[1] + 1).bit_length()

    @classmethod
    def from_profile(cls, profile: Any) -> FixedPointFormat:
        """From a :class:`~lava_spikingunet.hw.profiles.HardwareProfile` (or a profile name)."""
        if isinstance(profile, FixedPointFormat):
            return profile
        if isinstance(profile, str):
            from lava_spikingunet.hw.profiles import load_profile

            profile = load_profile(profile)
        return cls(
            name=profile.name,
            weight_mant_range=profile.weight_mant_range,
            weight_exp_range=profile.weight_exp_range,
            bias_mant_range=profile.bias_mant_range,
            bias_exp_range=profile.bias_exp_range,
            state_range=profile.state_range,
            current_range=profile.current_range,
            threshold_step=profile.threshold_step,
            threshold_max=profile.threshold_max,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for ranges), for ``graph.meta.extra``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FixedPointFormat:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
