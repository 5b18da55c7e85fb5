"""Conversion of a quantized Spiking-UNet graph to the ``sdnn`` form (docs/semantics.md
section 6).

The quantized multi-threshold graph (:func:`lava_spikingunet.fixed_point.quantize_graph`)
gives the node and edge structure, the float weights per unit of the source's output and
the readout scale. The ``sdnn`` form chooses, from the hardware profile:

- each neuron's state scale ``S`` (a power-of-two threshold unit): the state holds
  ``+-2^headroom_bits`` float units, and the bias is re-quantized in it;

- ``state_exp`` of every neuron: its messages are ``act >> state_exp``, so one message unit
  is ``2^state_exp`` state units. The smallest value at which every outgoing edge's weights,
  re-expressed per message unit, still use the mantissa's full width above the profile's
  smallest weight exponent (fine messages, exact weights), and at which the largest
  activation the state can hold still fits the profile's graded payload.
- every synaptic edge's mantissa and exponent, re-quantized per message unit of its source;
- the readout scale: the one-step readout ``act`` has ``T`` times less range than the
  multi-threshold accumulator, so its scale grows by ``2^floor(log2 T)``, or less where the
  readout bias would not fit the profile's bias format;
- native delays: 1 per synaptic edge (Lava's synapses send the previous step's result),
  0 for the host-computed input; or balanced (skips delayed to the longest path);
- ``steps``: the steps a static frame takes to settle, ``1 +`` the longest path delay from
  the input to the readout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lava_spikingunet.fixed_point.formats import FixedPointFormat
from lava_spikingunet.fixed_point.quantize import graph_format, quantize_bias, quantize_weights
from lava_spikingunet.graph.ir import NeuronNode, ReadoutNode, SpikingGraph
from lava_spikingunet.graph.timing import balance_delays, set_native_delays

__all__ = [
    "HEADROOM_BITS",
    "ILIF_HEADROOM_BITS",
    "MAX_STATE_EXP",
    "ilif_to_sdnn",
    "is_ilif_graph",
    "is_sdnn",
    "longest_path",
    "settle_steps",
    "to_sdnn",
]

#: A neuron's state holds +-2^HEADROOM_BITS float (normalized activation) units.
HEADROOM_BITS = 5


def longest_path(graph: SpikingGraph) -> dict[str, int]:
    """Largest sum of delays from the input to every node."""
    out: dict[str, int] = {}
    for n in graph.order():
        ins = graph.in_edges(n)
        out[n] = 0 if not ins else max(out[s] + e.delay for s, e in ins)
    return out


def settle_steps(graph: SpikingGraph) -> int:
    """Steps after which a static frame has reached the readout: longest path + 1."""
    return longest_path(graph)[graph.readout_name] + 1


def is_sdnn(graph: SpikingGraph) -> bool:
    return bool(graph.meta.extra.get("sdnn"))


def _profile_bits(profile: Any) -> tuple[int | None, int | None]:
    """(graded payload bits, max delay) of the profile, when it is a profile."""
    if profile is None or isinstance(profile, FixedPointFormat):
        return None, None
    from lava_spikingunet.hw.profiles import load_profile

    prof = load_profile(profile) if isinstance(profile, str) else profile
    return int(prof.spikes.graded_payload_bits), int(prof.spikes.max_delay)


def to_sdnn(
    q: SpikingGraph,
    profile: Any = None,
    *,
    vth: int = 0,
    state_exp: int | None = None,
    headroom_bits: int = HEADROOM_BITS,
    delays: str = "native",
) -> SpikingGraph:
    """The ``sdnn`` form of the quantized graph ``q`` (a new graph).

    ``profile``: hardware profile (name, profile object) for the formats, default the one
    ``q`` was quantized for. ``vth``: every neuron's delta threshold in message units.
    ``state_exp``: force one ``state_exp`` for every neuron (default: chosen per neuron).
    ``headroom_bits``: each neuron's state scale is re-chosen so that its 24-bit (profile)
    state holds ``+-2^headroom_bits`` float units (the graph's units are normalized
    activations, ~1 at the calibration percentile): a sigma-delta state is one step's
    value, not a ``T``-step membrane, so it can use the bits the quantizer kept for that.
    ``delays``: ``native`` (1 per synapse) or ``balanced`` (skips delayed so that every
    input of a node arrives together: on a static frame each neuron then changes once,
    not once per path length; Lava carries the extra delay in ``DelaySparse``).
    """
    if not q.is_quantized:
        raise ValueError("to_sdnn needs a quantized graph (fixed_point.quantize_graph)")
    fmt = FixedPointFormat.from_profile(profile) if profile is not None else graph_format(q)
    named = profile if profile is not None else q.meta.extra.get("hw_profile")
    payload_bits, _ = _profile_bits(named)
    if delays not in ("native", "balanced"):
        raise ValueError(f"delays must be native or balanced, got {delays!r}")
    g = q.copy()
    set_native_delays(g)
    if delays == "balanced":  # every input of a node arrives in the same step
        balance_delays(g)
    mant_lo, mant_hi = fmt.weight_mant_range
    e_min = fmt.weight_exp_range[0]
    # a weight per message unit of at least this magnitude keeps a mantissa of
    # (mantissa bits - 1) bits at the smallest exponent
    w_floor = math.ldexp(1.0, e_min) * (mant_hi + 1) / 2
    state_bits = fmt.state_bits
    t = int(g.meta.timesteps)
    ro = g.node(g.readout_name)
    assert isinstance(ro, ReadoutNode)
    gain = 1 << max(0, int(math.floor(math.log2(max(t, 1)))))
    bias_top = fmt.bias_mant_range[1] << max(0, fmt.bias_exp_range[1])
    b_max = float(np.abs(ro.bias).max(initial=0.0)) * float(ro.scale)
    while gain > 1 and b_max * gain > bias_top:  # the readout bias must stay representable
        gain //= 2
    ro_scale = float(ro.scale) * gain

    def dst_scale(name: str) -> float:
        return ro_scale if name == g.readout_name else float(g.node(name).scale)

    # the state scale: a neuron's state holds +-2^headroom_bits float (normalized) units
    for n in g.neurons():
        node = g.node(n)
        unit_f = node.theta_unit * math.ldexp(1.0, state_bits - 1 - int(headroom_bits))
        node.theta_unit_int = max(1, 1 << max(0, round(math.log2(unit_f))))
    conv_cfg = g.meta.extra.get("conversion") or {}
    bias_shift = bool(conv_cfg.get("bias_shift"))
    fed = {d for _, d, e in g.edges() if getattr(e, "static", False)}
    nodes: dict[str, dict[str, int]] = {}
    for n in g.neurons():
        node = g.node(n)
        assert isinstance(node, NeuronNode)
        unit = int(node.theta_unit_int)  # state units per unit of the graph's weights
        if bias_shift:  # the rate-coding half-unit shift of the deploy preset: undone
            node.bias = node.bias - node.theta_unit / (2 * t)
        outs = g.out_edges(n)
        if state_exp is not None:
            st = int(state_exp)
        else:
            need = 0
            for d, e in outs:
                wmax = float(np.abs(np.asarray(e.weight)).max()) * dst_scale(d) / unit
                if wmax > 0:
                    need = max(need, math.ceil(math.log2(w_floor / wmax)))
            st = max(0, need)
            if payload_bits:
                st = max(st, state_bits - payload_bits)
        nodes[n] = {"state_exp": st, "vth": int(vth)}
        # messages floor act / 2^st: half a message unit of bias makes them round
        half = (1 << st) // 2
        if n in fed:
            node.bias = node.bias + half / float(node.scale)
            node.bias_int = np.zeros_like(node.bias_int)
        else:
            node.bias_int, _ = quantize_bias(
                node.bias * float(node.scale) + half, fmt.bias_mant_range, fmt.bias_exp_range
            )
        for d, e in outs:
            w = np.asarray(e.weight, dtype=np.float64) * dst_scale(d) * math.ldexp(1.0, st) / unit
            m, ex = quantize_weights(w, (mant_lo, mant_hi), fmt.weight_exp_range)
            e.mant, e.exp = m, ex
    ro.scale = ro_scale
    ro.bias_int, _ = quantize_bias(ro.bias * ro_scale, fmt.bias_mant_range, fmt.bias_exp_range)
    g.meta.extra["sdnn"] = {
        "nodes": nodes,
        "steps": settle_steps(g),
        "readout_gain": gain,
        "format": fmt.to_dict(),
    }
    return g


#: The chip's ``state_exp`` is a 3-bit field (Lava's ``SigmaDelta`` declares it with
#: ``precision=3``): a message unit is at most ``2^7`` state units.
MAX_STATE_EXP = 7
#: An I-LIF neuron's rescaled state holds 2^ILIF_HEADROOM_BITS * (D + 1) counts.
ILIF_HEADROOM_BITS = 4


def is_ilif_graph(graph: SpikingGraph) -> bool:
    """Whether ``graph`` was converted from an I-LIF U-Net (``conversion.ilif``)."""
    return (graph.meta.extra.get("conversion") or {}).get("method") == "ilif"


def ilif_to_sdnn(
    q: SpikingGraph,
    *,
    vth: int = 1,
    fine_bits: int | None = None,
    headroom_bits: int = ILIF_HEADROOM_BITS,
    extra_fine_bits: int = 0,
) -> SpikingGraph:
    """The ``sdnn`` form of a quantized one-timestep I-LIF graph, its weight mantissas kept.

    The I-LIF graph's neuron ``n`` holds ``u`` in state units with ``theta_unit_int =
    2^a`` per count. A ``SigmaDelta`` neuron sends ``delta >> state_exp``: the low bits
    of every *change* are dropped (docs/semantics.md section 6), so sending the counts
    themselves (``state_exp = a``) is exact only for a neuron whose activation changes
    once; a neuron driven by its bias before its input arrives loses up to one count per
    change. The form therefore sends the activation ``2^fine`` times finer than a count:

    1. each neuron's state is rescaled by ``2^k`` (``theta_unit_int = 2^(a + k)``; its
       incoming weights' exponents and its bias grow by ``k``, exactly), ``k`` the largest
       at which every incoming exponent and the bias stay in the profile's ranges and the
       state holds ``2^headroom_bits * (D + 1)`` counts;
    2. ``state_exp = a + k - fine``, ``fine`` per neuron (default) the most (up to
       ``a + k``) at which every outgoing weight stays exactly as quantized (its exponent
       lowered by ``fine`` stays ``>=`` the profile's smallest), and at least
       ``a + k - 7`` (Lava's 3-bit ``state_exp``; edges that would fall below the range
       are then re-quantized and listed in ``meta.extra["sdnn"]["requantized_edges"]``).

    The I-LIF rounding is not kept: the ReLU passes the un-rounded activation (the
    half-quantum bias shift becomes half a message unit) and does not clamp at ``D``.
    Delays stay balanced (every input of a node arrives in the same step). ``vth``: every
    neuron's delta threshold in message units. ``extra_fine_bits``: messages that many
    bits finer still (less drift in a stream, docs/semantics.md section 6), the outgoing
    weights re-quantized where their exponent would leave the range.
    """
    if not q.is_quantized:
        raise ValueError("ilif_to_sdnn needs a quantized graph (fixed_point.quantize_graph)")
    if not is_ilif_graph(q):
        raise ValueError("ilif_to_sdnn needs a graph converted from an I-LIF U-Net")
    fmt = graph_format(q)
    e_lo, e_hi = fmt.weight_exp_range
    g = q.copy()
    set_native_delays(g)
    balance_delays(g)
    fed = {d for _, d, e in g.edges() if getattr(e, "static", False)}
    state_top = fmt.state_range[1]
    bias_top = fmt.bias_mant_range[1] << max(0, fmt.bias_exp_range[1])
    for n in g.neurons():  # 1. rescale each state as far as its inputs and headroom allow
        node = g.node(n)
        assert isinstance(node, NeuronNode)
        theta = int(node.theta_unit_int)
        if theta & (theta - 1):
            raise ValueError(f"{n}: theta_unit_int {theta} is not a power of two")
        ins = [e for _, e in g.in_edges(n) if not getattr(e, "static", False)]
        k = min([e_hi - int(e.exp) for e in ins] or [e_hi])
        room = state_top // (theta * (int(node.max_count) + 1) << int(headroom_bits))
        k = max(0, min(k, room.bit_length() - 1))
        b_max = 0 if n in fed else int(np.abs(np.asarray(node.bias_int)).max(initial=0))
        while k and (b_max + theta) << k > bias_top:  # the bias must stay representable
            k -= 1
        if not k:
            continue
        node.theta_unit_int = theta << k
        for e in ins:
            e.exp = int(e.exp) + k
        if n not in fed:
            node.bias_int, _ = quantize_bias(
                np.asarray(node.bias_int, np.float64) * (1 << k),
                fmt.bias_mant_range,
                fmt.bias_exp_range,
            )
    nodes: dict[str, dict[str, int]] = {}
    requantized: list[str] = []
    for n in g.neurons():  # 2. messages as fine as the outgoing weights allow
        node = g.node(n)
        theta = int(node.theta_unit_int)
        bits = theta.bit_length() - 1
        outs = g.out_edges(n)
        if fine_bits is None:
            exact = min([bits] + [int(e.exp) - e_lo for _, e in outs])
            fb = min(bits, max(bits - MAX_STATE_EXP, exact) + max(0, int(extra_fine_bits)))
        else:
            fb = int(fine_bits)
        st = bits - fb
        if not 0 <= st <= MAX_STATE_EXP:
            raise ValueError(
                f"{n}: state_exp {st} outside 0..{MAX_STATE_EXP} (theta_unit_int {theta}, "
                f"fine_bits {fb})"
            )
        nodes[n] = {"state_exp": st, "vth": int(vth)}
        shift_half = (1 << st) // 2 - theta // 2  # half a message unit, not half a count
        if n in fed:
            node.bias = node.bias + shift_half / float(node.scale)
        else:
            node.bias_int, _ = quantize_bias(
                np.asarray(node.bias_int, np.float64) + shift_half,
                fmt.bias_mant_range,
                fmt.bias_exp_range,
            )
        for d, e in outs:
            ex = int(e.exp) - fb
            if ex >= e_lo:
                e.exp = ex
            else:  # below the smallest exponent: the mantissa loses bits
                w = np.asarray(e.mant, np.float64) * math.ldexp(1.0, ex)
                e.mant, e.exp = quantize_weights(w, fmt.weight_mant_range, (e_lo, e_hi))
                requantized.append(f"{n}->{d}")
    g.meta.extra["sdnn"] = {
        "nodes": nodes,
        "steps": settle_steps(g),
        "readout_gain": 1,
        "format": fmt.to_dict(),
        "messages": "ilif_fine",
        "requantized_edges": requantized,
    }
    return g
