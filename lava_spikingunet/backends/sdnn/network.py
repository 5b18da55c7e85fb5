"""Build and run the ``sdnn`` form from stock Lava process classes only.

Every process of the network is a stock class (docs/semantics.md section 6):

| graph part | Lava process |
|---|---|
| neuron node | ``lava.proc.sdn.process.SigmaDelta`` (RELU, ``state_exp``, ``vth``, bias) |
| readout node | ``SigmaDelta`` (``act_mode=UNIT``, ``state_exp=0``, ``vth=0``) |
| conv edge | ``lava.proc.conv.process.Conv`` (``weight_exp`` = the edge exponent, graded input) |
| avg-pool edge | ``Conv`` with ``groups = C`` (every tap the scalar mantissa), stride = kernel |
| convT edge | ``lava.proc.sparse.process.Sparse`` (flattened WHC ports) |
| any edge with delay ``d > 1`` | ``lava.proc.sparse.process.DelaySparse`` (``delays = d - 1``) |
| host input | ``lava.proc.io.source.RingBuffer`` (the input current's change per step) |
| recording | ``lava.proc.io.sink.RingBuffer`` on every neuron and the readout |

Lava processes use the WHC (x, y, channel) layout; the graph is CHW. A decoder concat is
two synapses into one neuron's ``a_in`` (Lava sums them). Run under
``Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=EXCEPTION_MAP)``: the
project's CPU model for ``Conv`` (:mod:`.models`); every other model is Lava's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

import lava_spikingunet  # noqa: F401  (the Lava compat hook, before lava)
from lava_spikingunet.graph.dispatch import EdgeTable
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)
from lava_spikingunet.reference.sigma_delta import input_schedule, rest_steps_of, sdnn_params

#: Graded payload of every message (Lava's graded ports are int32 with precision 24).
MESSAGE_BITS = 24

__all__ = [
    "MESSAGE_BITS",
    "SDNNLavaNet",
    "SDNNLavaResult",
    "build_sdnn",
    "conv_matrix",
    "conv_transpose_matrix",
    "pool_matrix",
    "run_sdnn",
    "stock_process_classes",
]


def whc(shape_chw) -> tuple[int, int, int]:
    c, h, w = shape_chw
    return (int(w), int(h), int(c))


def conv_transpose_matrix(
    weight: np.ndarray, in_chw, stride: int = 2, padding: int = 1, output_padding: int = 1
) -> tuple[csr_matrix, tuple[int, int, int]]:
    """A transposed conv as a sparse ``(n_out, n_in)`` matrix on WHC-flattened vectors.

    ``weight``: ``(C_in, C_out, k, k)`` integers (PyTorch layout):
    ``out[co, iy*s - p + ky, ix*s - p + kx] += w[ci, co, ky, kx] * in[ci, iy, ix]``.
    Returns the matrix and the output shape ``(C, H, W)``. Zero weights are left out.
    """
    w = np.asarray(weight, dtype=np.int64)
    c_in, c_out, kh, kw = w.shape
    _, h, wd = in_chw
    ho = (h - 1) * stride - 2 * padding + kh + output_padding
    wo = (wd - 1) * stride - 2 * padding + kw + output_padding
    ci, co, ky, kx, iy, ix = np.meshgrid(
        np.arange(c_in), np.arange(c_out), np.arange(kh), np.arange(kw),
        np.arange(h), np.arange(wd), indexing="ij",
    )  # fmt: skip
    oy = iy * stride - padding + ky
    ox = ix * stride - padding + kx
    val = w[ci, co, ky, kx]
    ok = (oy >= 0) & (oy < ho) & (ox >= 0) & (ox < wo) & (val != 0)
    return _whc_matrix(val, ok, (co, oy, ox), (ci, iy, ix), (c_out, ho, wo), (c_in, h, wd))


def conv_matrix(
    weight: np.ndarray, in_chw, stride: int = 1, padding: int = 0
) -> tuple[csr_matrix, tuple[int, int, int]]:
    """A conv (PyTorch cross-correlation, weight ``(C_out, C_in, k, k)``) as a sparse
    ``(n_out, n_in)`` matrix on WHC-flattened vectors; returns it and the output (C, H, W)."""
    w = np.asarray(weight, dtype=np.int64)
    c_out, c_in, kh, kw = w.shape
    _, h, wd = in_chw
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    co, ci, ky, kx, oy, ox = np.meshgrid(
        np.arange(c_out), np.arange(c_in), np.arange(kh), np.arange(kw),
        np.arange(ho), np.arange(wo), indexing="ij",
    )  # fmt: skip
    iy = oy * stride - padding + ky
    ix = ox * stride - padding + kx
    val = w[co, ci, ky, kx]
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd) & (val != 0)
    return _whc_matrix(val, ok, (co, oy, ox), (ci, iy, ix), (c_out, ho, wo), (c_in, h, wd))


def _whc_matrix(val, ok, out_idx, in_idx, out_chw, in_chw):
    """The sparse ``(n_out, n_in)`` matrix of taps ``val[ok]`` on WHC-flattened vectors:
    output ``(c, y, x)`` is row ``(x H + y) C + c``, input likewise a column."""
    (co, oy, ox), (ci, iy, ix) = out_idx, in_idx
    (c_out, ho, wo), (c_in, h, wd) = out_chw, in_chw
    rows = (ox * ho + oy) * c_out + co
    cols = (ix * h + iy) * c_in + ci
    mat = csr_matrix(
        (val[ok], (rows[ok], cols[ok])), shape=(c_out * ho * wo, c_in * h * wd), dtype=np.int64
    )
    mat.sum_duplicates()
    return mat, (c_out, ho, wo)


def pool_matrix(weight: int, in_chw, kernel: int = 2) -> tuple[csr_matrix, tuple[int, int, int]]:
    """Average pooling (one scalar mantissa) as a sparse WHC matrix (a grouped conv)."""
    c = in_chw[0]
    dense = np.zeros((c, c, kernel, kernel), np.int64)
    dense[np.arange(c), np.arange(c)] = int(weight)
    return conv_matrix(dense, in_chw, stride=kernel, padding=0)


def _sparse_weights(mat: csr_matrix, exp: int) -> tuple[csr_matrix, int]:
    """Weights and exponent for Lava's Sparse: in mixed-sign mode Lava keeps 8 bits
    *including* the sign at twice the step (it truncates the lowest bit), so a mixed
    matrix is passed doubled with ``exp - 1``; Lava's clip/truncate is then the identity."""
    from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights

    mode = determine_sign_mode(mat)
    out, e = (mat * 2, exp - 1) if mode == SignMode.MIXED else (mat.copy(), exp)
    out = out.astype(np.int32)
    check = truncate_weights(clip_weights(out, mode, num_bits=8), mode, 8)
    if (check != out).nnz:
        raise ValueError("convT weights do not fit Lava's Sparse weight format")
    return out, e


@dataclass
class SDNNLavaNet:
    """Handles of a built network. ``sinks[n]``: the sink of neuron ``n`` (and the readout)."""

    graph: SpikingGraph
    steps: int
    source: object
    neurons: dict[str, object]
    synapses: dict[tuple[str, str], object]
    sinks: dict[str, object] = field(default_factory=dict)
    rest_steps: int = 0

    def processes(self) -> list[object]:
        return [self.source, *self.neurons.values(), *self.synapses.values(), *self.sinks.values()]


#: Per edge type: its weight matrix (``DelaySparse`` for an edge with an extra delay).
_MATRICES = EdgeTable(
    "sdnn matrices",
    {
        ConvEdge: lambda e, shape: conv_matrix(e.mant, shape, e.stride, e.padding),
        AvgPoolEdge: lambda e, shape: pool_matrix(int(e.mant), shape, e.kernel),
        ConvTransposeEdge: lambda e, shape: conv_transpose_matrix(
            e.mant, shape, e.stride, e.padding, e.output_padding
        ),
    },
)


def _conv_synapse(e: ConvEdge, shape, name: str):
    from lava.proc.conv.process import Conv

    from lava_spikingunet.backends.sdnn.models import torch_to_lava_weight

    syn = Conv(
        weight=torch_to_lava_weight(e.mant).astype(np.int32),
        weight_exp=int(e.exp),
        input_shape=whc(shape),
        padding=int(e.padding),
        stride=int(e.stride),
        num_message_bits=MESSAGE_BITS,
        name=name,
    )
    return syn, False


def _pool_synapse(e: AvgPoolEdge, shape, name: str):
    from lava.proc.conv.process import Conv

    c, k = shape[0], int(e.kernel)
    syn = Conv(
        weight=np.full((c, k, k, 1), int(e.mant), np.int32),
        weight_exp=int(e.exp),
        input_shape=whc(shape),
        stride=k,
        groups=c,
        num_message_bits=MESSAGE_BITS,
        name=name,
    )
    return syn, False


def _convt_synapse(e: ConvTransposeEdge, shape, name: str):
    from lava.proc.sparse.process import Sparse

    mat, _ = _MATRICES[e](e, shape)
    w, ex = _sparse_weights(mat, int(e.exp))
    return Sparse(weights=w, weight_exp=ex, num_message_bits=MESSAGE_BITS, name=name), True


#: Per edge type: the stock Lava synapse of an edge without extra delay, and whether it
#: reads flat vectors (a matrix) or (W, H, C) frames (a Conv).
_SYNAPSES = EdgeTable(
    "sdnn synapses",
    {ConvEdge: _conv_synapse, AvgPoolEdge: _pool_synapse, ConvTransposeEdge: _convt_synapse},
)


def build_sdnn(
    graph: SpikingGraph,
    current: np.ndarray,
    hold: int | None = None,
    *,
    vth: int | dict[str, int] | None = None,
    record: bool = True,
    rest: bool = False,
    cum_error: bool = False,
) -> SDNNLavaNet:
    """The Lava network of ``graph`` fed with ``current`` (``(C, H, W)``, ``(1, C, H, W)``
    or ``(F, 1, C, H, W)`` int: F frames of one stream, each held ``hold`` steps).
    ``rest``: the source sends nothing for the settle steps first, so the frames start
    from the resting state (as :func:`~lava_spikingunet.reference.sigma_delta.simulate_sdnn`
    with ``rest``). ``cum_error``: the neurons' ``SigmaDelta`` ``cum_error`` mode (the
    readout keeps it off)."""
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.sdn.process import ActivationMode, SigmaDelta
    from lava.proc.sparse.process import DelaySparse

    cur = np.asarray(current)
    while cur.ndim < 5:
        cur = cur[None]
    if cur.shape[1] != 1:
        raise ValueError("the Lava build runs one stream (batch 1)")
    params = sdnn_params(graph, vth)
    hold = int(hold if hold is not None else graph.meta.extra["sdnn"]["steps"])
    rest_steps = rest_steps_of(graph, rest)
    steps = rest_steps + cur.shape[0] * hold
    sched = input_schedule(cur.astype(np.int64), hold, rest_steps)
    first = [d for _, d, e in graph.edges() if getattr(e, "static", False)]
    if len(first) != 1:
        raise ValueError("expected one static input edge")
    in_shape = graph.node(first[0]).shape
    data = np.zeros((*whc(in_shape), steps), np.int32)
    for t, d in enumerate(sched):
        if d is not None:
            data[..., t] = d[0].transpose(2, 1, 0)
    source = Source(data=data)

    neurons: dict[str, object] = {}
    for n in graph.order():
        op = graph.node(n)
        if not isinstance(op, NeuronNode | ReadoutNode):
            continue
        p = params[n]
        shape = whc(op.shape)
        bias = np.broadcast_to(p.bias.astype(np.int64)[None, None, :], shape)
        # SigmaDelta scales its bias by 2^state_exp: the state-unit bias is passed divided
        # (exact in float64), so the Var holds it unchanged.
        bias_arg = bias / float(1 << p.state_exp) if p.state_exp else bias.astype(np.int32)
        neurons[n] = SigmaDelta(
            shape=shape,
            vth=int(p.vth),
            bias=bias_arg,
            act_mode=ActivationMode.RELU if p.relu else ActivationMode.UNIT,
            state_exp=int(p.state_exp),
            spike_exp=0,
            cum_error=bool(cum_error and p.relu),
            name=n,
        )

    synapses: dict[tuple[str, str], object] = {}
    for src, dst, e in graph.edges():
        tgt = neurons[dst]
        if getattr(e, "static", False):
            source.s_out.connect(tgt.a_in)
            continue
        s_shape = graph.node(src).shape
        pre = neurons[src]
        if e.delay < 1:
            raise ValueError(f"{src}->{dst}: synaptic delays must be >= 1")
        if e.delay > 1:  # extra delay: DelaySparse holds it (delays = d - 1, netx's meaning)
            mat, _ = _MATRICES[e](e, s_shape)
            w, ex = _sparse_weights(mat, int(e.exp))
            d = csr_matrix((np.full(w.nnz, e.delay - 1), w.indices, w.indptr), shape=w.shape)
            syn = DelaySparse(
                weights=w, delays=d, max_delay=e.delay - 1, weight_exp=ex,
                num_message_bits=MESSAGE_BITS, name=f"{src}->{dst}",
            )  # fmt: skip
            pre.s_out.flatten().connect(syn.s_in)
            syn.a_out.reshape(whc(graph.node(dst).shape)).connect(tgt.a_in)
        else:
            syn, flat = _SYNAPSES[e](e, s_shape, f"{src}->{dst}")
            if flat:  # a matrix synapse reads and writes flat vectors
                pre.s_out.flatten().connect(syn.s_in)
                syn.a_out.reshape(whc(graph.node(dst).shape)).connect(tgt.a_in)
            else:
                pre.s_out.connect(syn.s_in)
                syn.a_out.connect(tgt.a_in)
        synapses[(src, dst)] = syn

    sinks: dict[str, object] = {}
    for n, proc in neurons.items():
        if record or n == graph.readout_name:
            sinks[n] = Sink(shape=whc(graph.node(n).shape), buffer=steps)
            proc.s_out.connect(sinks[n].a_in)
    return SDNNLavaNet(graph, steps, source, neurons, synapses, sinks, rest_steps)


def run_config():
    """``Loihi2SimCfg(select_tag="fixed_pt")`` with the project's Conv model."""
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_spikingunet.backends.sdnn.models import EXCEPTION_MAP

    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=dict(EXCEPTION_MAP))


@dataclass
class SDNNLavaResult:
    """``messages[n]``: int ``(steps, C, H, W)`` sent by neuron ``n``; ``readout_steps``:
    the readout's ``act`` per step (cumulative sum of its sent changes); ``readout``: at
    the last step of every frame ``(F, C, H, W)``. Both per step include the rest."""

    steps: int
    hold: int
    readout: np.ndarray
    readout_steps: np.ndarray
    messages: dict[str, np.ndarray]


def run_sdnn(
    graph: SpikingGraph,
    current: np.ndarray,
    hold: int | None = None,
    *,
    vth: int | dict[str, int] | None = None,
    record: bool = True,
    timeout: float = 60.0,
    run_cfg: Any = None,
    rest: bool = False,
    cum_error: bool = False,
) -> SDNNLavaResult:
    """Build, run ``F * hold`` steps (after the rest, with ``rest``) and read every sink
    once; always stops Lava.
    ``run_cfg``: default :func:`run_config` (the CPU simulator); ``Loihi2HwCfg`` runs the
    stock processes on the chip (lava-loihi)."""
    from lava.magma.core.run_conditions import RunSteps

    from lava_spikingunet.backends.lava.runner import lava_session

    net = build_sdnn(graph, current, hold, vth=vth, record=record, rest=rest, cum_error=cum_error)
    hold = int(hold if hold is not None else graph.meta.extra["sdnn"]["steps"])
    ro = net.sinks[graph.readout_name]
    with lava_session(ro, timeout=timeout):
        ro.run(condition=RunSteps(num_steps=net.steps), run_cfg=run_cfg or run_config())
        data = {n: s.data.get() for n, s in net.sinks.items()}
    chw = {n: np.asarray(d).transpose(3, 2, 1, 0).astype(np.int64) for n, d in data.items()}
    ro_steps = np.cumsum(chw.pop(graph.readout_name), axis=0)
    return SDNNLavaResult(
        steps=net.steps,
        hold=hold,
        readout=ro_steps[net.rest_steps + hold - 1 :: hold],
        readout_steps=ro_steps,
        messages=chw,
    )


def stock_process_classes(root) -> list[type]:
    """The classes of every process connected to ``root`` (Lava's own graph walk)."""
    from lava.magma.compiler.compiler_graphs import find_processes

    return sorted({type(p) for p in find_processes(root)}, key=lambda c: c.__qualname__)
