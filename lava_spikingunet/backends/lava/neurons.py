"""Multi-threshold (MT) neuron processes: graded, binary cascade and virtual-step forms.

All three implement docs/semantics.md section 1 with ``>=`` firing and saturating state, per
0-based frame step ``t`` (``_common.frame_step``):

    v <- clip(v + I(t) + [start <= t < start + steps] * bias, -2^(v_bits-1), 2^(v_bits-1) - 1)
    k <- clip(floor(v / theta_unit_int), 0, 2^N - 1);  v <- v - k * theta_unit_int

- :class:`MTNeuron` (one process) sends ``k`` as a graded spike on ``s_out`` (uint8).
- :class:`MTCascadeNeuron` (hierarchical) hosts one :class:`MTCascadeLayer` leaf process
  that integrates and runs the N compare-and-subtract stages of the whole layer; stage
  ``i`` (0-based) fires ``s_i = [r >= theta_unit << (N-1-i)]`` on ``s_out_i`` and passes
  ``r - s_i * theta_i`` on. The stages' bits are the binary digits of ``k`` (most
  significant first), in the same step as the fused form.
- :class:`MTVirtualNeuron` (one process, SpikeYOLO's spike-driven form) sends ``k`` as a
  thermometer code on ``s_out_virtual``: ``D = 2^N - 1`` binary virtual sub-steps of the
  Lava step, where sub-step ``d`` carries ``s_d = [k > d]`` (the neuron fires on the first
  ``k`` of them), bit-packed 8 sub-steps a byte (``(ceil(D/8), C, H, W)`` uint8,
  ``np.packbits`` order). Downstream synapses only accumulate.

One process per layer, not per stage: the stages run in sequence inside the layer's
process (the residual never leaves it), so a cascade layer costs one OS process like a
fused one, and only its N binary spike maps travel on channels. The hierarchical
:class:`MTCascadeNeuron` keeps the per-stage spike ports ``s_out_i`` as its interface.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_spikingunet.backends.lava._common import (
    MAX_STAGES,
    CheckedProcess,
    as_shape,
    check_common,
    frame_step,
    pack_thermometer,
    packed_substeps,
    per_channel,
    probe_params,
    record_shape,
    recv_into,
    sat_bounds,
    write_probe,
)

__all__ = [
    "MTCascadeLayer",
    "MTCascadeNeuron",
    "MTNeuron",
    "MTVirtualNeuron",
    "stage_probe_path",
    "virtual_substeps",
]


def virtual_substeps(n_thresholds: int) -> int:
    """Virtual sub-steps per Lava step of the virtual form: ``D = 2^N - 1``."""
    return (1 << int(n_thresholds)) - 1


def _check_neuron(n_thresholds: int, theta_unit_int: int, start: int, v_bits: int) -> None:
    if not 1 <= int(n_thresholds) <= MAX_STAGES:
        raise ValueError(f"n_thresholds must be in [1, {MAX_STAGES}], got {n_thresholds}")
    if int(theta_unit_int) < 1:
        raise ValueError(f"theta_unit_int must be >= 1, got {theta_unit_int}")
    sat_bounds(v_bits)


def _check_window(start: int, steps: int) -> None:
    if int(start) < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0 (0: no upper limit), got {steps}")


def _bias_on(t: int, start: int, steps: int) -> bool:
    """Whether frame step ``t`` is in the bias window ``[start, start + steps)``."""
    return start <= t and (steps == 0 or t < start + steps)


# ------------------------------------------------------------------------------ processes


class _MTLayer(CheckedProcess):
    """Parameters, ``a_in``, ``v`` and ``bias`` shared by both MT neuron forms."""

    def __init__(
        self,
        *,
        shape: tuple[int, int, int],
        theta_unit_int: int,
        n_thresholds: int = 4,
        bias: int | np.ndarray = 0,
        start: int = 0,
        steps: int = 0,
        v_bits: int = 24,
        frame_len: int = 0,
        record_steps: int = 0,
        probe_path: str | None = None,
        probe_len: int = 0,
        name: str | None = None,
    ) -> None:
        shape = as_shape(shape)
        _check_neuron(n_thresholds, theta_unit_int, start, v_bits)
        _check_window(start, steps)
        check_common(None, frame_len)
        super().__init__(
            shape=shape,
            n_thresholds=int(n_thresholds),
            theta_unit_int=int(theta_unit_int),
            start=int(start),
            steps=int(steps),
            v_bits=int(v_bits),
            frame_len=int(frame_len),
            record_steps=int(record_steps),
            name=name,
            **probe_params(probe_path, probe_len, "uint8"),
        )
        self.shape = shape
        self.a_in = InPort(shape=shape)
        self.v = Var(shape=shape, init=0)
        self.bias = Var(shape=shape, init=per_channel(bias, shape, "bias"))


class MTNeuron(_MTLayer):
    """Fused MT neuron layer emitting graded spikes ``k`` in ``0 .. 2^N - 1``.

    The bias is added at frame steps ``start <= t < start + steps`` (the node's window;
    ``steps == 0``: every ``t >= start``).
    Ports: ``a_in`` (InPort, ``shape``; Lava sums all connected currents), ``s_out``
    (OutPort, ``shape``, uint8 graded payload ``k``: N <= 8).
    Vars: ``v`` (membrane after reset), ``bias`` (full ``shape``; a scalar or per-channel
    ``(C,)`` argument is broadcast), ``spikes`` (``(record_steps, *shape)``: ``k`` at frame
    step ``t < record_steps``; a ``(1,)`` dummy when ``record_steps == 0``).
    """

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.s_out = OutPort(shape=self.shape)
        self.spikes = Var(shape=record_shape(self.proc_params["record_steps"], self.shape), init=0)


class MTVirtualNeuron(_MTLayer):
    """MT neuron layer in SpikeYOLO's virtual-step form: binary spikes, thermometer-coded.

    Same parameters and Vars as :class:`MTNeuron` (``spikes`` records the count ``k``).
    Port ``s_out_virtual`` (OutPort, ``(ceil(D/8), *shape)`` uint8, ``D = 2^N - 1``): at
    every Lava step the binary sub-steps ``s[d] = [k > d]``, ``d = 0 .. D-1``, bit-packed
    (``np.packbits(s, axis=0)``), so a neuron with count ``k`` fires on the first ``k``
    virtual sub-steps. Connect it with :func:`connect_source` to a synapse built with
    ``virtual_substeps = D``.
    """

    def __init__(self, **params) -> None:
        super().__init__(**params)
        d = virtual_substeps(self.proc_params["n_thresholds"])
        self.s_out_virtual = OutPort(shape=(packed_substeps(d), *self.shape))
        self.spikes = Var(shape=record_shape(self.proc_params["record_steps"], self.shape), init=0)


class MTCascadeLayer(_MTLayer):
    """The leaf process of :class:`MTCascadeNeuron`: a whole layer's integrator and its N
    compare-and-subtract stages in one process.

    Same parameters as :class:`MTNeuron`. Every step: ``r = clip(v + I + [window] bias)``,
    then for stage ``i = 0 .. N-1`` (threshold ``theta_i = theta_unit_int << (N-1-i)``)
    ``s_i = [r >= theta_i]`` on ``s_out_i`` (bool) and ``r <- r - s_i * theta_i``; the
    residual left after the last stage is ``v``. Ports: ``a_in``, ``s_out_0 ..
    s_out_{MAX_STAGES-1}`` (only the first N are sent: Lava needs the model's ports
    declared statically, unconnected ones cost nothing). Vars: ``v``, ``bias``, ``spikes_0
    .. spikes_{MAX_STAGES-1}`` (stage histories; a ``(1,)`` dummy past N or when
    ``record_steps == 0``). With a probe, stage ``i`` writes ``stage_probe_path(probe_path,
    i)``.
    """

    def __init__(self, **params) -> None:
        super().__init__(**params)
        n, rec = self.proc_params["n_thresholds"], self.proc_params["record_steps"]
        for i in range(MAX_STAGES):
            setattr(self, f"s_out_{i}", OutPort(shape=self.shape))
            shape = record_shape(rec, self.shape) if i < n else (1,)
            setattr(self, f"spikes_{i}", Var(shape=shape, init=0))


class MTCascadeNeuron(_MTLayer):
    """MT neuron layer as a binary cascade (hierarchical: one :class:`MTCascadeLayer`
    leaf process runs the layer's integrator and N stages).

    Same parameters as :class:`MTNeuron`. Ports: ``a_in``; ``s_out_0 .. s_out_{N-1}``
    (bool spikes of stage ``i``, weight ``2^(N-1-i)`` downstream). Vars: ``v`` (the
    residual after the last stage = membrane after reset), ``bias``, ``spikes_0 ..
    spikes_{N-1}`` (per-stage histories when ``record_steps > 0``); aliases of the leaf's.
    """

    def __init__(self, **params) -> None:
        super().__init__(**params)
        rec = record_shape(self.proc_params["record_steps"], self.shape)
        for i in range(self.proc_params["n_thresholds"]):
            setattr(self, f"s_out_{i}", OutPort(shape=self.shape))
            setattr(self, f"spikes_{i}", Var(shape=rec, init=0))

    def stage_out(self, i: int) -> OutPort:
        """The binary OutPort ``s_out_i`` of stage ``i`` (0-based, most significant first)."""
        return getattr(self, f"s_out_{i}")


def stage_probe_path(probe_path: str | None, i: int) -> str | None:
    """Probe file of stage ``i`` of a cascade neuron whose probe is ``probe_path``."""
    return None if probe_path is None else f"{probe_path}.stage{i}"


# --------------------------------------------------------------------------------- models


class _MTNeuronModel(PyLoihiProcessModel):
    FLOAT = False

    def _scratch(self, name: str, like: np.ndarray, dtype=None) -> np.ndarray:
        """A buffer kept across steps (a fresh whole-layer array every step costs page
        faults that outweigh the arithmetic on large frames)."""
        buf = self.__dict__.get(name)
        if buf is None:
            buf = np.empty(like.shape, dtype=dtype or like.dtype)
            self.__dict__[name] = buf
        return buf

    def run_spk(self) -> None:
        p = self.proc_params
        t = frame_step(self.time_step, p["frame_len"])
        v = self.v  # updated in place: every whole-layer temporary costs
        if p["frame_len"] and t == 0:
            v[:] = 0
        recv_into(self.a_in, v, add=True)
        if _bias_on(t, p["start"], p["steps"]):
            v += self.bias
        theta, kmax = p["theta_unit_int"], (1 << p["n_thresholds"]) - 1
        sh = theta.bit_length() - 1
        pow2 = theta == 1 << sh and not self.FLOAT
        if self.FLOAT:
            k = np.floor(v / theta)
        else:
            np.clip(v, *sat_bounds(p["v_bits"]), out=v)
            k = self._scratch("_k", v)
            if pow2:
                np.right_shift(v, sh, out=k)
            else:
                np.floor_divide(v, theta, out=k)
        np.clip(k, 0, kmax, out=k)
        if pow2:
            kt = self._scratch("_kt", v)
            np.left_shift(k, sh, out=kt)
            v -= kt
        else:
            v -= k * theta
        k8 = self._scratch("_k8", v, np.uint8)  # k < 2^N <= 256: the payload is one byte
        np.copyto(k8, k, casting="unsafe")
        k = k8
        self._send(k)
        if t < p["record_steps"]:
            self.spikes[t] = k
        write_probe(self, self.time_step - 1, k)

    def _send(self, k: np.ndarray) -> None:
        self.s_out.send(k)


class _MTVirtualNeuronModel(_MTNeuronModel):
    """The fused neuron's update; ``k`` leaves as ``D`` thermometer-coded binary maps,
    bit-packed (8 sub-steps a byte: the message is ``ceil(D/8)`` bytes per neuron)."""

    def _send(self, k: np.ndarray) -> None:
        d = virtual_substeps(self.proc_params["n_thresholds"])
        self.s_out_virtual.send(pack_thermometer(k, d))


@implements(proc=MTNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMTNeuronModelFixed(_MTNeuronModel):
    """Fixed point: int64 currents, saturating membrane of ``v_bits`` bits."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.uint8, precision=MAX_STAGES)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    spikes: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=MAX_STAGES)


@implements(proc=MTNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyMTNeuronModelFloat(_MTNeuronModel):
    """Float membrane (no saturation); same spike rule ``k = clip(floor(v/theta))``."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.uint8, precision=MAX_STAGES)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    spikes: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=MAX_STAGES)
    FLOAT = True


@implements(proc=MTVirtualNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMTVirtualNeuronModelFixed(_MTVirtualNeuronModel):
    """Fixed point, as :class:`PyMTNeuronModelFixed`; bit-packed binary sub-steps out."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=64)
    s_out_virtual: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.uint8, precision=8)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    spikes: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=MAX_STAGES)


@implements(proc=MTVirtualNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyMTVirtualNeuronModelFloat(_MTVirtualNeuronModel):
    """Float membrane, as :class:`PyMTNeuronModelFloat`; bit-packed binary sub-steps out."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out_virtual: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.uint8, precision=8)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    spikes: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=MAX_STAGES)
    FLOAT = True


class _MTCascadeLayerModel(PyLoihiProcessModel):
    """Integrate, then the N stages in sequence on the residual, in place."""

    FLOAT = False

    def _setup(self) -> None:
        p = self.proc_params
        n, shape = p["n_thresholds"], tuple(p["shape"])
        self._s = np.empty(shape, dtype=bool)
        self._stages = [
            (p["theta_unit_int"] << (n - 1 - i), getattr(self, f"s_out_{i}")) for i in range(n)
        ]
        self._probes = None
        if p.get("probe_path") and p["probe_len"] > 0:
            self._probes = [
                np.memmap(
                    stage_probe_path(p["probe_path"], i),
                    dtype=np.uint8,
                    mode="r+",
                    shape=(p["probe_len"], *shape),
                )
                for i in range(n)
            ]

    def run_spk(self) -> None:
        if "_stages" not in self.__dict__:
            self._setup()
        p = self.proc_params
        t = frame_step(self.time_step, p["frame_len"])
        r = self.v  # the residual, updated in place
        if p["frame_len"] and t == 0:
            r[:] = 0
        recv_into(self.a_in, r, add=True)
        if _bias_on(t, p["start"], p["steps"]):
            r += self.bias
        if not self.FLOAT:
            np.clip(r, *sat_bounds(p["v_bits"]), out=r)
        s, idx = self._s, self.time_step - 1
        record = t < p["record_steps"]
        for i, (theta, port) in enumerate(self._stages):
            np.greater_equal(r, theta, out=s)
            np.subtract(r, theta, out=r, where=s)
            port.send(s)  # copies into the channel: ``s`` is free again
            if record:
                getattr(self, f"spikes_{i}")[t] = s
            if self._probes is not None and 0 <= idx < p["probe_len"]:
                self._probes[i][idx] = s


def _cascade_types(cls: type) -> type:
    """Declare the stage ports and histories (``MAX_STAGES`` of each) on a model class."""
    for i in range(MAX_STAGES):
        setattr(cls, f"s_out_{i}", LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1))
        setattr(cls, f"spikes_{i}", LavaPyType(np.ndarray, np.int32, precision=1))
    return cls


@implements(proc=MTCascadeLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMTCascadeLayerModelFixed(_MTCascadeLayerModel):
    """Fixed point: int64 currents, saturating membrane of ``v_bits`` bits."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=64)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


@implements(proc=MTCascadeLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyMTCascadeLayerModelFloat(_MTCascadeLayerModel):
    """Float membrane (no saturation); same stages."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    FLOAT = True


for _cls in (PyMTCascadeLayerModelFixed, PyMTCascadeLayerModelFloat):
    _cascade_types(_cls)


@implements(proc=MTCascadeNeuron, protocol=LoihiProtocol)
class SubMTCascadeNeuronModel(AbstractSubProcessModel):
    """Builds the layer's one :class:`MTCascadeLayer` and exposes its first N stage ports."""

    def __init__(self, proc: MTCascadeNeuron) -> None:
        p = proc.proc_params
        self.layer = MTCascadeLayer(
            shape=p["shape"],
            theta_unit_int=p["theta_unit_int"],
            n_thresholds=p["n_thresholds"],
            bias=proc.bias.init,
            start=p["start"],
            steps=p["steps"],
            v_bits=p["v_bits"],
            frame_len=p["frame_len"],
            record_steps=p["record_steps"],
            probe_path=p["probe_path"],
            probe_len=p["probe_len"],
        )
        proc.in_ports.a_in.connect(self.layer.in_ports.a_in)
        for i in range(p["n_thresholds"]):
            getattr(self.layer.out_ports, f"s_out_{i}").connect(
                getattr(proc.out_ports, f"s_out_{i}")
            )
            getattr(proc.vars, f"spikes_{i}").alias(getattr(self.layer.vars, f"spikes_{i}"))
        proc.vars.v.alias(self.layer.vars.v)
        proc.vars.bias.alias(self.layer.vars.bias)
