"""The one check of a quantized graph against a hardware profile.

:func:`profile_problems` lists every way a graph breaks a profile's formats. Two levels:

- ``exact=False``: every quantized field is set and inside the profile's ranges (weight
  mantissas and exponents, biases and thresholds inside the state, delays): what a netx
  file for that profile can hold (``backends.netx.export``).
- ``exact=True`` (default): in addition, the values are exactly representable on the
  chip in the given neuron form: biases as mantissa << exponent, thresholds on the
  profile's step, graded spikes and their payload, the membrane holding ``2^N``
  threshold units, the state range the graph was quantized for (``hw.mapping``).
"""

from __future__ import annotations

import numpy as np

from lava_spikingunet.errors import UnsupportedModelError
from lava_spikingunet.graph.ir import NeuronNode, ReadoutNode, SpikingGraph
from lava_spikingunet.hw.profiles import HardwareProfile
from lava_spikingunet.neuron_forms import Form

__all__ = ["check_profile", "profile_problems"]


def _bias_ok(value: int, profile: HardwareProfile) -> bool:
    lo, hi = profile.bias_mant_range
    for e in range(max(0, profile.neuron.bias_exp_min), max(0, profile.neuron.bias_exp_max) + 1):
        if value % (1 << e) == 0 and lo <= value >> e <= hi:
            return True
    return False


def _span(values: np.ndarray, lo: int, hi: int) -> tuple[int, int] | None:
    """``(min, max)`` of ``values`` when they leave ``[lo, hi]``, else None."""
    values = np.asarray(values)
    if values.size and (values.min() < lo or values.max() > hi):
        return int(values.min()), int(values.max())
    return None


def _unquantized(graph: SpikingGraph) -> list[str]:
    out = [
        f"node {n!r} is not quantized (run quantize first)"
        for n in graph.order()
        if isinstance(graph.node(n), NeuronNode | ReadoutNode) and not graph.node(n).is_quantized
    ]
    out += [
        f"edge {s}->{d} is not quantized (run quantize first)"
        for s, d, e in graph.edges()
        if not getattr(e, "static", False) and not e.is_quantized
    ]
    return out


def _edge_problems(graph: SpikingGraph, profile: HardwareProfile) -> list[str]:
    problems = []
    m_lo, m_hi = profile.weight_mant_range
    e_lo, e_hi = profile.weight_exp_range
    for src, dst, e in graph.edges():
        where = f"edge {src}->{dst}"
        if e.delay > profile.max_delay:
            problems.append(f"{where}: delay {e.delay} > max delay {profile.max_delay}")
        if getattr(e, "static", False):
            continue
        span = _span(e.mant, m_lo, m_hi)
        if span:
            problems.append(
                f"{where}: weight mantissas (mantissa spans [{span[0]}, {span[1]}]) outside "
                f"the profile's {profile.weights.mantissa_bits}-bit range [{m_lo}, {m_hi}]"
            )
        if not e_lo <= e.exp <= e_hi:
            problems.append(f"{where}: weight exponent {e.exp} outside [{e_lo}, {e_hi}]")
    return problems


def _node_ranges(graph: SpikingGraph, profile: HardwareProfile) -> list[str]:
    """Biases and the largest threshold inside the state (what a file can hold)."""
    problems = []
    s_lo, s_hi = profile.state_range
    for name in graph.order():
        node = graph.node(name)
        if isinstance(node, NeuronNode | ReadoutNode):
            if node.bias_int.shape != node.bias.shape:
                problems.append(f"node {name!r}: bias_int has shape {node.bias_int.shape}")
            span = _span(node.bias_int, s_lo, s_hi)
            if span:
                problems.append(
                    f"node {name!r} bias_int spans [{span[0]}, {span[1]}], outside the "
                    f"profile's [{s_lo}, {s_hi}]"
                )
        if isinstance(node, NeuronNode):
            top = node.theta_unit_int << (node.n_thresholds - 1)
            if not 1 <= top <= s_hi:
                problems.append(
                    f"node {name!r} largest threshold spans [{top}, {top}], outside the "
                    f"profile's [1, {s_hi}]"
                )
    return problems


def _node_formats(graph: SpikingGraph, profile: HardwareProfile, form: Form) -> list[str]:
    """Biases, thresholds, payload and membrane exactly as the chip holds them."""
    problems = []
    for name in graph.order():
        node = graph.node(name)
        if isinstance(node, NeuronNode | ReadoutNode):
            bad = [int(b) for b in node.bias_int if not _bias_ok(int(b), profile)]
            if bad:
                problems.append(
                    f"layer {name}: bias {bad[0]} is not a {profile.neuron.bias_mant_bits}-bit "
                    f"mantissa << exponent in [{profile.neuron.bias_exp_min}, "
                    f"{profile.neuron.bias_exp_max}] ({len(bad)} such)"
                )
        if not isinstance(node, NeuronNode):
            continue
        n = node.n_thresholds
        thetas = [node.theta_unit_int << (n - i) for i in range(1, n + 1)]
        if form != "cascade":  # graded and virtual: one compartment, threshold the unit
            thetas = thetas[-1:]
        for th in thetas:
            if th % profile.threshold_step or th > profile.threshold_max:
                problems.append(
                    f"layer {name}: threshold {th} is not representable (multiple of "
                    f"{profile.threshold_step} up to {profile.threshold_max})"
                )
                break
        if (node.theta_unit_int << n) - 1 > profile.state_range[1]:
            problems.append(
                f"layer {name}: the membrane cannot hold 2^{n} threshold units of "
                f"{node.theta_unit_int} in the {profile.neuron.state_bits}-bit state"
            )
        if form == "graded" and node.max_count > profile.max_spike_payload:
            problems.append(
                f"layer {name}: spike count up to {node.max_count} exceeds the graded payload "
                f"maximum {profile.max_spike_payload}"
            )
    quant = graph.meta.quant
    if quant is not None:
        s_lo, s_hi = quant.format.state_range
        p_lo, p_hi = profile.state_range
        if s_lo < p_lo or s_hi > p_hi:
            problems.append(
                f"the model was quantized for a state range [{s_lo}, {s_hi}] wider than "
                f"{profile.name}'s {profile.neuron.state_bits}-bit state"
            )
    return problems


def profile_problems(
    graph: SpikingGraph, profile: HardwareProfile, form: Form = "graded", *, exact: bool = True
) -> list[str]:
    """Every way the quantized ``graph`` breaks ``profile`` in ``form`` (empty if none).

    An unquantized graph gives only the list of what is not quantized.
    """
    problems: list[str] = []
    if exact and form == "graded" and not profile.supports_graded:
        problems.append(f"profile {profile.name!r} has no graded spikes: use --form cascade")
    missing = _unquantized(graph)
    if missing:
        return problems + missing
    problems += _edge_problems(graph, profile)
    problems += _node_formats(graph, profile, form) if exact else _node_ranges(graph, profile)
    return problems


def check_profile(
    graph: SpikingGraph, profile: HardwareProfile, form: Form = "graded", *, exact: bool = True
) -> None:
    """:func:`profile_problems`, raised as one :class:`UnsupportedModelError` listing all."""
    problems = profile_problems(graph, profile, form, exact=exact)
    if problems:
        listing = "\n  ".join(problems)
        raise UnsupportedModelError(f"the model does not fit {profile.name}:\n  {listing}")
