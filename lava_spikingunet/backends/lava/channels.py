"""Channel depth of a compiled Lava network: set it from the timing, report what it costs.

Lava connects two ports with a shared-memory ring of ``pypy_channel_size`` messages
(``Compiler`` default 64), each message a whole port: a ``16x512x512`` int64 current is
32 MiB, so the default ring makes that one channel 2 GiB of ``/dev/shm``. The depth a
channel needs follows from the timing of docs/lava_backend.md:

- every process model of this package sends each connected OutPort exactly once per
  step (in ``run_spk``) and receives each connected InPort exactly once per step;
- Lava's ``LoihiPyRuntimeService`` waits for every process to finish the spiking phase
  of step ``t`` before it starts step ``t + 1``;
- so a message is received in the step it was sent in, and a channel never holds more
  than one message. Delays longer than one step live inside the synapse (its ``k_buf``
  ring), never in a channel.

The minimum depth is therefore 1 for every data channel, whatever the graph's delays.
:func:`set_channel_depths` writes it into a compiled ``Executable`` (the channel
builders' port initializers: Lava reads ``size`` from them when it creates the shared
memory), without touching Lava's files; the runtime-service management channels keep
Lava's depth (they carry one float each). :func:`channel_report` reads back what will be
built, for tests and for the memory estimate.

Lava's model discovery executes this module standalone (it is in the models' folder), so
it has no dataclasses (they need the module in ``sys.modules``) and no side effects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

__all__ = [
    "DATA_CHANNEL_DEPTH",
    "ChannelInfo",
    "channel_report",
    "compile_config",
    "set_channel_depths",
]

#: Messages a data channel holds: one step's message (see the module docstring).
DATA_CHANNEL_DEPTH = 1


class ChannelInfo(NamedTuple):
    """One channel of a compiled network: endpoints, message shape and dtype, depth."""

    src: str
    dst: str
    shape: tuple[int, ...]
    dtype: str
    depth: int

    @property
    def message_bytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        """Shared memory of the ring: ``depth`` messages."""
        return self.message_bytes * self.depth


def compile_config(depth: int = DATA_CHANNEL_DEPTH) -> dict:
    """A Lava ``compile_config`` whose default channel depth is ``depth``."""
    return {"pypy_channel_size": int(depth)}


def _data_builders(executable, procs: Iterable | None):
    from lava.magma.compiler.builders.channel_builder import ChannelBuilderMp

    ids = None if procs is None else {id(p) for p in procs}
    for cb in executable.channel_builders:
        if not isinstance(cb, ChannelBuilderMp):
            continue
        if ids is not None and not (id(cb.src_process) in ids or id(cb.dst_process) in ids):
            continue
        yield cb


def set_channel_depths(executable, depth: int = DATA_CHANNEL_DEPTH, procs=None) -> int:
    """Give every data channel of ``executable`` (those touching ``procs``, or all) a
    ring of ``depth`` messages; returns the number of channels set."""
    if int(depth) < 1:
        raise ValueError(f"channel depth must be >= 1, got {depth}")
    n = 0
    for cb in _data_builders(executable, procs):
        cb.src_port_initializer.size = int(depth)
        cb.dst_port_initializer.size = int(depth)
        n += 1
    return n


def _name(proc) -> str:
    return str(getattr(proc, "name", type(proc).__name__))


def channel_report(executable) -> list[ChannelInfo]:
    """What Lava will build for the data channels of ``executable``."""
    out = []
    for cb in _data_builders(executable, None):
        pi = cb.src_port_initializer
        out.append(
            ChannelInfo(
                src=f"{_name(cb.src_process)}.{pi.name}",
                dst=f"{_name(cb.dst_process)}.{cb.dst_port_initializer.name}",
                shape=tuple(int(s) for s in pi.shape),
                dtype=np.dtype(pi.d_type).name,
                depth=int(pi.size),
            )
        )
    return out
