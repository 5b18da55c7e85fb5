"""Synapse processes (conv, avg-pool, transposed conv) and their Lava process models.

Every synapse process has the same interface:

- ``s_in`` (InPort, ``in_shape``): graded spike counts ``k`` (e.g. from :class:`MTNeuron`).
- ``s_in_0 .. s_in_7`` (InPorts, ``in_shape``): binary spikes of the stages of a cascade
  neuron (:class:`MTCascadeNeuron`); port ``i`` is weighted by ``2^(n_stage_inputs-1-i)``
  (a shift), so ``k = sum_i s_i << (n_stage_inputs - 1 - i)``. Connecting a port
  ``i >= n_stage_inputs`` is an error. Unconnected ports cost nothing.
- ``s_in_virtual`` (InPort, ``(ceil(D/8), *in_shape)`` uint8, ``D = virtual_substeps``):
  the binary virtual sub-steps of a virtual-form source (:class:`MTVirtualNeuron`),
  bit-packed 8 a byte (``np.packbits`` order along the first axis). The synapse only
  accumulates: every binary spike adds its weight mantissas once (no multiply, no stage
  shift), and the ``D`` sub-steps of a Lava step sum into that step's current
  (docs/semantics.md section 5).
- ``a_out`` (OutPort, ``out_shape``, int64): the current ``shift(W (*) k, weight_exp)``.
- Vars: ``weight`` (the integer mantissa), ``a_buf`` (``out_shape``: the result to send
  next step), ``k_buf`` (``(delay - 1, *in_shape)`` uint8: the counts still waiting; a
  ``(1,)`` dummy for delay 1).

Timing: a synapse with delay ``d`` delivers at step ``t`` what its input was at
``t - d``. In ``run_spk`` it first SENDS the result computed ``d`` steps ago, then
RECEIVES this step's spikes and computes (like Lava's Dense), so loops cannot deadlock
and the native delay is 1; ``d > 1`` keeps the last ``d - 1`` inputs in the ring ``k_buf``
(inputs, not results: uint8 spike counts are an eighth of int64 currents).
With ``frame_len > 0`` the ring is cleared at every frame start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_spikingunet.backends.lava._common import (
    MAX_STAGES,
    CheckedProcess,
    as_shape,
    check_common,
    frame_step,
    int_array,
    packed_substeps,
    recv_into,
    substep_counts,
)
from lava_spikingunet.backends.lava.numpy_ops import (
    Conv2d,
    ConvTranspose2d,
    avgpool2d,
    conv2d_output_shape,
    conv_transpose2d_output_shape,
)

__all__ = [
    "MAX_VIRTUAL_SUBSTEPS",
    "AbstractSynapse",
    "AvgPoolSynapse",
    "ConvSynapse",
    "ConvTransposeSynapse",
    "StageInPort",
    "connect_source",
]


#: Largest ``virtual_substeps`` a synapse accepts (``2^N - 1`` for ``N = MAX_STAGES``).
MAX_VIRTUAL_SUBSTEPS = (1 << MAX_STAGES) - 1

# ------------------------------------------------------------------------------ processes


class StageInPort(InPort):
    """InPort ``s_in_i`` for stage ``i`` of a cascade source.

    Refuses connections when ``i >= n_stage_inputs`` (the stage weight
    ``2^(n_stage_inputs-1-i)`` would be undefined). Checking at connect time matters: an
    exception inside a running Lava model makes ``stop()`` block forever.
    """

    def __init__(self, shape: tuple[int, ...], index: int, n_stage_inputs: int) -> None:
        super().__init__(shape=shape)
        self.index, self.n_stage_inputs = int(index), int(n_stage_inputs)

    def _add_inputs(self, inputs) -> None:
        if self.index >= self.n_stage_inputs:
            raise ValueError(
                f"stage port s_in_{self.index} needs n_stage_inputs > {self.index} "
                f"(this synapse has n_stage_inputs={self.n_stage_inputs})"
            )
        super()._add_inputs(inputs)


class AbstractSynapse(CheckedProcess):
    """Ports and Vars shared by every synapse process (see the module docstring)."""

    def __init__(
        self,
        *,
        weight: np.ndarray,
        in_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
        weight_exp: int = 0,
        delay: int = 1,
        n_stage_inputs: int = 0,
        virtual_substeps: int = 0,
        frame_len: int = 0,
        name: str | None = None,
        **params,
    ) -> None:
        in_shape, out_shape = as_shape(in_shape), as_shape(out_shape)
        check_common(delay, frame_len)
        if not 0 <= int(n_stage_inputs) <= MAX_STAGES:
            raise ValueError(f"n_stage_inputs must be in [0, {MAX_STAGES}], got {n_stage_inputs}")
        if not 0 <= int(virtual_substeps) <= MAX_VIRTUAL_SUBSTEPS:
            raise ValueError(
                f"virtual_substeps must be in [0, {MAX_VIRTUAL_SUBSTEPS}], got {virtual_substeps}"
            )
        super().__init__(
            in_shape=in_shape,
            out_shape=out_shape,
            weight_exp=int(weight_exp),
            delay=int(delay),
            n_stage_inputs=int(n_stage_inputs),
            virtual_substeps=int(virtual_substeps),
            frame_len=int(frame_len),
            name=name,
            **params,
        )
        self.in_shape, self.out_shape = in_shape, out_shape
        self.s_in = InPort(shape=in_shape)
        for i in range(MAX_STAGES):
            setattr(self, f"s_in_{i}", StageInPort(in_shape, i, n_stage_inputs))
        # (1, *in_shape) when unused: the model declares the port either way
        n_bytes = max(1, packed_substeps(virtual_substeps))
        self.s_in_virtual = InPort(shape=(n_bytes, *in_shape))
        self.a_out = OutPort(shape=out_shape)
        self.weight = Var(shape=weight.shape, init=weight)
        self.a_buf = Var(shape=out_shape, init=0)
        self.k_buf = Var(shape=(int(delay) - 1, *in_shape) if delay > 1 else (1,), init=0)

    def stage_in(self, i: int) -> InPort:
        """The binary stage InPort ``s_in_i``."""
        if not 0 <= i < MAX_STAGES:
            raise IndexError(f"stage port {i} out of range [0, {MAX_STAGES})")
        return getattr(self, f"s_in_{i}")


class ConvSynapse(AbstractSynapse):
    """2-D convolution synapse, weight mantissa ``(C_out, C_in, k, k)`` (PyTorch layout).

    ``a_out = shift(conv2d(k, weight, stride, padding), weight_exp)``.
    """

    def __init__(
        self,
        *,
        weight: np.ndarray,
        in_shape: tuple[int, int, int],
        weight_exp: int = 0,
        stride: int = 1,
        padding: int = 0,
        delay: int = 1,
        n_stage_inputs: int = 0,
        virtual_substeps: int = 0,
        frame_len: int = 0,
        name: str | None = None,
    ) -> None:
        weight = int_array(weight, "weight")
        if weight.ndim != 4 or weight.shape[1] != as_shape(in_shape)[0]:
            raise ValueError(f"weight {weight.shape} must be (C_out, {in_shape[0]}, k, k)")
        out_shape = conv2d_output_shape(
            in_shape, weight.shape[0], weight.shape[2:], stride, padding
        )
        super().__init__(
            weight=weight,
            in_shape=in_shape,
            out_shape=out_shape,
            weight_exp=weight_exp,
            delay=delay,
            n_stage_inputs=n_stage_inputs,
            virtual_substeps=virtual_substeps,
            frame_len=frame_len,
            name=name,
            stride=int(stride),
            padding=int(padding),
        )


class AvgPoolSynapse(AbstractSynapse):
    """Average pooling ``kernel x kernel``, stride ``kernel``, as one scalar weight mantissa.

    ``a_out = shift(weight * window_sum(k), weight_exp)`` (the 1/4 is folded into the
    weight). Var ``weight`` has shape ``(1,)``.
    """

    def __init__(
        self,
        *,
        weight: int,
        in_shape: tuple[int, int, int],
        weight_exp: int = 0,
        kernel: int = 2,
        delay: int = 1,
        n_stage_inputs: int = 0,
        virtual_substeps: int = 0,
        frame_len: int = 0,
        name: str | None = None,
    ) -> None:
        c, h, w = as_shape(in_shape)
        weight = int_array(weight, "weight").reshape(-1)
        if weight.shape != (1,):
            raise ValueError("avg-pool weight must be one scalar mantissa")
        super().__init__(
            weight=weight,
            in_shape=in_shape,
            out_shape=(c, h // kernel, w // kernel),
            weight_exp=weight_exp,
            delay=delay,
            n_stage_inputs=n_stage_inputs,
            virtual_substeps=virtual_substeps,
            frame_len=frame_len,
            name=name,
            kernel=int(kernel),
        )


class ConvTransposeSynapse(AbstractSynapse):
    """Transposed convolution synapse, weight mantissa ``(C_in, C_out, k, k)`` (PyTorch).

    ``a_out = shift(conv_transpose2d(k, weight, stride, padding, output_padding), weight_exp)``.
    """

    def __init__(
        self,
        *,
        weight: np.ndarray,
        in_shape: tuple[int, int, int],
        weight_exp: int = 0,
        stride: int = 2,
        padding: int = 1,
        output_padding: int = 1,
        delay: int = 1,
        n_stage_inputs: int = 0,
        virtual_substeps: int = 0,
        frame_len: int = 0,
        name: str | None = None,
    ) -> None:
        weight = int_array(weight, "weight")
        if weight.ndim != 4 or weight.shape[0] != as_shape(in_shape)[0]:
            raise ValueError(f"weight {weight.shape} must be ({in_shape[0]}, C_out, k, k)")
        out_shape = conv_transpose2d_output_shape(
            in_shape, weight.shape[1], weight.shape[2:], stride, padding, output_padding
        )
        super().__init__(
            weight=weight,
            in_shape=in_shape,
            out_shape=out_shape,
            weight_exp=weight_exp,
            delay=delay,
            n_stage_inputs=n_stage_inputs,
            virtual_substeps=virtual_substeps,
            frame_len=frame_len,
            name=name,
            stride=int(stride),
            padding=int(padding),
            output_padding=int(output_padding),
        )


def connect_source(src: AbstractProcess, syn: AbstractSynapse) -> None:
    """Connect a neuron to a synapse: ``s_out -> s_in`` for graded sources, every
    ``s_out_i -> s_in_i`` for a cascade source (``syn`` must have ``n_stage_inputs = N``),
    or ``s_out_virtual -> s_in_virtual`` for a virtual-form source (``syn`` must have
    ``virtual_substeps = 2^N - 1``)."""
    if hasattr(src, "s_out_virtual"):
        d = (1 << int(src.proc_params["n_thresholds"])) - 1
        if syn.proc_params["virtual_substeps"] != d:
            raise ValueError(
                f"synapse has virtual_substeps={syn.proc_params['virtual_substeps']}, "
                f"source sends D={d}"
            )
        src.s_out_virtual.connect(syn.s_in_virtual)
        return
    if hasattr(src, "s_out"):
        src.s_out.connect(syn.s_in)
        return
    n = int(src.proc_params["n_thresholds"])
    if syn.proc_params["n_stage_inputs"] != n:
        raise ValueError(
            f"synapse has n_stage_inputs={syn.proc_params['n_stage_inputs']}, source has N={n}"
        )
    for i in range(n):
        getattr(src, f"s_out_{i}").connect(syn.stage_in(i))


# --------------------------------------------------------------------------------- models


class AbstractSynapseModel(PyLoihiProcessModel):
    """Send the buffered result, receive spikes, compute ``_op(k)`` then scale by 2^exp."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in_virtual: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.uint8, precision=8)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int64)
    k_buf: np.ndarray = LavaPyType(np.ndarray, np.uint8)  # counts k < 2^N <= 256
    FLOAT = False

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._ready = False
        self._op: Callable[[np.ndarray], np.ndarray] | None = None
        self._stages: list[tuple[PyInPort, int]] = []
        self._k_in: np.ndarray | None = None  # the graded input, received in place
        self._k_stages: tuple[np.ndarray, np.ndarray] | None = None  # cascade input

    def _make_op(self) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def _setup(self) -> None:
        p = self.proc_params
        self._frame_len = int(p["frame_len"])
        self._exp = int(p["weight_exp"])
        self._delay = int(p["delay"])
        n = int(p["n_stage_inputs"])
        self._stages = []
        for i in range(MAX_STAGES):
            port = getattr(self, f"s_in_{i}")
            if port.csp_ports and i < n:  # StageInPort refuses i >= n at connect time
                self._stages.append((port, n - 1 - i))
        self._graded = bool(self.s_in.csp_ports)
        self._virtual = bool(self.s_in_virtual.csp_ports) and int(p["virtual_substeps"]) > 0
        self._op = self._make_op()
        self._ready = True

    def on_var_update(self) -> None:
        self._ready = False  # a Var (e.g. weight) was set: rebuild the op

    def _recv_counts(self) -> np.ndarray | None:
        """The step's input in spike-count units: the graded payload, the stage bits
        weighted by their shifts, and the number of virtual sub-steps that carried a spike."""
        k = None
        if self._graded:
            if self._k_in is None:
                self._k_in = np.empty(tuple(self.proc_params["in_shape"]), dtype=np.int32)
            k = recv_into(self.s_in, self._k_in)
        if self._virtual:
            # Accumulate-only: each binary spike adds the source's mantissas once, and the
            # D sub-steps add up into this step's current. Integer addition is associative,
            # so adding W once per spike over the sub-steps equals adding W times the number
            # of spikes per source neuron: the sub-steps' bits are counted first, then
            # ``_op`` applies W once (exact in integers; docs/semantics.md section 5).
            n = substep_counts(self.s_in_virtual.recv())
            k = n if k is None else k + n
        if self._stages:  # k = sum_i s_i << sh_i, read in place into two kept buffers
            if self._k_stages is None:
                shape = tuple(self.proc_params["in_shape"])
                self._k_stages = np.empty(shape, np.int32), np.empty(shape, np.int32)
            acc, s = self._k_stages
            for j, (port, sh) in enumerate(self._stages):
                recv_into(port, acc if j == 0 else s)
                if j == 0:
                    np.left_shift(acc, sh, out=acc)
                else:
                    np.left_shift(s, sh, out=s)
                    np.add(acc, s, out=acc)
            k = acc if k is None else k + acc
        return k

    def _scale_into(self, y: np.ndarray, out: np.ndarray) -> None:
        """``out[:] = shift(y, exp)`` (fixed) or ``y * 2**exp`` (float), without temporaries."""
        e = self._exp
        if self.FLOAT:
            np.multiply(y, 2.0**e, out=out)
        elif e >= 0:
            np.left_shift(y, e, out=out)
        else:
            np.right_shift(y, -e, out=out)

    def run_spk(self) -> None:
        if not self._ready:
            self._setup()
        t = frame_step(self.time_step, self._frame_len)
        if self._frame_len and t == 0:  # new frame: drop everything pending
            self.a_buf[:] = 0
            self.k_buf[:] = 0
        self.a_out.send(self.a_buf)  # result of step t - delay (send first: no deadlock)
        k = self._recv_counts()
        if self._delay > 1 and k is not None:  # swap k(t) for k(t + 1 - delay)
            slot = (self.time_step - 1) % (self._delay - 1)
            k, self.k_buf[slot] = self.k_buf[slot].copy(), k
        if k is None or not k.any():
            self.a_buf[:] = 0
        else:
            self._scale_into(self._op(k), self.a_buf)


for _i in range(MAX_STAGES):
    setattr(
        AbstractSynapseModel, f"s_in_{_i}", LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    )


class _FixedOut:
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=64)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int64)
    FLOAT = False


class _FloatOut:
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.float64)
    FLOAT = True


class _ConvOp:
    def _make_op(self) -> Callable[[np.ndarray], np.ndarray]:
        p = self.proc_params
        return Conv2d(self.weight, p["stride"], p["padding"], reuse=True)


class _AvgPoolOp:
    def _make_op(self) -> Callable[[np.ndarray], np.ndarray]:
        m, kernel = int(self.weight[0]), int(self.proc_params["kernel"])
        return lambda k: avgpool2d(k, m, kernel)


class _ConvTransposeOp:
    def _make_op(self) -> Callable[[np.ndarray], np.ndarray]:
        p = self.proc_params
        return ConvTranspose2d(
            self.weight, p["stride"], p["padding"], p["output_padding"], reuse=True
        )


def _models(proc: type, op: type) -> tuple[type, type]:
    """Fixed- and floating-point models of one synapse process (same op, other scaling)."""

    @implements(proc=proc, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class Fixed(_FixedOut, op, AbstractSynapseModel):
        pass

    @implements(proc=proc, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt")
    class Float(_FloatOut, op, AbstractSynapseModel):
        pass

    for cls, kind in ((Fixed, "Fixed"), (Float, "Float")):
        cls.__name__ = cls.__qualname__ = f"Py{proc.__name__}Model{kind}"
    return Fixed, Float


PyConvSynapseModelFixed, PyConvSynapseModelFloat = _models(ConvSynapse, _ConvOp)
PyAvgPoolSynapseModelFixed, PyAvgPoolSynapseModelFloat = _models(AvgPoolSynapse, _AvgPoolOp)
PyConvTransposeSynapseModelFixed, PyConvTransposeSynapseModelFloat = _models(
    ConvTransposeSynapse, _ConvTransposeOp
)
