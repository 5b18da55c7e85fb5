"""Hardware profiles: the bit widths, sizes and energy/timing figures of a neuromorphic target.

A profile is a TOML file in ``<repo>/hw_profiles/`` (parsed with the standard-library
:mod:`tomllib`); ``docs/hw_profiles.md`` describes the schema. Every bit width the stack
uses comes from a profile, never from a constant in code. Any problem with a profile file
raises :class:`~lava_spikingunet.errors.UserError` naming the file and the dotted field.
"""

from __future__ import annotations

import math
import os
import tomllib
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lava_spikingunet.errors import UserError

#: Directory of the shipped profiles: the package's ``hw_profiles/`` (in a checkout a link
#: to the top-level ``hw_profiles/`` folder; the wheel holds a copy).
PROFILES_DIR = Path(__file__).resolve().parents[1] / "hw_profiles"

#: Widest bit field a profile may declare (keeps every integer path inside int64).
MAX_BITS = 32


def _bits(lo: int = 2) -> Any:
    """A bit-width field: an integer in ``[lo, MAX_BITS]``."""
    return field(metadata={"min": lo, "max": MAX_BITS})


def _int(lo: int | None = None) -> Any:
    """An integer field, optionally bounded below (inclusive)."""
    return field(metadata={"min": lo})


def _positive() -> Any:
    """A finite float field that must be > 0."""
    return field(metadata={"gt": 0.0})


def signed_range(bits: int) -> tuple[int, int]:
    """Two's-complement range of a signed ``bits``-wide integer: ``(-2^(b-1), 2^(b-1)-1)``."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class WeightFormat:
    """Synaptic weights: signed mantissa (sign included) times ``2^exp`` per connection."""

    mantissa_bits: int = _bits()
    exp_min: int = _int()
    exp_max: int = _int()


@dataclass(frozen=True)
class NeuronFormat:
    """Neuron state, current, threshold and bias formats.

    Threshold: ``vth = vth_mant << threshold_exp`` with an unsigned ``threshold_mant_bits``
    mantissa. Bias: ``bias = bias_mant << bias_exp``, signed ``bias_mant_bits`` mantissa.
    """

    state_bits: int = _bits()
    current_bits: int = _bits()
    threshold_mant_bits: int = _bits(1)
    threshold_exp: int = _int(0)
    bias_mant_bits: int = _bits()
    bias_exp_min: int = _int()
    bias_exp_max: int = _int()


@dataclass(frozen=True)
class SpikeFormat:
    """Spike payload and delivery: ``graded_payload_bits`` 0 or 1 means binary spikes only."""

    graded_payload_bits: int = field(metadata={"min": 0, "max": MAX_BITS})
    max_delay: int = _int(0)


@dataclass(frozen=True)
class CoreSpec:
    """Per-core resources; ``max_fanin_axons`` is None where unpublished."""

    neurons: int = _int(1)
    synaptic_memory_bytes: int = _int(1)
    max_fanin_axons: int | None = field(default=None, metadata={"min": 1})


@dataclass(frozen=True)
class ChipSpec:
    """Per-chip resources."""

    cores: int = _int(1)


@dataclass(frozen=True)
class EnergySpec:
    """Energy per operation on the chip, pJ; ``estimated`` marks unpublished figures."""

    synop_pj: float = _positive()
    neuron_update_pj: float = _positive()
    estimated: bool = field()


@dataclass(frozen=True)
class TimingSpec:
    """Typical wall time per algorithmic step, us; ``estimated`` marks unpublished figures."""

    step_us: float = _positive()
    estimated: bool = field()


@dataclass(frozen=True)
class PaperEnergy:
    """The paper's energy model: pJ per accumulate (SNN synop) and per MAC (ANN)."""

    ac_pj: float = _positive()
    mac_pj: float = _positive()

    def snn_pj(self, synops: float) -> float:
        """Energy of ``synops`` accumulates under the paper's model."""
        return synops * self.ac_pj

    def ann_pj(self, macs: float) -> float:
        """Energy of ``macs`` multiply-accumulates under the paper's model."""
        return macs * self.mac_pj


_SECTIONS: dict[str, type] = {
    "weights": WeightFormat,
    "neuron": NeuronFormat,
    "spikes": SpikeFormat,
    "core": CoreSpec,
    "chip": ChipSpec,
    "energy": EnergySpec,
    "timing": TimingSpec,
}


@dataclass(frozen=True)
class HardwareProfile:
    """One validated hardware profile; build it with :func:`load_profile`."""

    name: str
    description: str
    weights: WeightFormat
    neuron: NeuronFormat
    spikes: SpikeFormat
    core: CoreSpec
    chip: ChipSpec
    energy: EnergySpec
    timing: TimingSpec
    paper_energy: PaperEnergy
    path: Path = field(compare=False)

    @property
    def weight_mant_range(self) -> tuple[int, int]:
        """Inclusive range of a weight mantissa: ``(-2^(b-1), 2^(b-1)-1)``."""
        return signed_range(self.weights.mantissa_bits)

    @property
    def weight_exp_range(self) -> tuple[int, int]:
        """Inclusive range of the per-connection weight exponent."""
        return self.weights.exp_min, self.weights.exp_max

    @property
    def state_range(self) -> tuple[int, int]:
        """Membrane saturation bounds: ``(-2^(B-1), 2^(B-1)-1)`` for ``B = state_bits``."""
        return signed_range(self.neuron.state_bits)

    @property
    def current_range(self) -> tuple[int, int]:
        """Bounds of the dendritic input current."""
        return signed_range(self.neuron.current_bits)

    @property
    def bias_mant_range(self) -> tuple[int, int]:
        """Inclusive range of a bias mantissa."""
        return signed_range(self.neuron.bias_mant_bits)

    @property
    def bias_exp_range(self) -> tuple[int, int]:
        """Inclusive range of the bias exponent."""
        return self.neuron.bias_exp_min, self.neuron.bias_exp_max

    @property
    def threshold_mant_range(self) -> tuple[int, int]:
        """Inclusive range of the (unsigned) threshold mantissa."""
        return 0, (1 << self.neuron.threshold_mant_bits) - 1

    @property
    def threshold_step(self) -> int:
        """Granularity of representable thresholds: ``2^threshold_exp``."""
        return 1 << self.neuron.threshold_exp

    @property
    def threshold_max(self) -> int:
        """Largest representable threshold, in membrane units."""
        return self.threshold_mant_range[1] << self.neuron.threshold_exp

    @property
    def supports_graded(self) -> bool:
        """Whether a spike can carry an integer payload (more than 1 bit)."""
        return self.spikes.graded_payload_bits > 1

    @property
    def max_spike_payload(self) -> int:
        """Largest value one spike can carry: 1 if binary-only, else the signed payload max."""
        if not self.supports_graded:
            return 1
        return signed_range(self.spikes.graded_payload_bits)[1]

    @property
    def max_delay(self) -> int:
        """Largest synaptic delay, in steps."""
        return self.spikes.max_delay

    @property
    def neurons_per_core(self) -> int:
        """Neurons (compartments) per core."""
        return self.core.neurons

    @property
    def cores_per_chip(self) -> int:
        """Neuromorphic cores per chip."""
        return self.chip.cores

    @property
    def neurons_per_chip(self) -> int:
        """Neurons per chip: ``neurons_per_core * cores_per_chip``."""
        return self.core.neurons * self.chip.cores

    def energy_pj(self, synops: float, neuron_updates: float) -> float:
        """Chip energy of ``synops`` synaptic ops and ``neuron_updates`` updates, pJ."""
        return synops * self.energy.synop_pj + neuron_updates * self.energy.neuron_update_pj

    def as_dict(self) -> dict[str, Any]:
        """The profile's fields as plain nested dicts (no path), e.g. for reports."""
        data = asdict(self)
        data.pop("path")
        return data


def available_profiles() -> list[str]:
    """Names of the shipped profiles (``hw_profiles/*.toml`` not starting with ``_``)."""
    if not PROFILES_DIR.is_dir():
        return []
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml") if not p.name.startswith("_"))


def load_profile(name_or_path: str | os.PathLike[str]) -> HardwareProfile:
    """Load and validate a profile by shipped name (``"loihi2"``) or path to a ``.toml``."""
    path = _resolve(name_or_path)
    raw = _read_toml(path)
    return _build_profile(raw, path)


def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    is_path = (
        not isinstance(name_or_path, str) or text.endswith(".toml") or "/" in text or os.sep in text
    )
    if is_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise UserError(f"hardware profile file {path} not found")
        return path
    available = available_profiles()
    if text not in available:
        listing = ", ".join(available) or "none"
        raise UserError(
            f"unknown hardware profile {text!r}; available: {listing} "
            "(or pass a path to a .toml file)"
        )
    return PROFILES_DIR / f"{text}.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text (TOML) hardware profile") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read hardware profile: {exc}") from None


def _fail(path: Path, key: str, problem: str) -> typing.NoReturn:
    raise UserError(f"{path}: {key}: {problem}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_value(path: Path, key: str, kind: Any, value: Any, meta: Any) -> Any:
    """Type- and range-check one scalar against its dataclass annotation and metadata."""
    if kind in (int, int | None):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, key, f"must be an integer, got {_describe(value)}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(path, key, f"must be a number, got {_describe(value)}")
        value = float(value)
        if not math.isfinite(value):
            _fail(path, key, f"must be finite, got {value!r}")
    elif kind is bool:
        if not isinstance(value, bool):
            _fail(path, key, f"must be true or false, got {_describe(value)}")
    elif kind is str:
        if not isinstance(value, str):
            _fail(path, key, f"must be a string, got {_describe(value)}")
    else:  # pragma: no cover - schema bug, not user input
        raise TypeError(f"unsupported field type {kind!r}")
    lo, hi, gt = meta.get("min"), meta.get("max"), meta.get("gt")
    if lo is not None and value < lo:
        _fail(path, key, f"must be >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        _fail(path, key, f"must be <= {hi}, got {value!r}")
    if gt is not None and not value > gt:
        _fail(path, key, f"must be > {gt:g}, got {value!r}")
    return value


def _build_section(path: Path, prefix: str, cls: type, data: Any) -> Any:
    """Build dataclass ``cls`` from TOML table ``data``; refuse missing and unknown keys."""
    if not isinstance(data, dict):
        _fail(path, prefix, f"must be a table, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    for key in data:
        if key not in known:
            _fail(path, f"{prefix}.{key}", f"unknown field (expected: {', '.join(known)})")
    kwargs = {}
    for f in fields(cls):
        key = f"{prefix}.{f.name}"
        if f.name not in data:
            if f.default is MISSING:
                _fail(path, key, "missing required field")
            kwargs[f.name] = f.default
            continue
        kwargs[f.name] = _check_value(path, key, hints[f.name], data[f.name], f.metadata)
    return cls(**kwargs)


def _check_exp_range(path: Path, prefix: str, lo: int, hi: int) -> None:
    if lo > hi:
        _fail(path, f"{prefix}_min", f"must be <= {prefix}_max ({hi}), got {lo}")


def _build_paper_energy(path: Path, value: Any) -> PaperEnergy:
    """``paper_energy`` is an inline table or a path (relative to the profile) to a TOML file."""
    if isinstance(value, str):
        ref = (path.parent / value).resolve()
        if not ref.is_file():
            _fail(path, "paper_energy", f"referenced file {ref} not found")
        return _build_section(ref, "paper_energy", PaperEnergy, _read_toml(ref))
    if isinstance(value, dict):
        return _build_section(path, "paper_energy", PaperEnergy, value)
    _fail(path, "paper_energy", f"must be a table or a file path, got {_describe(value)}")


def _build_profile(raw: dict[str, Any], path: Path) -> HardwareProfile:
    top = {"name", "description", "paper_energy", *_SECTIONS}
    for key in raw:
        if key not in top:
            _fail(path, key, f"unknown field (expected: {', '.join(sorted(top))})")
    for key in sorted(top):
        if key not in raw:
            _fail(path, key, "missing required field")
    name = _check_value(path, "name", str, raw["name"], {})
    if not name.strip():
        _fail(path, "name", "must not be empty")
    description = _check_value(path, "description", str, raw["description"], {})
    sections = {k: _build_section(path, k, cls, raw[k]) for k, cls in _SECTIONS.items()}
    profile = HardwareProfile(
        name=name,
        description=description,
        paper_energy=_build_paper_energy(path, raw["paper_energy"]),
        path=path,
        **sections,
    )
    _check_exp_range(path, "weights.exp", profile.weights.exp_min, profile.weights.exp_max)
    _check_exp_range(
        path, "neuron.bias_exp", profile.neuron.bias_exp_min, profile.neuron.bias_exp_max
    )
    if profile.threshold_max > profile.state_range[1]:
        _fail(
            path,
            "neuron.threshold_mant_bits",
            f"largest threshold ((2^{profile.neuron.threshold_mant_bits} - 1) << "
            f"{profile.neuron.threshold_exp} = {profile.threshold_max}) exceeds the "
            f"{profile.neuron.state_bits}-bit state maximum {profile.state_range[1]}",
        )
    return profile
