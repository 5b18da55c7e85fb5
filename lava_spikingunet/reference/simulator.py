"""The integer reference: a fast, exact PyTorch simulation of a quantized Spiking-UNet.

It implements docs/semantics.md bit for bit and is what the Lava process models are
checked against. The graph is feedforward, so it runs layer by layer in topological
order over all steps at once: each edge's operator is applied to the ``(steps * B, C,
H, W)`` spike-count history of its source in one call (in time chunks when that would
not fit ``chunk_elems``), shifted by the edge's delay and its weight exponent, and
summed; only the membrane is scanned over time. Timing (docs/semantics.md section 3):
the static input current is sent for steps ``[0, T)`` and node ``n`` adds its bias only
in its window ``[start(n), start(n) + T)``.

Exactness (docs/fixed_point.md): every value is an integer held exactly in a float.

- A convolution of integer counts with integer mantissas runs in float32 when every
  partial sum is bounded by ``max count * max_o sum |mant[o]|`` < 2^24, else in float64
  (< 2^53), on oneDNN's *direct* convolution with IEEE fp32 math and NNPACK off (NNPACK
  uses Winograd/FFT transforms: not exact). ``conv_precision="float64"`` forces float64.
- The exponent shift is ``y * 2^e`` (exact) or ``floor(y / 2^-e)`` (exact); the node
  current is summed in float32 when its bound is < 2^24, else float64.
- The membrane runs in float32 for state widths B <= 24, else float64: ``v`` stays in
  ``[-2^(B-1), 2^(B-1))`` and the current is clamped to ``+-(2^B - 1)`` first, so
  ``v + I`` is exact whenever it is < 2^24 in magnitude and saturates either way when
  it is not; ``floor(v / theta)`` with a power-of-two ``theta`` is exact.

``quantized=False`` runs the same code path in float (float weights and biases,
``theta_unit`` thresholds, no saturation, float64 state): the float evaluation used for
calibration and for tests.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lava_spikingunet.fixed_point.quantize import (
    edge_abs_rowsum,
    graph_format,
    source_max,
)
from lava_spikingunet.graph.ir import InputNode, NeuronNode, ReadoutNode, SpikingGraph
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.graph.timing import start_steps
from lava_spikingunet.reference.input_current import (
    input_current,
    input_current_float,
    static_edges,
)

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53
#: Default largest number of elements a time chunk of one layer's current may hold.
CHUNK_ELEMS = 1 << 25
#: Spike-count histories are kept in float32 (conv-ready; counts are small integers).
COUNT_DTYPE = torch.float32


#: Threads for everything but the convolutions: the elementwise work is memory-bound,
#: and multi-threaded small ops stall on a shared machine (each op waits for the slowest
#: thread); the convolutions use torch's thread count.
ELEMENTWISE_THREADS = 1


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    if n and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n and n != old:
            torch.set_num_threads(old)


@contextlib.contextmanager
def exact_conv_backend() -> Iterator[None]:
    """oneDNN direct convolution with strict IEEE fp32 math; NNPACK (Winograd) off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            torch.backends.mkldnn.flags(
                enabled=True, deterministic=True, allow_tf32=False, fp32_precision="ieee"
            ),
            torch.backends.nnpack.flags(enabled=False),
        ):
            yield


@dataclass
class LayerStats:
    """Headroom figures of one node over a run (integer units, or float units in float mode).

    ``max_abs_state``: largest ``|v + I|`` before saturation (readout: ``|acc + I|``);
    ``max_abs_current``: largest ``|I(t)|``; ``saturated``: (element, step) pairs
    clamped at a state bound (for the static target, plus input-current elements clipped
    on the host).
    """

    max_abs_state: float = 0.0
    max_abs_current: float = 0.0
    saturated: int = 0


@dataclass
class ReferenceResult:
    """Output of :func:`simulate`.

    ``acc``: readout accumulator ``(B, C, H, W)`` (int64; float64 in float mode);
    ``y = acc / (T * scale)``; ``spikes[n]``: uint8 ``(total_steps, B, C, H, W)`` counts
    of every neuron node when recorded.
    """

    acc: torch.Tensor
    y: torch.Tensor
    timesteps: int
    total_steps: int
    start: dict[str, int]
    stats: dict[str, LayerStats]
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)
    quantized: bool = True


@dataclass
class _Plan:
    """Per-edge tensors prepared once per run."""

    weight: torch.Tensor
    conv_dtype: torch.dtype
    scale: float  # multiply the operator output by this (2^exp, or 1)
    floor: bool
    bound: float  # largest |current| the edge can deliver (after the shift)


def _edge_plan(
    graph: SpikingGraph, src: str, e: Any, quantized: bool, float_dtype, f64_only: bool
) -> _Plan:
    if quantized:
        if not e.is_quantized:
            raise ValueError(f"edge {src}: not quantized")
        bound = edge_abs_rowsum(e, e.mant) * source_max(graph, src)
        if bound < F32_EXACT and not f64_only:
            dtype = torch.float32
        elif bound < F64_EXACT:
            dtype = torch.float64
        else:
            raise ValueError(f"edge {src}: integer sums up to {bound:.3g} exceed 2^53")
        w = torch.as_tensor(np.asarray(e.mant), dtype=dtype)
        scale = 2.0 ** int(e.exp)
        return _Plan(w, dtype, scale, int(e.exp) < 0, bound * scale)
    w = torch.as_tensor(np.asarray(e.weight, dtype=np.float64), dtype=float_dtype)
    bound = edge_abs_rowsum(e, e.weight) * source_max(graph, src)
    return _Plan(w, float_dtype, 1.0, False, bound)


def _shapes(graph: SpikingGraph, first: str, first_shape: tuple) -> dict[str, tuple]:
    """Node shapes for a run whose static target has ``first_shape`` (any frame size)."""
    node = graph.node(first)
    if len(first_shape) != 3 or first_shape[0] != node.shape[0]:
        raise ValueError(f"input current shape {first_shape} does not fit node {first!r}")
    shapes = {first: tuple(first_shape)}
    for n in graph.order():
        if n in shapes or isinstance(graph.node(n), InputNode):
            continue
        src, e = graph.in_edges(n)[0]
        shapes[n] = e.out_shape(shapes[src])
    return shapes


def _static(e: Any) -> bool:
    return bool(getattr(e, "static", False))


def _apply(e: Any, p: _Plan, counts: torch.Tensor, threads: int) -> torch.Tensor:
    """The edge's current from a ``(steps, B, C, H, W)`` count history, before the delay."""
    xin = counts.reshape(-1, *counts.shape[2:]).to(p.conv_dtype)
    with _threads(threads):
        y = apply_edge(e, xin, p.weight)
    if p.scale != 1.0:
        y.mul_(p.scale)  # times 2^exp: exact
    if p.floor:
        y.floor_()  # arithmetic shift right by -exp
    return y


def _gate(steps: tuple[int, int], on: tuple[int, int]) -> slice | None:
    """Rows of the chunk ``steps = [t0, t1)`` that fall in ``on = [a, b)`` (None if none)."""
    (t0, t1), (a, b) = steps, on
    lo, hi = max(t0, a), min(t1, b)
    return slice(lo - t0, hi - t0) if hi > lo else None


def _current(ins, plans, counts, window, i0, steps, shape, dtype, threads, T) -> torch.Tensor:
    """Sum of the in-edge currents of one node for steps ``[t0, t1)`` (delays applied).

    The static input is sent for input steps ``[0, T)``, so it arrives at ``[d, d + T)``.
    """
    t0, t1 = steps
    cur = None
    for src, e in ins:
        d = e.delay
        if _static(e):
            rows = _gate(steps, (d, d + T))
            if rows is not None:
                cur = _zeros(cur, (t1 - t0, *shape), dtype)
                cur[rows] += i0.to(dtype)
            continue
        s_lo, s_hi = window[src]
        a, b = max(t0 - d, s_lo), min(t1 - d, s_hi)
        if b <= a:
            continue
        y = _apply(e, plans[src], counts[src][a - s_lo : b - s_lo], threads)
        y = y.reshape(b - a, *shape)
        if cur is None and (a + d, b + d) == (t0, t1) and y.dtype == dtype:
            cur = y  # the first edge covering the whole chunk: no zero fill, no copy
        else:
            cur = _zeros(cur, (t1 - t0, *shape), dtype)
            cur[a + d - t0 : b + d - t0] += y
    return _zeros(cur, (t1 - t0, *shape), dtype)


def _zeros(cur: torch.Tensor | None, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype) if cur is None else cur


def _windows(graph: SpikingGraph, start: dict[str, int], total: int, full: bool):
    """Steps ``[lo, hi)`` each node must compute: from ``start`` until its last step that
    can still reach the readout window (every step when ``full``)."""
    hi: dict[str, int] = {}
    for n in reversed(graph.order()):
        outs = [(m, d["op"].delay) for _, m, d in graph.g.out_edges(n, data=True)]
        if full or n == graph.readout_name or not outs:
            hi[n] = total
        else:
            hi[n] = max(hi[m] - delay for m, delay in outs)
        hi[n] = min(total, max(hi[n], start[n]))
    return {n: (min(start[n], total), hi[n]) for n in graph.order()}


def simulate(
    graph: SpikingGraph,
    x: Any = None,
    *,
    current: Any = None,
    timesteps: int | None = None,
    quantized: bool = True,
    record_spikes: bool = False,
    all_steps: bool = False,
    chunk_elems: int = CHUNK_ELEMS,
    float_dtype: torch.dtype = torch.float32,
    conv_precision: str = "auto",
    track_state: bool = True,
) -> ReferenceResult:
    """Run ``graph`` on frames ``x`` ``(B, C, H, W)`` (or a given static ``current``).

    ``current``: the static input current of the first layer (``I0_int`` int64 from
    :func:`~lava_spikingunet.reference.input_current.input_current`, or float units in
    float mode) instead of ``x``. ``timesteps``: ``T`` (default ``graph.meta.timesteps``);
    a frame costs ``start(readout) + T`` steps with the graph's delays as they are.
    ``record_spikes``: keep every neuron's counts at every step (uint8).
    ``all_steps``: run every node on every step of the frame, as Lava does (implied by
    ``record_spikes``); otherwise only the steps that can reach the readout window run
    (same output, less work; the stats then cover those steps only).
    ``conv_precision``: ``"auto"`` (float32 where provably exact, else float64) or
    ``"float64"`` (always; slower, same result). ``float_dtype``: conv dtype in float mode.
    ``track_state=False`` skips the per-step ``max |v|`` statistic (``max_abs_state``
    then stays 0) and the per-step bound check wherever saturation is provably
    impossible; the outputs are the same.
    """
    if conv_precision not in ("auto", "float64"):
        raise ValueError(f"conv_precision must be 'auto' or 'float64', got {conv_precision!r}")
    steps = int(timesteps if timesteps is not None else graph.meta.timesteps)
    if steps < 1:
        raise ValueError(f"timesteps must be >= 1, got {steps}")
    if quantized and not graph.is_quantized:
        raise ValueError("graph is not quantized; quantize it or pass quantized=False")
    lo_s, hi_s = graph_format(graph).state_range if quantized else (None, None)
    if quantized:
        span = hi_s - lo_s
        scan_dtype = torch.float32 if span < F32_EXACT else torch.float64
    else:
        span, scan_dtype = None, torch.float64

    (first, _), *more = static_edges(graph)
    if more:
        raise ValueError("the reference supports one static input edge")
    if current is None:
        if x is None:
            raise ValueError("pass frames x or the input current")
        current = input_current(graph, x, first) if quantized else input_current_float(graph, x)
    i0 = torch.as_tensor(np.asarray(current), dtype=torch.int64 if quantized else torch.float64)
    if i0.ndim == 3:
        i0 = i0[None]
    batch = i0.shape[0]
    shapes = _shapes(graph, first, tuple(i0.shape[1:]))
    i0_max = _absmax(i0)

    start = start_steps(graph)
    total = start[graph.readout_name] + steps
    window = _windows(graph, start, total, record_spikes or all_steps)
    counts: dict[str, torch.Tensor] = {}
    spikes: dict[str, torch.Tensor] = {}
    users = {n: graph.g.out_degree(n) for n in graph.g.nodes}
    stats: dict[str, LayerStats] = {}
    acc = None
    conv_threads = torch.get_num_threads()
    with exact_conv_backend(), torch.no_grad(), _threads(ELEMENTWISE_THREADS):
        for name in graph.order():
            node = graph.node(name)
            if isinstance(node, InputNode):
                continue
            ins = graph.in_edges(name)
            f64 = conv_precision == "float64"
            plans = {
                s: _edge_plan(graph, s, e, quantized, float_dtype, f64)
                for s, e in ins
                if not _static(e)
            }
            bias = _bias(name, node, first, quantized)
            bound = _absmax(bias) + sum(i0_max if _static(e) else plans[s].bound for s, e in ins)
            cur_dtype = torch.float32 if quantized and bound < F32_EXACT else torch.float64
            lo, hi = window[name]
            st = stats[name] = LayerStats()
            if quantized and name == first:  # the input current clipped at the state bounds
                st.saturated = int(((i0 <= lo_s) | (i0 >= hi_s)).sum())
            shape = (batch, *shapes[name])
            chunk = max(1, chunk_elems // max(int(np.prod(shape)), 1))
            state = torch.zeros(shape, dtype=scan_dtype)
            out = None
            if isinstance(node, NeuronNode):
                out = torch.empty((hi - lo, *shape), dtype=COUNT_DTYPE)
            for t0 in range(lo, hi, chunk):
                t1 = min(hi, t0 + chunk)
                cur = _current(
                    ins, plans, counts, window, i0, (t0, t1), shape, cur_dtype, conv_threads, steps
                )
                rows = _gate((t0, t1), (start[name], start[name] + steps))
                if rows is not None and bias.any():
                    cur[rows] += bias.to(cur_dtype)  # only in the node's window
                st.max_abs_current = max(st.max_abs_current, _absmax(cur))
                if quantized and bound > span:
                    cur.clamp_(-span, span)
                cur = cur.to(scan_dtype)
                bounds = (lo_s, hi_s)
                if quantized and not track_state:
                    # |v| never exceeds |v0| + t max|I|: no step of the chunk can saturate.
                    reach = _absmax(state) + (t1 - t0) * st.max_abs_current
                    if reach <= min(-lo_s, hi_s):
                        bounds = (None, None)
                if isinstance(node, NeuronNode):
                    _scan_neuron(node, cur, state, out[t0 - lo : t1 - lo], st, bounds, quantized)
                else:
                    _scan_readout(cur, state, st, bounds)
            if isinstance(node, NeuronNode):
                counts[name] = out
            else:
                acc = state
            for src, _ in ins:
                users[src] -= 1
                if users[src] == 0 and src in counts:
                    k = counts.pop(src)
                    if record_spikes:
                        full = torch.zeros((total, *k.shape[1:]), dtype=torch.uint8)
                        full[window[src][0] : window[src][1]] = k
                        spikes[src] = full

    ro = graph.node(graph.readout_name)
    assert isinstance(ro, ReadoutNode) and acc is not None
    if quantized:
        acc = acc.to(torch.int64)
        y = acc.to(torch.float64) / (steps * float(ro.scale))
    else:
        y = acc / steps
    return ReferenceResult(acc, y, steps, total, start, stats, spikes, quantized)


def _bias(name: str, node: Any, first: str, quantized: bool) -> torch.Tensor:
    """Per-channel bias as a broadcastable float64 tensor (0 for the static target)."""
    if name == first:
        b = np.zeros(node.shape[0])  # the bias is inside the input current
    elif quantized:
        b = np.asarray(node.bias_int, dtype=np.float64)
    else:
        b = node.bias
    return torch.as_tensor(b, dtype=torch.float64).reshape(1, 1, -1, 1, 1)


def _absmax(t: torch.Tensor) -> float:
    if t.numel() == 0:
        return 0.0
    lo, hi = torch.aminmax(t)
    return max(-float(lo), float(hi))


def _track(v: torch.Tensor, st: LayerStats, bounds) -> None:
    """Record ``max |v|`` before saturation; saturate ``v`` in place when it left the bounds."""
    vmin, vmax = (float(a) for a in torch.aminmax(v))
    st.max_abs_state = max(st.max_abs_state, vmax, -vmin)
    lo, hi = bounds
    if lo is not None and (vmax > hi or vmin < lo):
        st.saturated += int(((v > hi) | (v < lo)).sum())
        v.clamp_(lo, hi)


def _scan_neuron(node: NeuronNode, cur, v, out, st: LayerStats, bounds, quantized: bool) -> None:
    """The MT neuron over ``cur`` (steps first); updates ``v``, writes counts to ``out``.

    ``bounds = (None, None)`` with ``quantized`` means saturation was ruled out for these
    steps (no check, no ``max |v|`` statistic).
    """
    kmax = node.max_count
    if quantized:
        theta = float(node.theta_unit_int)
        if int(node.theta_unit_int).bit_count() != 1:
            raise ValueError("theta_unit_int must be a power of two")
    else:
        theta = node.theta_unit
    exact_inverse = math.frexp(theta)[0] == 0.5  # 1/theta exact: multiply, don't divide
    check = bounds[0] is not None or not quantized
    direct = out.dtype == v.dtype
    k = None if direct else torch.empty_like(v)
    for t in range(cur.shape[0]):
        v.add_(cur[t])
        if check:
            _track(v, st, bounds)
        kt = out[t] if direct else k
        if exact_inverse:
            torch.mul(v, 1.0 / theta, out=kt)
        else:
            torch.div(v, theta, out=kt)
        kt.floor_().clamp_(0, kmax)  # k = clamp(floor(v / theta_N), 0, 2^N - 1)
        if node.reset == "zero":
            v.masked_fill_(kt > 0, 0)
        elif quantized:
            v.sub_(kt, alpha=theta)  # exact integers
        else:
            v.sub_(kt * theta)  # as the float simulator rounds it
        if not direct:
            out[t].copy_(k)


def _scan_readout(cur, acc, st: LayerStats, bounds) -> None:
    """The readout accumulator over ``cur``, saturating in integer mode."""
    for t in range(cur.shape[0]):
        acc.add_(cur[t])
        _track(acc, st, bounds)


def mt_scan(
    current: torch.Tensor,
    theta_unit_int: int,
    n_thresholds: int,
    state_range: tuple[int, int],
    reset: str = "subtract",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The integer MT neuron on a ``(T, ...)`` int64 current: ``(counts uint8, final v)``."""
    node = NeuronNode((1, 1, 1), np.zeros(1), n_thresholds, 1.0, reset=reset)  # type: ignore[arg-type]
    node.theta_unit_int = int(theta_unit_int)
    lo, hi = state_range
    span = hi - lo
    cur = torch.as_tensor(current, dtype=torch.int64).clamp(-span, span).double()
    v = torch.zeros(cur.shape[1:], dtype=torch.float64)
    out = torch.zeros(cur.shape, dtype=torch.uint8)
    _scan_neuron(node, cur, v, out, LayerStats(), (lo, hi), True)
    return out, v.to(torch.int64)
