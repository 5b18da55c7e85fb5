"""The one graph walk behind the float simulation and the integer reference.

docs/semantics.md sections 1-4. The graph is feedforward, so it runs layer by layer in
topological order over all steps at once: each edge's operator is applied to the
``(steps * B, C, H, W)`` count history of its source in one call (in time chunks that
bound memory), scaled by the edge's exponent, shifted by its delay and summed; the bias
is added in the node's window ``[start(n), start(n) + T)``; the static input current
arrives for steps ``[d, d + T)``; only the neuron state is scanned over time
(:func:`scan_mt`, the one MT neuron of every form: the forms differ only in how ``k``
leaves the neuron, never in ``k``).

The arithmetic is the caller's (:class:`Numerics`): the integer reference holds exact
integers in floats and saturates, the float simulation runs in one float dtype.

Device: the walk runs where the static current ``i0`` lives (any torch device); the
weights and biases are moved there, and every buffer is allocated there. The dtypes do
not depend on the device, so an exact run gives the same integers on CUDA as on the CPU
(:func:`exact_conv_backend`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from lava_spikingunet.graph.ir import InputNode, NeuronNode, SpikingGraph
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.graph.timing import start_steps

#: Largest magnitude up to which float32 / float64 hold every integer exactly.
F32_EXACT = 1 << 24
F64_EXACT = 1 << 53

#: Threads for everything but the convolutions in an exact run: the elementwise work is
#: memory-bound, and multi-threaded small ops stall on a shared machine.
ELEMENTWISE_THREADS = 1


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads (unchanged for ``n = 0``)."""
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
    """Convolutions that are exact on integer values whose partial sums stay below the
    dtype's exact-integer range, in any summation order.

    CPU: oneDNN direct convolution with strict IEEE fp32 math; NNPACK (Winograd) off.
    CUDA: cuDNN off (its FFT / Winograd algorithms are not exact), so torch's own
    im2col + cuBLAS GEMM runs, with TF32 off (IEEE fp32 / fp64 multiply-adds).
    """
    matmul = torch.backends.cuda.matmul
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = matmul.fp32_precision
        with (
            torch.backends.mkldnn.flags(
                enabled=True, deterministic=True, allow_tf32=False, fp32_precision="ieee"
            ),
            torch.backends.nnpack.flags(enabled=False),
            torch.backends.cudnn.flags(enabled=False),
        ):
            matmul.fp32_precision = "ieee"
            try:
                yield
            finally:
                matmul.fp32_precision = old


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
class EdgePlan:
    """One edge's operator input, prepared once per run.

    The edge current is ``apply_edge(counts, weight) * scale``, floored when ``floor``
    (an exponent ``< 0``: arithmetic shift right); ``bound`` is the largest ``|current|``
    it can deliver.
    """

    weight: torch.Tensor
    conv_dtype: torch.dtype
    scale: float = 1.0
    floor: bool = False
    bound: float = math.inf


@dataclass
class Numerics:
    """How a run computes.

    ``state_range``: saturate the state there (integer mode) or None (float).
    ``cur_dtype``: the current's dtype; None picks float32 where every sum is an integer
    below 2^24, else float64 (integer mode). ``state_dtype``: the membrane's dtype.
    ``count_dtype``: how spike-count histories are kept. ``exact``: exact convolution
    backend and single-threaded elementwise work. ``track_state``: record ``max |v|``
    per step (and check the bounds wherever saturation is not ruled out).
    """

    state_range: tuple[int, int] | None
    state_dtype: torch.dtype
    cur_dtype: torch.dtype | None = None
    count_dtype: torch.dtype = torch.float32
    exact: bool = False
    track_state: bool = True


@dataclass
class Run:
    """What :func:`run_graph` returns: the readout state and the records asked for.

    ``spikes[n]``: counts ``(total_steps, B, C, H, W)`` (uint8, or int32 above 255);
    ``rates[n]``: mean count over the node's window.
    """

    acc: torch.Tensor
    timesteps: int
    total_steps: int
    start: dict[str, int]
    stats: dict[str, LayerStats]
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)
    rates: dict[str, torch.Tensor] = field(default_factory=dict)


def static_edge(graph: SpikingGraph) -> tuple[str, object]:
    """``(target, edge)`` of the one static input edge; ValueError otherwise."""
    found = [(d, e) for s, d, e in graph.edges() if getattr(e, "static", False)]
    if len(found) != 1:
        raise ValueError(f"the simulation supports one static input edge, found {len(found)}")
    return found[0]


def node_shapes(graph: SpikingGraph, first: str, first_shape: tuple) -> dict[str, tuple]:
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


def windows(graph: SpikingGraph, start: dict[str, int], total: int, full: bool):
    """Steps ``[lo, hi)`` each node must compute: from ``start`` until its last step that
    can still reach the readout window (every step when ``full``)."""
    hi: dict[str, int] = {}
    for n in reversed(graph.order()):
        outs = graph.out_edges(n)
        if full or n == graph.readout_name or not outs:
            hi[n] = total
        else:
            hi[n] = max(hi[m] - e.delay for m, e in outs)
        hi[n] = min(total, max(hi[n], start[n]))
    return {n: (min(start[n], total), hi[n]) for n in graph.order()}


def absmax(t: torch.Tensor) -> float:
    """``max |t|`` (0 for an empty tensor)."""
    if t.numel() == 0:
        return 0.0
    lo, hi = torch.aminmax(t.detach())
    return max(-float(lo), float(hi))


def _gate(steps: tuple[int, int], on: tuple[int, int]) -> slice | None:
    """Rows of the chunk ``steps = [t0, t1)`` that fall in ``on = [a, b)`` (None if none)."""
    (t0, t1), (a, b) = steps, on
    lo, hi = max(t0, a), min(t1, b)
    return slice(lo - t0, hi - t0) if hi > lo else None


def _zeros(cur: torch.Tensor | None, shape: tuple, dtype: torch.dtype, device) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype, device=device) if cur is None else cur


def _apply(e, p: EdgePlan, counts: torch.Tensor, n_threads: int) -> torch.Tensor:
    """The edge's current from a ``(steps, B, C, H, W)`` count history, before the delay."""
    xin = counts.reshape(-1, *counts.shape[2:]).to(p.conv_dtype)
    with threads(n_threads):
        y = apply_edge(e, xin, p.weight)
    if p.scale != 1.0:
        y.mul_(p.scale)  # times 2^exp: exact
    if p.floor:
        y.floor_()  # arithmetic shift right by -exp
    return y


def _current(ins, plans, counts, window, i0, steps, shape, dtype, n_threads, T):
    """Sum of the in-edge currents of one node for steps ``[t0, t1)`` (delays applied).

    The static input is sent for input steps ``[0, T)``, so it arrives at ``[d, d + T)``.
    """
    t0, t1 = steps
    cur = None
    for src, e in ins:
        d = e.delay
        if getattr(e, "static", False):
            rows = _gate(steps, (d, d + T))
            if rows is not None:
                cur = _zeros(cur, (t1 - t0, *shape), dtype, i0.device)
                cur[rows] += i0.to(dtype)
            continue
        s_lo, s_hi = window[src]
        a, b = max(t0 - d, s_lo), min(t1 - d, s_hi)
        if b <= a:
            continue
        y = _apply(e, plans[src], counts[src][a - s_lo : b - s_lo], n_threads)
        y = y.reshape(b - a, *shape)
        if cur is None and (a + d, b + d) == (t0, t1) and y.dtype == dtype:
            cur = y  # the first edge covering the whole chunk: no zero fill, no copy
        else:
            cur = _zeros(cur, (t1 - t0, *shape), dtype, i0.device)
            cur[a + d - t0 : b + d - t0] += y
    return _zeros(cur, (t1 - t0, *shape), dtype, i0.device)


def _track(v: torch.Tensor, st: LayerStats, bounds) -> None:
    """Record ``max |v|`` before saturation; saturate ``v`` in place when it left the bounds."""
    vmin, vmax = (float(a) for a in torch.aminmax(v))
    st.max_abs_state = max(st.max_abs_state, vmax, -vmin)
    lo, hi = bounds
    if lo is not None and (vmax > hi or vmin < lo):
        st.saturated += int(((v > hi) | (v < lo)).sum())
        v.clamp_(lo, hi)


def scan_mt(
    cur: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    theta: float,
    max_count: int,
    reset: str = "subtract",
    *,
    integer: bool = False,
    stats: LayerStats | None = None,
    bounds: tuple = (None, None),
) -> None:
    """The MT neuron (docs/semantics.md section 1) over ``cur`` (steps first).

    Per step ``v += I``; ``k = clamp(floor(v / theta), 0, max_count)`` written to ``out``;
    reset by subtraction (or to zero where ``k > 0``). Updates ``v`` in place. With
    ``stats``, records ``max |v|`` and saturates at ``bounds`` (``(None, None)``: none).
    ``integer``: ``v`` and ``theta`` hold exact integers (``theta`` a power of two).
    """
    if reset not in ("subtract", "zero"):
        raise ValueError(f"reset must be 'subtract' or 'zero', got {reset!r}")
    exact_inverse = math.frexp(theta)[0] == 0.5  # 1/theta exact: multiply, don't divide
    direct = out.dtype == v.dtype
    k = None if direct else torch.empty_like(v)
    for t in range(cur.shape[0]):
        v.add_(cur[t])
        if stats is not None:
            _track(v, stats, bounds)
        kt = out[t] if direct else k
        if exact_inverse:
            torch.mul(v, 1.0 / theta, out=kt)
        else:
            torch.div(v, theta, out=kt)
        kt.floor_().clamp_(0, max_count)  # k = clamp(floor(v / theta_N), 0, 2^N - 1)
        if reset == "zero":
            v.masked_fill_(kt > 0, 0)
        elif integer:
            v.sub_(kt, alpha=theta)  # exact integers
        else:
            v.sub_(kt * theta)
        if not direct:
            out[t].copy_(k)


def _scan_readout(cur, acc, st: LayerStats | None, bounds) -> None:
    """The readout accumulator over ``cur``, saturating at ``bounds``."""
    if st is None:
        acc += cur.sum(0)  # no statistic, no bound: one sum
        return
    for t in range(cur.shape[0]):
        acc.add_(cur[t])
        _track(acc, st, bounds)


def _on(p: EdgePlan, dev: torch.device) -> EdgePlan:
    """``p`` with its weight on ``dev`` (the same plan when it is there already)."""
    if p.weight.device == dev:
        return p
    return EdgePlan(p.weight.to(dev), p.conv_dtype, p.scale, p.floor, p.bound)


def _theta(node: NeuronNode, integer: bool) -> float:
    if not integer:
        return node.theta_unit
    if int(node.theta_unit_int).bit_count() != 1:
        raise ValueError("theta_unit_int must be a power of two")
    return float(node.theta_unit_int)


def run_graph(
    graph: SpikingGraph,
    i0: torch.Tensor,
    plans: dict[tuple[str, str], EdgePlan],
    biases: dict[str, torch.Tensor],
    timesteps: int,
    num: Numerics,
    *,
    record: bool = False,
    rates: bool = False,
    all_steps: bool = False,
    chunk_elems: int,
    i0_clipped: int = 0,
    device: torch.device | str | None = None,
) -> Run:
    """Walk ``graph`` (delays as they are) with the static current ``i0`` ``(B, C, H, W)``.

    ``plans[src, dst]``: every synaptic edge's :class:`EdgePlan`; ``biases[n]``: each
    neuron's and the readout's per-channel bias, broadcastable to ``(steps, B, C, H, W)``
    (zero for the static target when ``i0`` holds it). ``record``: keep every neuron's
    counts at every step; ``rates``: their mean over the node's window; ``all_steps``:
    run every node on every step (implied by both), else only the steps that can reach
    the readout window (same output, less work). ``i0_clipped``: input-current elements
    the caller clipped (counted as saturations of the static target). ``device``: where
    the walk runs (default: ``i0``'s device); ``plans`` and ``biases`` are moved there,
    and the outputs live there.
    """
    steps = int(timesteps)
    first, _ = static_edge(graph)
    dev = i0.device if device is None else torch.device(device)
    i0 = i0.to(dev)
    plans = {k: _on(p, dev) for k, p in plans.items()}
    biases = {n: b.to(dev) for n, b in biases.items()}
    if i0.ndim == 3:
        i0 = i0[None]
    batch = i0.shape[0]
    shapes = node_shapes(graph, first, tuple(i0.shape[1:]))
    i0_max = absmax(i0) if num.state_range is not None else 0.0
    lo_s, hi_s = num.state_range if num.state_range is not None else (None, None)
    span = None if num.state_range is None else hi_s - lo_s

    start = start_steps(graph)
    total = start[graph.readout_name] + steps
    window = windows(graph, start, total, record or rates or all_steps)
    counts: dict[str, torch.Tensor] = {}
    result = Run(torch.empty(0), steps, total, start, {})
    users = {n: graph.out_degree(n) for n in graph.nodes()}
    conv_threads = torch.get_num_threads()
    backend = exact_conv_backend() if num.exact else contextlib.nullcontext()
    with backend, torch.no_grad(), threads(ELEMENTWISE_THREADS if num.exact else 0):
        for name in graph.order():
            node = graph.node(name)
            if isinstance(node, InputNode):
                continue
            ins = graph.in_edges(name)
            bias = biases[name]
            bound = absmax(bias) + sum(
                i0_max if getattr(e, "static", False) else plans[s, name].bound for s, e in ins
            )
            cur_dtype = num.cur_dtype
            if cur_dtype is None:
                cur_dtype = torch.float32 if bound < F32_EXACT else torch.float64
            lo, hi = window[name]
            st = result.stats[name] = LayerStats()
            if name == first:
                st.saturated = i0_clipped
            shape = (batch, *shapes[name])
            chunk = max(1, chunk_elems // max(math.prod(shape), 1))
            state = torch.zeros(shape, dtype=num.state_dtype, device=dev)
            is_neuron = isinstance(node, NeuronNode)
            out = (
                torch.empty((hi - lo, *shape), dtype=num.count_dtype, device=dev)
                if is_neuron
                else None
            )
            node_plans = {s: plans[s, name] for s, e in ins if not getattr(e, "static", False)}
            for t0 in range(lo, hi, chunk):
                t1 = min(hi, t0 + chunk)
                cur = _current(
                    ins, node_plans, counts, window, i0, (t0, t1), shape, cur_dtype,
                    conv_threads, steps,
                )  # fmt: skip
                rows = _gate((t0, t1), (start[name], start[name] + steps))
                if rows is not None and bias.any():
                    cur[rows] += bias.to(cur_dtype)  # only in the node's window
                if num.state_range is not None or num.track_state:
                    st.max_abs_current = max(st.max_abs_current, absmax(cur))
                if span is not None and bound > span:
                    cur.clamp_(-span, span)
                cur = cur.to(num.state_dtype)
                bounds = (lo_s, hi_s)
                track = num.track_state
                if span is not None and not track:
                    # |v| never exceeds |v0| + t max|I|: no step of the chunk can saturate.
                    reach = absmax(state) + (t1 - t0) * st.max_abs_current
                    track = reach > min(-lo_s, hi_s)
                stats = st if track else None
                if is_neuron:
                    scan_mt(
                        cur, state, out[t0 - lo : t1 - lo], _theta(node, span is not None),
                        node.max_count, node.reset, integer=span is not None, stats=stats,
                        bounds=bounds,
                    )  # fmt: skip
                else:
                    _scan_readout(cur, state, stats, bounds)
            if is_neuron:
                counts[name] = out
                if rates:
                    s0 = start[name] - lo
                    w = out[s0 : s0 + steps]
                    result.rates[name] = w.sum(0, dtype=num.state_dtype) / steps
            else:
                result.acc = state
            for src, _ in ins:
                users[src] -= 1
                if users[src] == 0 and src in counts:
                    k = counts.pop(src)
                    if record:
                        result.spikes[src] = _full_history(k, window[src], total, graph, src)
    return result


def _full_history(k, win, total: int, graph: SpikingGraph, name: str) -> torch.Tensor:
    """Counts of the steps ``win = [lo, hi)`` placed in a zero history of ``total`` steps."""
    dtype = torch.uint8 if graph.node(name).max_count <= 255 else torch.int32
    full = torch.zeros((total, *k.shape[1:]), dtype=dtype, device=k.device)
    full[win[0] : win[1]] = k
    return full
