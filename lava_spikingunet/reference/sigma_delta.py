"""Integer reference of the ``sdnn`` form: the U-Net on Lava's stock ``SigmaDelta`` neurons.

It runs a graph converted by :func:`lava_spikingunet.backends.sdnn.convert.to_sdnn` step by
step, exactly as the stock Lava processes the ``sdnn`` build is made of compute it
(docs/semantics.md section 6): ``lava.proc.sdn`` ``PySigmaDeltaModelFixed`` for every
neuron (ReLU) and the readout (UNIT activation), the project's CPU model of
``lava.proc.conv.process.Conv`` for conv and avg-pool edges (Lava's rule plus
``weight_exp``, results wrapped to 24 signed bits like Lava's own model), and Lava's
``Sparse`` fixed-point model for transposed convs.

Per step ``t`` and node ``n`` (all integers; ``st = state_exp``, ``vth`` in message units):

```
a_in  = sum over in-edges e of c_e(t)           c_e(t) = op_e(msg_src(t - d_e))
sigma = sigma + a_in
act   = relu(sigma + bias)                      (readout: act = sigma + bias)
delta = act - act_prev + residue
s     = delta where |delta| >= vth << st, else 0
residue = delta - s ;  act_prev = act
msg(t) = s >> st                                (floor: the low st bits of s are lost)
```

With ``cum_error`` (the stock ``SigmaDelta``'s mode, neurons only) the test is on an
error that accumulates every step's delta and is cleared where a message goes out:

```
error = error + delta
s     = delta where |error| >= vth << st, else 0 ;   error = 0 where s != 0
```

The input node sends, at the first step of frame ``f``, ``I0_f - I0_{f-1}`` (the change
of the host-computed input current) and zeros otherwise; the first neuron layer receives
it in the same step (delay 0). Synaptic edges have delay ``d >= 1`` (Lava's synapses send
the previous step's result). Everything is computed in int64 and checked to stay inside
int32, where Lava's CPU models would wrap; the 24-bit headroom of the chip is reported
per node (``stats``).

Numpy only; batches ``(B, C, H, W)`` of independent streams run together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lava_spikingunet.backends.lava.numpy_ops import Conv2d, ConvTranspose2d, avgpool2d, shift
from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)

#: Lava's Conv fixed-point model clamps its output with ``signed_clamp(x, bits=24)``
#: (a wrap to 24 signed bits); the project's Conv model keeps that rule.
CONV_OUT_BITS = 24
INT32 = 1 << 31
#: Synaptic ops scatter the non-zero messages when at most 1 in SPARSE_RATIO is non-zero.
SPARSE_RATIO = 12


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """``lava.proc.conv.utils.signed_clamp``: ``(x + 2^(b-1)) mod 2^b - 2^(b-1)``."""
    base = np.int64(1) << bits
    half = base >> 1
    return (x + half) % base - half


@dataclass
class SDNNNodeParams:
    """Sigma-delta parameters of one node. ``vth`` in message units (the Lava Var is
    ``vth << state_exp``); ``bias`` per channel in state units (the Lava Var)."""

    state_exp: int
    vth: int
    bias: np.ndarray
    relu: bool = True


def vth_from_float(graph: SpikingGraph, vth: float) -> dict[str, int]:
    """Per-neuron ``vth`` in message units for one threshold ``vth`` in float units (the
    graph's normalized activation units): ``round(vth * S / 2^state_exp)``, at least 1
    when ``vth > 0`` (1 message unit: no change below one unit is sent, the least lossy
    threshold)."""
    info = graph.meta.extra["sdnn"]["nodes"]
    out = {}
    for n in graph.neurons():
        v = float(vth) * float(graph.node(n).scale) / (1 << int(info[n]["state_exp"]))
        out[n] = max(1, int(round(v))) if vth > 0 else 0
    return out


def vth_from_counts(graph: SpikingGraph, counts: float) -> dict[str, int]:
    """Per-neuron ``vth`` in message units for a threshold of ``counts`` activation
    quanta (``theta_unit``: one I-LIF count of a graph converted from an I-LIF U-Net):
    :func:`vth_from_float` of ``counts * theta_unit`` (the graph's neurons share one
    ``theta_unit``)."""
    units = {float(graph.node(n).theta_unit) for n in graph.neurons()}
    if len(units) != 1:
        raise ValueError(f"the neurons do not share one theta_unit: {sorted(units)}")
    return vth_from_float(graph, float(counts) * units.pop())


def sdnn_params(
    graph: SpikingGraph, vth: int | dict[str, int] | None = None
) -> dict[str, SDNNNodeParams]:
    """The per-node sigma-delta parameters of an ``sdnn`` graph (``meta.extra["sdnn"]``);
    ``vth`` (one value, or one per neuron) overrides the neurons' thresholds (the readout
    keeps 0)."""
    info = graph.meta.extra.get("sdnn")
    if not info:
        raise ValueError("graph is not in the sdnn form (meta.extra['sdnn'] is missing)")
    out: dict[str, SDNNNodeParams] = {}
    fed = {d for _, d, e in graph.edges() if getattr(e, "static", False)}
    for n in graph.order():
        op = graph.node(n)
        if isinstance(op, NeuronNode):
            node_info = info["nodes"][n]
            bias = np.zeros(op.shape[0], np.int64) if n in fed else op.bias_int
            if vth is None:
                v = int(node_info["vth"])
            else:
                v = int(vth[n]) if isinstance(vth, dict) else int(vth)
            out[n] = SDNNNodeParams(int(node_info["state_exp"]), v, np.asarray(bias), True)
        elif isinstance(op, ReadoutNode):
            out[n] = SDNNNodeParams(0, 0, np.asarray(op.bias_int), False)
    return out


def _conv_op(e: ConvEdge, m: np.ndarray):
    return Conv2d(m, e.stride, e.padding), CONV_OUT_BITS


def _pool_op(e: AvgPoolEdge, m: np.ndarray):
    k, w = e.kernel, int(m)
    return (lambda x: avgpool2d(x, w, k)), CONV_OUT_BITS  # built as a grouped Conv


def _convt_op(e: ConvTransposeEdge, m: np.ndarray):
    # Lava's Sparse model: int32, no clamp (wrap 0)
    return ConvTranspose2d(m, e.stride, e.padding, e.output_padding), 0


#: Per edge type: (integer operator, output wrap bits) of the stock synapse it becomes.
_EDGE_OPS = EdgeTable(
    "sigma-delta reference",
    {ConvEdge: _conv_op, AvgPoolEdge: _pool_op, ConvTransposeEdge: _convt_op},
)


class EdgeOp:
    """The integer current of one synaptic edge for a message tensor ``(B, C, H, W)``."""

    def __init__(self, edge: Any) -> None:
        self.edge = edge
        self.delay = int(edge.delay)
        if self.delay < 1:
            raise ValueError("synaptic edges of the sdnn form need a delay >= 1")
        m = np.asarray(edge.mant, dtype=np.int64)
        self._op, self.wrap = _EDGE_OPS[edge](edge, m)

    def _sparse(self, msg: np.ndarray) -> np.ndarray | None:
        """The operator by scatter-add over the non-zero messages (exact: float64 sums of
        integers below 2^53), or None where the dense product is cheaper."""
        e = self.edge
        # the scatter path knows conv and convT (any other edge: the table's dense op)
        if type(e) not in (ConvEdge, ConvTransposeEdge) or (
            isinstance(e, ConvEdge) and e.stride != 1
        ):
            return None
        nz = np.flatnonzero(msg)
        if nz.size == 0 or nz.size * SPARSE_RATIO > msg.size:
            return None
        b, ci, y, x = np.unravel_index(nz, msg.shape)
        v = msg.reshape(-1)[nz].astype(np.float64)
        m = np.asarray(e.mant, dtype=np.float64)
        if isinstance(e, ConvEdge):
            c_out, _, kh, kw = m.shape
            _, ho, wo = e.out_shape(msg.shape[1:])
        else:
            _, c_out, kh, kw = m.shape
            _, ho, wo = e.out_shape(msg.shape[1:])
        out = np.zeros(msg.shape[0] * c_out * ho * wo, np.float64)
        co = np.arange(c_out)[:, None]
        for ky in range(kh):
            for kx in range(kw):
                if isinstance(e, ConvEdge):
                    oy, ox = y + e.padding - ky, x + e.padding - kx
                    w = m[:, ci, ky, kx]  # (C_out, N)
                else:
                    oy, ox = y * e.stride - e.padding + ky, x * e.stride - e.padding + kx
                    w = m[ci, :, ky, kx].T
                ok = (oy >= 0) & (oy < ho) & (ox >= 0) & (ox < wo)
                if not ok.any():
                    continue
                idx = ((b[ok] * c_out + co) * ho + oy[ok]) * wo + ox[ok]
                out += np.bincount(idx.ravel(), (w[:, ok] * v[ok]).ravel(), out.size)
        return out.reshape(msg.shape[0], c_out, ho, wo).astype(np.int64)

    def __call__(self, msg: np.ndarray) -> np.ndarray:
        y = self._sparse(msg)
        y = shift(self._op(msg) if y is None else y, int(self.edge.exp))
        if self.wrap:
            y = wrap_signed(y, self.wrap)
        _check_int32(y, "synaptic current")
        return y


def _check_int32(x: np.ndarray, what: str) -> None:
    if x.size and (int(x.max()) >= INT32 or int(x.min()) < -INT32):
        raise OverflowError(f"{what} leaves int32: Lava's CPU models would wrap")


@dataclass
class NodeStats:
    """Headroom and activity of one node over a run (integer units).

    ``max_abs_sigma``/``max_abs_act``: state magnitudes (the chip holds 24 bits);
    ``max_abs_msg``: largest graded payload; ``messages``: non-zero messages sent.
    """

    max_abs_sigma: int = 0
    max_abs_act: int = 0
    max_abs_msg: int = 0
    messages: int = 0


@dataclass
class SDNNResult:
    """Output of :func:`simulate_sdnn`.

    ``steps``: all steps run (the rest included). ``readout``: the readout's ``act``
    (``sigma + bias``) at the last step of every frame, int64 ``(F, B, C, H, W)``;
    ``y = readout / scale``. With ``record``: ``messages[n]`` int32 ``(steps, B, C, H, W)``
    for every neuron and ``readout_steps`` ``(steps, B, C, H, W)`` (the readout's ``act``
    per step).
    ``synops[t]``: synaptic events of step ``t`` (messages x structural fan-out,
    summed over the batch), ``msg_count[t]``: non-zero neuron messages of step ``t``, both
    counted from the first frame's first step. ``rest_steps``: the steps the network
    settled without input before the first frame (0: it started from reset), and
    ``rest_synops`` what they cost; ``messages`` and ``readout_steps`` include them.
    """

    readout: np.ndarray
    y: np.ndarray
    steps: int
    hold: int
    synops: np.ndarray
    msg_count: np.ndarray
    stats: dict[str, NodeStats]
    messages: dict[str, np.ndarray] = field(default_factory=dict)
    readout_steps: np.ndarray | None = None
    rest_steps: int = 0
    rest_synops: int = 0


def rest_steps_of(graph: SpikingGraph, rest: bool) -> int:
    """Steps the network settles without input before its first frame (docs/semantics.md
    section 6, "Resting state"): the settle steps with ``rest``, else none."""
    return int(graph.meta.extra["sdnn"]["steps"]) if rest else 0


def input_schedule(frames: np.ndarray, hold: int, rest_steps: int = 0) -> list[np.ndarray | None]:
    """Per-step a_in of the first neuron layer: nothing (``None``) for ``rest_steps``, then
    ``I0_f - I0_{f-1}`` at the first step of frame ``f`` (``I0_{-1} = 0``) and nothing
    at its other steps. ``frames``: ``(F, B, C, H, W)`` int. This is what the input source
    process sends."""
    sched: list[np.ndarray | None] = [None] * int(rest_steps)
    prev = np.zeros_like(frames[0])
    for f in range(frames.shape[0]):
        d = frames[f] - prev
        prev = frames[f]
        sched.append(d if np.any(d) else None)
        sched.extend([None] * (hold - 1))
    return sched


def _read(t: int, latency: int, hold: int) -> bool:
    """Whether a frame's readout is read at step ``t`` (counted from the first frame)."""
    return t >= latency and (t - latency) % hold == 0


def _idle(n, t, static, sched, ins, ops, hist) -> bool:
    """Whether node ``n`` receives nothing at step ``t`` (no input change, no message)."""
    if n in static and sched[t] is not None:
        return False
    for s, _ in ins:
        op = ops.get((s, n))
        if op is not None and hist[s][op.delay - 1] is not None:
            return False
    return True


def simulate_sdnn(
    graph: SpikingGraph,
    current: np.ndarray,
    hold: int | None = None,
    *,
    vth: int | dict[str, int] | None = None,
    record: bool = False,
    count_synops: bool = True,
    latency: int | None = None,
    rest: bool = False,
    cum_error: bool = False,
) -> SDNNResult:
    """Run an ``sdnn`` graph on the input currents ``current``.

    ``current``: int ``(B, C, H, W)`` (one static frame) or ``(F, B, C, H, W)`` (F frames
    back to back, each held ``hold`` steps; default ``meta.extra["sdnn"]["steps"]``, the
    pipeline depth + 1 at which a static frame has settled). ``latency``: frame ``f``'s
    readout is read at step ``f * hold + latency`` (default ``hold - 1``, its last step);
    the run lasts until the last frame's is read, the input held. ``rest``: the network
    first settles for ``meta.extra["sdnn"]["steps"]`` steps without input (a blank frame:
    only the biases act), and the frames start from that resting state instead of from
    reset (docs/semantics.md section 6, "Resting state"); step and frame numbers above
    count from the end of the rest. ``cum_error``: every neuron in the stock
    ``SigmaDelta``'s ``cum_error`` mode (module docstring). With balanced delays
    and ``latency = steps - 1``, frames held fewer steps than ``steps`` stream as a
    pipeline (every layer one frame behind the layer before it).
    """
    cur = np.asarray(current)
    if cur.ndim == 4:
        cur = cur[None]
    if cur.ndim != 5 or not np.issubdtype(cur.dtype, np.integer):
        raise ValueError(f"current must be int (B,C,H,W) or (F,B,C,H,W), got {cur.shape}")
    cur = cur.astype(np.int64)
    _check_int32(cur, "input current")
    params = sdnn_params(graph, vth)
    hold = int(hold if hold is not None else graph.meta.extra["sdnn"]["steps"])
    if hold < 1:
        raise ValueError("hold must be >= 1")
    n_frames, batch = cur.shape[:2]
    latency = hold - 1 if latency is None else int(latency)
    if latency < 0:
        raise ValueError("latency must be >= 0")
    rest_steps = rest_steps_of(graph, rest)
    steps = rest_steps + max(n_frames * hold, (n_frames - 1) * hold + latency + 1)
    sched = input_schedule(cur, hold, rest_steps)
    sched += [None] * (steps - len(sched))
    order = [n for n in graph.order() if n != graph.input_name]
    ins = {n: graph.in_edges(n) for n in order}
    static = {n for n in order for s, e in ins[n] if getattr(e, "static", False)}
    ops = {(s, n): EdgeOp(e) for n in order for s, e in ins[n] if not getattr(e, "static", False)}
    max_d = max((op.delay for op in ops.values()), default=1)

    fan: dict[str, int] = {}
    if count_synops:
        from lava_spikingunet.profiling.synops import fanout_map

        for (s, _), op in ops.items():
            fm = fanout_map(op.edge, graph.node(s).shape).numpy()
            fan[s] = fan.get(s, 0) + fm  # type: ignore[assignment]

    state = {}
    for n in order:
        shape = (batch, *graph.node(n).shape)
        z = np.zeros(shape, np.int64)
        state[n] = {"sigma": z.copy(), "act": z.copy(), "res": z.copy(), "err": z.copy()}
    bias = {n: params[n].bias.reshape(1, -1, 1, 1).astype(np.int64) for n in order}
    # message history: last max_d steps per neuron (None = all zero)
    hist: dict[str, list[np.ndarray | None]] = {n: [None] * max_d for n in order}
    stats = {n: NodeStats() for n in order}
    messages = {n: [] for n in order if isinstance(graph.node(n), NeuronNode)} if record else {}
    ro_name = graph.readout_name
    ro_steps: list[np.ndarray] = []
    ro_frames: list[np.ndarray] = []
    synops = np.zeros(steps, np.int64)
    msg_count = np.zeros(steps, np.int64)

    for t in range(steps):
        new_msgs: dict[str, np.ndarray | None] = {}
        for n in order:
            st = state[n]
            p = params[n]
            accumulate = cum_error and p.relu
            if (
                t
                and _idle(n, t, static, sched, ins[n], ops, hist)
                and not (accumulate and st["res"].any())
            ):
                # no input: sigma and act are unchanged and the residue is below vth
                # (or 0), so nothing is sent and nothing changes (section 6); with
                # cum_error a residue keeps adding to the error, so only a node without
                # one is idle
                if n == ro_name:
                    if record:
                        ro_steps.append(st["act"].copy())
                    if _read(t - rest_steps, latency, hold) and len(ro_frames) < n_frames:
                        ro_frames.append(st["act"].copy())
                    continue
                new_msgs[n] = None
                if record:
                    messages[n].append(np.zeros(st["act"].shape, np.int32))
                continue
            a_in = np.zeros_like(st["sigma"])
            if n in static and sched[t] is not None:
                a_in += sched[t]
            for s, _ in ins[n]:
                op = ops.get((s, n))
                if op is None:
                    continue
                m = hist[s][op.delay - 1]
                if m is not None:
                    a_in += op(m)
            _check_int32(a_in, f"{n}: a_in")
            st["sigma"] += a_in
            _check_int32(st["sigma"], f"{n}: sigma")
            act = st["sigma"] + bias[n]
            if p.relu:
                act = np.maximum(act, 0)
            delta = act - st["act"] + st["res"]
            _check_int32(delta, f"{n}: delta")
            if accumulate:
                st["err"] += delta
                _check_int32(st["err"], f"{n}: error")
                s_out = np.where(np.abs(st["err"]) >= (p.vth << p.state_exp), delta, 0)
                st["err"] *= s_out == 0
            else:
                s_out = np.where(np.abs(delta) >= (p.vth << p.state_exp), delta, 0)
            st["res"] = delta - s_out
            st["act"] = act
            msg = np.right_shift(s_out, p.state_exp)
            ns = stats[n]
            ns.max_abs_sigma = max(ns.max_abs_sigma, int(np.abs(st["sigma"]).max(initial=0)))
            ns.max_abs_act = max(ns.max_abs_act, int(np.abs(act).max(initial=0)))
            if n == ro_name:
                if record:
                    ro_steps.append(act.copy())
                if _read(t - rest_steps, latency, hold) and len(ro_frames) < n_frames:
                    ro_frames.append(act.copy())
                continue
            nz = msg != 0
            cnt = int(nz.sum())
            ns.messages += cnt
            msg_count[t] += cnt
            if cnt:
                ns.max_abs_msg = max(ns.max_abs_msg, int(np.abs(msg).max()))
                if count_synops and n in fan:
                    synops[t] += int((nz * fan[n][None]).sum())
            new_msgs[n] = msg if cnt else None
            if record:
                messages[n].append(msg.astype(np.int32))
        for n, m in new_msgs.items():
            hist[n] = [m] + hist[n][:-1]

    ro = graph.node(ro_name)
    readout = np.stack(ro_frames)
    return SDNNResult(
        readout=readout,
        y=readout / float(ro.scale),
        steps=steps,
        hold=hold,
        synops=synops[rest_steps:],
        msg_count=msg_count[rest_steps:],
        stats=stats,
        messages={n: np.stack(v) for n, v in messages.items()},
        readout_steps=np.stack(ro_steps) if record else None,
        rest_steps=rest_steps,
        rest_synops=int(synops[:rest_steps].sum()),
    )
