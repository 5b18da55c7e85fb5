"""Network input and output processes: static-current encoder and readout accumulator.

- :class:`StaticInputEncoder` sends the frame's integer static current ``I0`` on ``a_out``
  for frame steps ``t < steps`` (``T``) and zeros after; connect it straight to the first
  neuron's ``a_in`` (delay 0, no synapse).
- :class:`Readout` accumulates its input current for ``start <= t < start + steps`` into
  Var ``acc`` (saturating); read ``acc`` once at the end of the frame.

Both follow the frame convention of ``_common``: 0-based frame step
``t = (time_step - 1) % frame_len`` (``time_step - 1`` when ``frame_len == 0``).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_spikingunet.backends.lava._common import (
    CheckedProcess,
    as_shape,
    check_common,
    frame_index,
    frame_step,
    int_array,
    per_channel,
    probe_params,
    record_shape,
    recv_into,
    sat_bounds,
    write_probe,
)

__all__ = ["Readout", "StaticInputEncoder"]


class StaticInputEncoder(CheckedProcess):
    """Sends a constant integer current for ``steps`` steps (static coding of the image).

    ``current``: ``(C, H, W)`` (one frame) or ``(F, C, H, W)`` (frame ``f`` sends
    ``current[f % F]``, frames of ``frame_len`` steps). ``steps``: the current is sent at
    frame steps ``t < steps`` (``T``), zeros after; 0 sends it at every step. Port:
    ``a_out`` (OutPort ``(C, H, W)``, int64; a message every step). Var: ``current``
    (same shape as the argument; ``set`` it between runs to feed a new frame).
    """

    def __init__(
        self,
        *,
        current: np.ndarray,
        steps: int = 0,
        frame_len: int = 0,
        name: str | None = None,
    ) -> None:
        current = int_array(current, "current")
        if current.ndim not in (3, 4):
            raise ValueError(f"current must be (C,H,W) or (F,C,H,W), got {current.shape}")
        if current.ndim == 4 and current.shape[0] > 1 and frame_len < 1:
            raise ValueError("several frames need frame_len >= 1")
        if int(steps) < 0:
            raise ValueError(f"steps must be >= 0 (0: every step), got {steps}")
        check_common(None, frame_len)
        shape = as_shape(current.shape[-3:])
        super().__init__(shape=shape, steps=int(steps), frame_len=int(frame_len), name=name)
        self.shape = shape
        self.a_out = OutPort(shape=shape)
        self.current = Var(shape=current.shape, init=current)


class Readout(CheckedProcess):
    """Non-spiking output accumulator.

    ``acc <- clip(acc + I(t) + bias, -2^(acc_bits-1), 2^(acc_bits-1) - 1)`` for
    ``start <= t < start + steps``; ``acc`` is reset at every frame start when
    ``frame_len > 0``. Port: ``a_in`` (InPort ``shape``). Vars: ``acc``, ``bias`` (full shape;
    scalar or per-channel ``(C,)`` argument broadcast), ``acc_frames``
    (``(record_frames, *shape)``: the final ``acc`` of frame ``f < record_frames``; a
    ``(1,)`` dummy when ``record_frames == 0``).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int, int],
        steps: int,
        bias: int | np.ndarray = 0,
        start: int = 0,
        acc_bits: int = 24,
        frame_len: int = 0,
        record_frames: int = 0,
        probe_path: str | None = None,
        probe_len: int = 0,
        name: str | None = None,
    ) -> None:
        shape = as_shape(shape)
        sat_bounds(acc_bits)
        check_common(None, frame_len)
        if int(steps) < 1 or int(start) < 0:
            raise ValueError(f"need steps >= 1 and start >= 0, got {steps}, {start}")
        if frame_len and int(start) + int(steps) > frame_len:
            raise ValueError(f"start + steps = {start + steps} exceeds frame_len {frame_len}")
        super().__init__(
            shape=shape,
            steps=int(steps),
            start=int(start),
            acc_bits=int(acc_bits),
            frame_len=int(frame_len),
            record_frames=int(record_frames),
            name=name,
            **probe_params(probe_path, probe_len, "int64"),
        )
        self.shape = shape
        self.a_in = InPort(shape=shape)
        self.acc = Var(shape=shape, init=0)
        self.bias = Var(shape=shape, init=per_channel(bias, shape, "bias"))
        self.acc_frames = Var(shape=record_shape(record_frames, shape), init=0)


# --------------------------------------------------------------------------------- models


class _EncoderModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        p = self.proc_params
        cur = self.current
        if cur.ndim == 4:
            cur = cur[frame_index(self.time_step, p["frame_len"]) % cur.shape[0]]
        if p["steps"] and frame_step(self.time_step, p["frame_len"]) >= p["steps"]:
            cur = np.zeros_like(cur)  # after the T input steps: nothing to drive
        self.a_out.send(cur)


@implements(proc=StaticInputEncoder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyStaticInputEncoderModelFixed(_EncoderModel):
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    current: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


@implements(proc=StaticInputEncoder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyStaticInputEncoderModelFloat(_EncoderModel):
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    current: np.ndarray = LavaPyType(np.ndarray, float)


class _ReadoutModel(PyLoihiProcessModel):
    FLOAT = False

    def run_spk(self) -> None:
        p = self.proc_params
        t = frame_step(self.time_step, p["frame_len"])
        if p["frame_len"] and t == 0:
            self.acc[:] = 0
        cur = self.__dict__.get("_cur")
        if cur is None:
            cur = self.__dict__["_cur"] = np.empty(self.acc.shape, dtype=self.acc.dtype)
        recv_into(self.a_in, cur)  # in place: no whole-frame temporaries per step
        if p["start"] <= t < p["start"] + p["steps"]:
            acc = self.acc
            acc += cur
            acc += self.bias
            if not self.FLOAT:
                np.clip(acc, *sat_bounds(p["acc_bits"]), out=acc)
            f = frame_index(self.time_step, p["frame_len"])
            if t == p["start"] + p["steps"] - 1:
                if f < p["record_frames"]:
                    self.acc_frames[f] = self.acc
                write_probe(self, f, self.acc)


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyReadoutModelFixed(_ReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=64)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    acc_frames: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyReadoutModelFloat(_ReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    acc: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    acc_frames: np.ndarray = LavaPyType(np.ndarray, float)
    FLOAT = True
