"""Quantize a float Spiking-UNet graph to the fixed-point formats of a hardware profile.

``docs/fixed_point.md`` explains the choices; ``docs/semantics.md`` section 4 is the
contract. In short, :func:`quantize_graph` returns a copy of the graph in which

- every neuron node has ``theta_unit_int = 2^theta_unit_bits`` (its float->int scale is
  ``S = theta_unit_int / theta_unit``) and ``bias_int = mant << exp`` in the bias format
  (zero for a node fed by the static input edge: its bias is inside the input current);
- the readout has a power-of-two ``scale`` and ``bias_int``;
- every synaptic edge has ``mant`` (signed, profile weight bits) and ``exp`` (profile
  range) minimising ``sum (mant 2^exp - w S_target)^2``; the static input edge stays float;
- ``meta.quant`` (:class:`~lava_spikingunet.fixed_point.state.QuantState`) records the
  format and the settings used.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from lava_spikingunet.fixed_point.bounds import edge_abs_rowsum, source_max
from lava_spikingunet.fixed_point.formats import FixedPointFormat, Range
from lava_spikingunet.fixed_point.state import QuantState, graph_format
from lava_spikingunet.graph.ir import NeuronNode, ReadoutNode, SpikingGraph

__all__ = [
    "dequantize",
    "dequantize_graph",
    "edge_abs_rowsum",
    "edge_errors",
    "graph_format",
    "quantize_bias",
    "quantize_graph",
    "quantize_weights",
    "readout_bound",
    "readout_peak",
    "source_max",
]

#: Bits of the state kept above the threshold unit by default: the membrane can hold
#: +-2^(HEADROOM_BITS - 1) units of theta_N before it saturates.
HEADROOM_BITS = 16
#: Extra bits of margin on the calibrated readout accumulator peak.
READOUT_MARGIN_BITS = 2


# --------------------------------------------------------------------------- scalars


def quantize_weights(w_scaled: np.ndarray | float, mant_range: Range, exp_range: Range):
    """Best ``(mant, exp)`` for ``w_scaled`` (weights already in target integer units).

    Searches every exponent in ``exp_range``: ``mant = clip(round_half_even(w / 2^e))``,
    keeps the exponent with the smallest squared error (ties: the larger exponent).
    All-zero weights get the exponent closest to 0. Returns ``(int64 array, int)``.
    """
    w = np.asarray(w_scaled, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    lo, hi = mant_range
    e_lo, e_hi = exp_range
    if not np.any(w):
        return np.zeros(w.shape, dtype=np.int64), int(min(max(0, e_lo), e_hi))
    best_m, best_e, best_err = None, e_hi, math.inf
    for e in range(e_hi, e_lo - 1, -1):
        m = np.clip(np.rint(np.ldexp(w, -e)), lo, hi)
        err = float(np.sum(np.square(np.ldexp(m, e) - w)))
        if err < best_err:
            best_m, best_e, best_err = m, e, err
    return best_m.astype(np.int64), int(best_e)


def quantize_bias(b_scaled: np.ndarray, mant_range: Range, exp_range: Range):
    """Integer biases ``mant << exp`` nearest to ``b_scaled`` (per element).

    Each element takes the smallest exponent (>= 0: biases are integers) at which its
    rounded mantissa fits; values beyond the largest clip. Returns ``(bias_int, n_clipped)``.
    """
    b = np.asarray(b_scaled, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(b)):
        raise ValueError("biases must be finite")
    lo, hi = mant_range
    e_lo, e_hi = max(0, exp_range[0]), max(0, exp_range[1])
    out = np.zeros(b.shape, dtype=np.int64)
    done = np.zeros(b.shape, dtype=bool)
    for e in range(e_lo, e_hi + 1):
        m = np.rint(np.ldexp(b, -e))
        fits = ~done & (m >= lo) & (m <= hi)
        out[fits] = m[fits].astype(np.int64) << e
        done |= fits
    rest = ~done
    out[rest] = np.clip(np.rint(np.ldexp(b[rest], -e_hi)), lo, hi).astype(np.int64) << e_hi
    return out, int(rest.sum())


def dequantize(mant: np.ndarray | int, exp: int, scale: float) -> np.ndarray:
    """Float value of ``mant 2^exp`` in units where ``scale`` integer units are 1."""
    return np.ldexp(np.asarray(mant, dtype=np.float64), int(exp)) / scale


def default_theta_unit_bits(fmt: FixedPointFormat) -> int:
    """``state_bits - HEADROOM_BITS`` (8 on a 24-bit state), at least the threshold step."""
    step_bits = max(0, (fmt.threshold_step - 1).bit_length())
    return max(fmt.state_bits - HEADROOM_BITS, step_bits, 0)


def _check_threshold(name: str, node: NeuronNode, fmt: FixedPointFormat) -> None:
    unit = node.theta_unit_int
    theta1 = unit << (node.n_thresholds - 1)
    if unit % fmt.threshold_step:
        raise ValueError(
            f"{name}: threshold unit {unit} is not a multiple of the profile's threshold "
            f"step {fmt.threshold_step}; raise theta_unit_bits"
        )
    top = fmt.threshold_max if fmt.threshold_max is not None else fmt.state_range[1]
    if theta1 > min(top, fmt.state_range[1]):
        raise ValueError(
            f"{name}: largest threshold {theta1} exceeds the profile's maximum {top}; "
            "lower theta_unit_bits"
        )


# --------------------------------------------------------------------------- readout scale


def readout_bound(graph: SpikingGraph, timesteps: int) -> float:
    """A provable bound on ``|acc|`` of the readout over ``timesteps``, in float units."""
    name = graph.readout_name
    step = float(np.abs(graph.node(name).bias).max(initial=0.0))
    for src, e in graph.in_edges(name):
        step += edge_abs_rowsum(e, e.weight) * source_max(graph, src)
    return step * timesteps


def readout_peak(graph: SpikingGraph, frames: Any, timesteps: int) -> float:
    """Largest ``|acc|`` (any prefix of the window) on ``frames``, float simulation, over
    the graph's own delays and zero delays (= balanced delays in the readout window)."""
    from lava_spikingunet.graph.timing import with_delays
    from lava_spikingunet.reference.simulator import simulate

    peak = 0.0
    for delays in ("graph", "zero"):
        g = with_delays(graph, delays)
        res = simulate(g, frames, timesteps=timesteps, quantized=False)
        peak = max(peak, float(res.stats[graph.readout_name].max_abs_state))
    return peak


def choose_readout_scale(
    graph: SpikingGraph, fmt: FixedPointFormat, peak: float, margin_bits: int
) -> float:
    """Largest power of two keeping ``peak * 2^margin`` in the state and weights/bias in format."""
    name = graph.readout_name
    limits = [fmt.state_range[1] / max(peak, 1e-300) / 2.0**margin_bits]
    w_top = (
        max(-fmt.weight_mant_range[0], fmt.weight_mant_range[1]) * 2.0 ** fmt.weight_exp_range[1]
    )
    for _, e in graph.in_edges(name):
        w = float(np.abs(e.weight).max(initial=0.0))
        if w > 0:
            limits.append(w_top / w)
    b = float(np.abs(graph.node(name).bias).max(initial=0.0))
    b_top = max(-fmt.bias_mant_range[0], fmt.bias_mant_range[1]) * 2.0 ** max(
        0, fmt.bias_exp_range[1]
    )
    if b > 0:
        limits.append(b_top / b)
    return 2.0 ** math.floor(math.log2(min(limits)))


# --------------------------------------------------------------------------- graph


def static_targets(graph: SpikingGraph) -> set[str]:
    """Nodes fed by the static (host-computed) input edge."""
    return {d for _, d, e in graph.edges() if getattr(e, "static", False)}


def quantize_graph(
    graph: SpikingGraph,
    profile: Any,
    theta_unit_bits: int | None = None,
    *,
    calib: Any = None,
    timesteps: int | None = None,
    readout_scale: float | None = None,
    margin_bits: int = READOUT_MARGIN_BITS,
) -> SpikingGraph:
    """A quantized copy of ``graph`` for ``profile`` (a profile, its name, or a format).

    ``theta_unit_bits``: ``theta_unit_int = 2^bits`` for every neuron node (default
    :func:`default_theta_unit_bits`). The readout scale is ``readout_scale`` if given,
    else chosen from the float simulation of ``calib`` frames ``(B, C, H, W)`` with
    ``margin_bits`` of margin, else from the provable bound :func:`readout_bound`.
    """
    from lava_spikingunet.limits import check_lava_supported

    check_lava_supported(graph)
    fmt = FixedPointFormat.from_profile(profile)
    bits = default_theta_unit_bits(fmt) if theta_unit_bits is None else int(theta_unit_bits)
    if bits < 0:
        raise ValueError(f"theta_unit_bits must be >= 0, got {bits}")
    steps = int(timesteps if timesteps is not None else graph.meta.timesteps)
    q = graph.copy()
    fed = static_targets(q)
    clipped_bias: dict[str, int] = {}
    for name in q.neurons():
        node = q.node(name)
        node.theta_unit_int = 1 << bits
        _check_threshold(name, node, fmt)
        if name in fed:
            node.bias_int = np.zeros_like(node.bias, dtype=np.int64)
        else:
            node.bias_int, n = quantize_bias(
                node.bias * node.scale, fmt.bias_mant_range, fmt.bias_exp_range
            )
            if n:
                clipped_bias[name] = n

    ro = q.node(q.readout_name)
    assert isinstance(ro, ReadoutNode)
    if readout_scale is not None:
        source = "given"
        ro.scale = float(readout_scale)
    else:
        if calib is not None:
            source, peak = "calibration", readout_peak(graph, calib, steps)
        else:
            source, margin_bits = "bound", 0
            peak = readout_bound(graph, steps)
        ro.scale = choose_readout_scale(q, fmt, peak, margin_bits)
    ro.bias_int, n = quantize_bias(ro.bias * ro.scale, fmt.bias_mant_range, fmt.bias_exp_range)
    if n:
        clipped_bias[q.readout_name] = n

    for _, dst, e in q.edges():
        if getattr(e, "static", False):
            e.mant, e.exp = None, None
            continue
        e.mant, e.exp = quantize_weights(
            np.asarray(e.weight) * _scale(q, dst), fmt.weight_mant_range, fmt.weight_exp_range
        )
    if clipped_bias:
        warnings.warn(f"biases clipped to the profile's bias format: {clipped_bias}", stacklevel=2)
    if not isinstance(profile, FixedPointFormat):
        q.meta.extra["hw_profile"] = fmt.name  # what the netx exporter reads
    q.meta.quant = QuantState(
        format=fmt,
        theta_unit_bits=bits,
        readout_scale_from=source,
        readout_margin_bits=int(margin_bits),
        timesteps=steps,
    )
    return q


def _scale(graph: SpikingGraph, name: str) -> float:
    node = graph.node(name)
    scale = node.scale
    if scale is None:
        raise ValueError(f"node {name!r} has no scale yet")
    return float(scale)


def dequantize_graph(graph: SpikingGraph) -> SpikingGraph:
    """Float copy whose weights and biases are exactly the quantized values."""
    q = graph.copy()
    fed = static_targets(q)
    for name in q.nodes():
        node = q.node(name)
        if isinstance(node, NeuronNode | ReadoutNode) and name not in fed:
            node.bias = node.bias_int / _scale(q, name)
    for _, dst, e in q.edges():
        if e.is_quantized:
            w = dequantize(e.mant, e.exp, _scale(q, dst))
            e.weight = float(w) if np.ndim(e.weight) == 0 else w
    return q


def edge_errors(graph: SpikingGraph) -> list[dict[str, Any]]:
    """Per quantized edge: exponent, clipped weights, RMS error relative to RMS weight."""
    rows = []
    for src, dst, e in graph.edges():
        if not e.is_quantized:
            continue
        fmt_lo, fmt_hi = graph_format(graph).weight_mant_range
        w = np.asarray(e.weight, dtype=np.float64) * _scale(graph, dst)
        err = np.ldexp(e.mant.astype(np.float64), e.exp) - w
        raw = np.rint(np.ldexp(w, -e.exp))
        rms_w = float(np.sqrt(np.mean(np.square(w)))) or 1.0
        rows.append(
            {
                "edge": f"{src}->{dst}",
                "exp": int(e.exp),
                "clipped": int(np.sum((raw < fmt_lo) | (raw > fmt_hi))),
                "rel_rms_error": float(np.sqrt(np.mean(np.square(err)))) / rms_w,
            }
        )
    return rows
