"""The integer reference: a fast, exact PyTorch simulation of a quantized Spiking-UNet.

It implements docs/semantics.md bit for bit and is what the Lava process models are
checked against. It runs the one graph walk (:func:`lava_spikingunet.snn.engine.run_graph`)
with exact integer arithmetic: layer by layer in topological order over all steps at
once, each edge's operator applied to the ``(steps * B, C, H, W)`` spike-count history
of its source in one call (in time chunks when that would not fit ``chunk_elems``),
shifted by the edge's delay and its weight exponent, and summed; only the membrane is
scanned over time. Timing (docs/semantics.md section 3):
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

Device: ``device`` (default the CPU) runs it on any torch device, with the same dtypes
and the same integers; on CUDA the convolutions bypass cuDNN (im2col + GEMM, TF32 off:
:func:`~lava_spikingunet.snn.engine.exact_conv_backend`). The results stay there.

``quantized=False`` runs the same code path in float (float weights and biases,
``theta_unit`` thresholds, no saturation, float64 state): the float evaluation used for
calibration and for tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lava_spikingunet.fixed_point.bounds import edge_abs_rowsum, source_max
from lava_spikingunet.fixed_point.state import graph_format
from lava_spikingunet.graph.ir import NeuronNode, ReadoutNode, SpikingGraph
from lava_spikingunet.reference.input_current import (
    input_current,
    input_current_float,
    static_edges,
)
from lava_spikingunet.snn.engine import (
    ELEMENTWISE_THREADS,
    F32_EXACT,
    F64_EXACT,
    EdgePlan,
    LayerStats,
    Numerics,
    Run,
    exact_conv_backend,
    run_graph,
    scan_mt,
)

__all__ = [
    "CHUNK_ELEMS",
    "ELEMENTWISE_THREADS",
    "LayerStats",
    "ReferenceResult",
    "exact_conv_backend",
    "mt_scan",
    "simulate",
]

#: Default largest number of elements a time chunk of one layer's current may hold.
CHUNK_ELEMS = 1 << 25
#: Spike-count histories are kept in float32 (conv-ready; counts are small integers).
COUNT_DTYPE = torch.float32


@dataclass
class ReferenceResult(Run):
    """Output of :func:`simulate`: the engine's :class:`~lava_spikingunet.snn.engine.Run`
    plus ``y = acc / (T * scale)``.

    ``acc``: readout accumulator ``(B, C, H, W)`` (int64; float64 in float mode);
    ``spikes[n]``: uint8 ``(total_steps, B, C, H, W)`` counts of every neuron node when
    recorded.
    """

    y: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    quantized: bool = True


def edge_plan(
    graph: SpikingGraph, src: str, e: Any, quantized: bool, float_dtype, f64_only: bool
) -> EdgePlan:
    """Integer mode: the mantissas in the narrowest float dtype that is exact for every
    partial sum, the exponent as a scale (and floor); float mode: the float weight."""
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
        return EdgePlan(w, dtype, scale, int(e.exp) < 0, bound * scale)
    w = torch.as_tensor(np.asarray(e.weight, dtype=np.float64), dtype=float_dtype)
    bound = edge_abs_rowsum(e, e.weight) * source_max(graph, src)
    return EdgePlan(w, float_dtype, 1.0, False, bound)


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
    device: torch.device | str = "cpu",
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
    impossible; the outputs are the same. ``device``: the torch device it runs on (the
    result's tensors stay there); the integers are the same on every device.
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
        scan_dtype = torch.float32 if hi_s - lo_s < F32_EXACT else torch.float64
    else:
        scan_dtype = torch.float64

    (first, _), *more = static_edges(graph)
    if more:
        raise ValueError("the reference supports one static input edge")
    if current is None:
        if x is None:
            raise ValueError("pass frames x or the input current")
        current = input_current(graph, x, first) if quantized else input_current_float(graph, x)
    i0 = torch.as_tensor(np.asarray(current), dtype=torch.int64 if quantized else torch.float64)
    i0 = i0.to(device)
    if i0.ndim == 3:
        i0 = i0[None]
    clipped = int(((i0 <= lo_s) | (i0 >= hi_s)).sum()) if quantized else 0
    f64 = conv_precision == "float64"
    plans = {
        (s, d): edge_plan(graph, s, e, quantized, float_dtype, f64)
        for s, d, e in graph.edges()
        if not getattr(e, "static", False)
    }
    biases = {
        n: _bias(n, graph.node(n), first, quantized)
        for n in graph.nodes()
        if isinstance(graph.node(n), NeuronNode | ReadoutNode)
    }
    num = Numerics(
        state_range=(lo_s, hi_s) if quantized else None,
        state_dtype=scan_dtype,
        cur_dtype=None if quantized else torch.float64,
        count_dtype=COUNT_DTYPE,
        exact=True,
        track_state=track_state or not quantized,
    )
    run = run_graph(
        graph, i0, plans, biases, steps, num, record=record_spikes, all_steps=all_steps,
        chunk_elems=chunk_elems, i0_clipped=clipped, device=device,
    )  # fmt: skip
    acc = run.acc
    ro = graph.node(graph.readout_name)
    assert isinstance(ro, ReadoutNode)
    if quantized:
        acc = acc.to(torch.int64)
        y = acc.to(torch.float64) / (steps * float(ro.scale))
    else:
        y = acc / steps
    run.acc = acc
    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    return ReferenceResult(**fields, y=y, quantized=quantized)


def _bias(name: str, node: Any, first: str, quantized: bool) -> torch.Tensor:
    """Per-channel bias as a broadcastable float64 tensor (0 for the static target)."""
    if name == first:
        b = np.zeros(node.shape[0])  # the bias is inside the input current
    elif quantized:
        b = np.asarray(node.bias_int, dtype=np.float64)
    else:
        b = node.bias
    return torch.as_tensor(b, dtype=torch.float64).reshape(1, 1, -1, 1, 1)


def mt_scan(
    current: torch.Tensor,
    theta_unit_int: int,
    n_thresholds: int,
    state_range: tuple[int, int],
    reset: str = "subtract",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The integer MT neuron on a ``(T, ...)`` int64 current: ``(counts uint8, final v)``."""
    if int(theta_unit_int).bit_count() != 1:
        raise ValueError("theta_unit_int must be a power of two")
    lo, hi = state_range
    span = hi - lo
    cur = torch.as_tensor(current, dtype=torch.int64).clamp(-span, span).double()
    v = torch.zeros(cur.shape[1:], dtype=torch.float64)
    out = torch.zeros(cur.shape, dtype=torch.uint8)
    max_count = 2 ** int(n_thresholds) - 1
    scan_mt(
        cur, v, out, float(theta_unit_int), max_count, reset, integer=True,
        stats=LayerStats(), bounds=(lo, hi),
    )  # fmt: skip
    return out, v.to(torch.int64)
