"""Hardware profiles: the shipped ones load and make sense; malformed ones are refused."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lava_spikingunet.errors import UserError
from lava_spikingunet.hw import PROFILES_DIR, available_profiles, load_profile, signed_range


def _valid() -> dict[str, Any]:
    """A complete, valid profile as a dict (paper energy inline)."""
    return {
        "name": "test",
        "description": "a test profile",
        "paper_energy": {"ac_pj": 0.9, "mac_pj": 4.6},
        "weights": {"mantissa_bits": 8, "exp_min": -7, "exp_max": 7},
        "neuron": {
            "state_bits": 24,
            "current_bits": 24,
            "threshold_mant_bits": 17,
            "threshold_exp": 6,
            "bias_mant_bits": 13,
            "bias_exp_min": 0,
            "bias_exp_max": 7,
        },
        "spikes": {"graded_payload_bits": 24, "max_delay": 62},
        "core": {"neurons": 8192, "synaptic_memory_bytes": 196608},
        "chip": {"cores": 128},
        "energy": {"synop_pj": 23.6, "neuron_update_pj": 52.0, "estimated": True},
        "timing": {"step_us": 5.0, "estimated": True},
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _dump(data: dict[str, Any]) -> str:
    """Minimal TOML writer: top-level scalars, then one [table] per nested dict.

    ``paper_energy`` stays an inline table; everything else that is a dict is a section.
    """
    lines = [
        f"{k} = {_toml_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict) or k == "paper_energy"
    ]
    for k, v in data.items():
        if isinstance(v, dict) and k != "paper_energy":
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, data: dict[str, Any], name: str = "custom.toml") -> Path:
    path = tmp_path / name
    path.write_text(_dump(data))
    return path


# --- shipped profiles -------------------------------------------------------------------


def test_available_profiles_lists_shipped_ones_only():
    names = available_profiles()
    assert {"loihi1", "loihi2"} <= set(names)
    assert not any(n.startswith("_") for n in names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", ["loihi1", "loihi2"])
def test_shipped_profile_loads_and_is_sane(name):
    p = load_profile(name)
    assert p.name == name
    assert p.description
    assert p.path == PROFILES_DIR / f"{name}.toml"
    # Ranges follow from the bit widths.
    b = p.weights.mantissa_bits
    assert p.weight_mant_range == (-(2 ** (b - 1)), 2 ** (b - 1) - 1)
    lo, hi = p.weight_exp_range
    assert lo <= hi
    B = p.neuron.state_bits
    assert p.state_range == (-(2 ** (B - 1)), 2 ** (B - 1) - 1)
    assert p.bias_exp_range[0] <= p.bias_exp_range[1]
    assert p.bias_mant_range == signed_range(p.neuron.bias_mant_bits)
    # Thresholds fit the state; weights are narrower than the state.
    assert p.threshold_step <= p.threshold_max <= p.state_range[1]
    assert p.threshold_max % p.threshold_step == 0
    assert p.weights.mantissa_bits < p.neuron.state_bits
    assert p.max_delay >= 1
    assert p.neurons_per_chip == p.neurons_per_core * p.cores_per_chip
    assert p.core.synaptic_memory_bytes > 0
    assert p.energy.synop_pj > 0 and p.energy.neuron_update_pj > 0
    assert p.timing.step_us > 0
    # The paper's model: one MAC (mult + add) costs more than one accumulate.
    assert p.paper_energy.ac_pj == pytest.approx(0.9)
    assert p.paper_energy.mac_pj == pytest.approx(4.6)
    assert p.paper_energy.ann_pj(10) > p.paper_energy.snn_pj(10)
    assert p.energy_pj(2, 3) == pytest.approx(2 * p.energy.synop_pj + 3 * p.energy.neuron_update_pj)


def test_loihi1_vs_loihi2():
    l1, l2 = load_profile("loihi1"), load_profile("loihi2")
    assert not l1.supports_graded and l1.max_spike_payload == 1
    assert l2.supports_graded and l2.spikes.graded_payload_bits == 24
    assert l2.max_spike_payload == 2**23 - 1
    assert l1.cores_per_chip == l2.cores_per_chip == 128
    assert (l1.neurons_per_core, l2.neurons_per_core) == (1024, 8192)
    assert l2.core.synaptic_memory_bytes > l1.core.synaptic_memory_bytes
    assert l1.core.max_fanin_axons == 4096 and l2.core.max_fanin_axons is None
    assert l1.state_range == l2.state_range == (-(2**23), 2**23 - 1)
    # Loihi 1's energies are silicon measurements; Loihi 2's are flagged as estimates.
    assert not l1.energy.estimated and l2.energy.estimated
    assert l1.energy.synop_pj == pytest.approx(23.6)
    assert l1.energy.neuron_update_pj == pytest.approx(52.0)


def test_path_and_name_give_the_same_profile():
    by_name = load_profile("loihi2")
    assert load_profile(PROFILES_DIR / "loihi2.toml") == by_name
    assert load_profile(str(PROFILES_DIR / "loihi2.toml")) == by_name


def test_profile_is_frozen():
    p = load_profile("loihi2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.weights.mantissa_bits = 4  # type: ignore[misc]


def test_as_dict_round_trips_through_toml(tmp_path):
    p = load_profile("loihi1")
    data = p.as_dict()
    assert "path" not in data
    assert data["weights"]["mantissa_bits"] == 8
    assert data["paper_energy"] == {"ac_pj": 0.9, "mac_pj": 4.6}
    assert load_profile(_write(tmp_path, data)) == p


def test_shipped_files_parse_with_stdlib_tomllib():
    for path in PROFILES_DIR.glob("*.toml"):
        with path.open("rb") as fh:
            tomllib.load(fh)


# --- custom and malformed profiles ------------------------------------------------------


def test_valid_custom_profile_loads(tmp_path):
    p = load_profile(_write(tmp_path, _valid()))
    assert p.name == "test"
    assert p.core.max_fanin_axons is None
    assert isinstance(p.energy.synop_pj, float)


def test_int_accepted_for_float_field(tmp_path):
    data = _valid()
    data["energy"]["synop_pj"] = 20
    p = load_profile(_write(tmp_path, data))
    assert p.energy.synop_pj == 20.0 and isinstance(p.energy.synop_pj, float)


def test_paper_energy_from_relative_file(tmp_path):
    (tmp_path / "pe.toml").write_text("ac_pj = 1.0\nmac_pj = 5.0\n")
    data = _valid()
    data["paper_energy"] = "pe.toml"
    p = load_profile(_write(tmp_path, data))
    assert (p.paper_energy.ac_pj, p.paper_energy.mac_pj) == (1.0, 5.0)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value


def _delete(data: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    del node[leaf]


_DELETE = object()

MALFORMED = [
    # (case id, dotted key to change, new value or _DELETE, field named in the error, words)
    ("missing field", "weights.mantissa_bits", _DELETE, "weights.mantissa_bits", "missing"),
    ("missing table", "energy", _DELETE, "energy", "missing"),
    ("missing name", "name", _DELETE, "name", "missing"),
    ("missing paper model key", "paper_energy.mac_pj", _DELETE, "paper_energy.mac_pj", "missing"),
    ("negative count", "core.neurons", -5, "core.neurons", ">= 1"),
    ("zero cores", "chip.cores", 0, "chip.cores", ">= 1"),
    ("negative delay", "spikes.max_delay", -1, "spikes.max_delay", ">= 0"),
    (
        "negative payload bits",
        "spikes.graded_payload_bits",
        -24,
        "spikes.graded_payload_bits",
        ">=",
    ),
    ("zero bit width", "neuron.state_bits", 0, "neuron.state_bits", ">= 2"),
    ("huge bit width", "neuron.state_bits", 64, "neuron.state_bits", "<= 32"),
    ("zero energy", "energy.synop_pj", 0.0, "energy.synop_pj", "> 0"),
    ("negative energy", "paper_energy.ac_pj", -0.9, "paper_energy.ac_pj", "> 0"),
    ("nan energy", "energy.neuron_update_pj", math.nan, "energy.neuron_update_pj", "finite"),
    ("negative fan-in", "core.max_fanin_axons", -1, "core.max_fanin_axons", ">= 1"),
    ("string for int", "weights.mantissa_bits", "8", "weights.mantissa_bits", "integer"),
    ("float for int", "neuron.state_bits", 24.5, "neuron.state_bits", "integer"),
    ("bool for int", "spikes.max_delay", True, "spikes.max_delay", "integer"),
    ("string for float", "timing.step_us", "fast", "timing.step_us", "number"),
    ("int for bool", "energy.estimated", 1, "energy.estimated", "true or false"),
    ("int for name", "name", 3, "name", "string"),
    ("empty name", "name", "  ", "name", "empty"),
    ("scalar for table", "weights", 8, "weights", "table"),
    ("bad paper_energy", "paper_energy", 4.6, "paper_energy", "table or a file path"),
    ("unknown field", "weights.exponent_bits", 4, "weights.exponent_bits", "unknown field"),
    ("unknown table", "extra", {"x": 1}, "extra", "unknown field"),
    ("unknown top key", "version", 2, "version", "unknown field"),
    ("unknown paper key", "paper_energy.fj", 1.0, "paper_energy.fj", "unknown field"),
    ("weight exp min > max", "weights.exp_min", 8, "weights.exp_min", "exp_max"),
    ("bias exp min > max", "neuron.bias_exp_min", 9, "neuron.bias_exp_min", "bias_exp_max"),
    (
        "threshold beyond state",
        "neuron.threshold_mant_bits",
        30,
        "neuron.threshold_mant_bits",
        "exceeds",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "named", "words"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_profile_is_refused(tmp_path, key, value, named, words):
    data = copy.deepcopy(_valid())
    if value is _DELETE:
        _delete(data, key)
    else:
        _set(data, key, value)
    path = _write(tmp_path, data)
    with pytest.raises(UserError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    assert f": {named}: " in message
    assert words in message


def test_broken_toml_is_refused(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[weights\nmantissa_bits = 8\n')
    with pytest.raises(UserError, match="invalid TOML") as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_duplicate_key_is_refused(tmp_path):
    path = _write(tmp_path, _valid())
    path.write_text(
        path.read_text().replace("[chip]\ncores = 128", "[chip]\ncores = 128\ncores = 64")
    )
    with pytest.raises(UserError, match="invalid TOML"):
        load_profile(path)


def test_missing_paper_energy_file_is_refused(tmp_path):
    data = _valid()
    data["paper_energy"] = "nowhere.toml"
    path = _write(tmp_path, data)
    with pytest.raises(UserError, match="paper_energy: referenced file") as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_error_in_referenced_paper_energy_file_names_that_file(tmp_path):
    ref = tmp_path / "pe.toml"
    ref.write_text("ac_pj = 0.9\n")
    data = _valid()
    data["paper_energy"] = "pe.toml"
    _write(tmp_path, data)
    with pytest.raises(UserError) as info:
        load_profile(tmp_path / "custom.toml")
    assert str(ref) in str(info.value)
    assert "paper_energy.mac_pj" in str(info.value)


def test_unknown_profile_name_lists_available_ones():
    with pytest.raises(UserError) as info:
        load_profile("loihi9")
    message = str(info.value)
    assert "loihi9" in message
    for name in available_profiles():
        assert name in message


def test_shared_file_is_not_a_profile_name():
    with pytest.raises(UserError, match="unknown hardware profile"):
        load_profile("_paper_energy")


def test_missing_profile_path_is_refused(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_profile(tmp_path / "nope.toml")
