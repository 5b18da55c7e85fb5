"""Helpers shared by the Lava processes and models: timing, saturation, parameter checks.

Timing convention (docs/lava_backend.md): Lava's ``PyLoihiProcessModel.time_step`` is
1-based and counts every step since the network started, across ``run`` calls. A process
maps it to the 0-based *frame step* ``t = (time_step - 1) % frame_len`` (or
``time_step - 1`` when ``frame_len == 0``, i.e. one endless frame). With ``frame_len > 0``
every process resets its state at ``t == 0``, so frames run back to back in one run.

Imports are absolute on purpose: Lava's model discovery executes every module of this
directory standalone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from lava.magma.core.process.process import AbstractProcess

#: Largest number of binary stage inputs a synapse accepts (``s_in_0 .. s_in_7``).
MAX_STAGES = 8

Shape = tuple[int, ...]


class CheckedProcess(AbstractProcess):
    """AbstractProcess whose ``__del__`` survives a constructor that raised (bad arguments)
    before ``AbstractProcess.__init__`` ran (Lava's ``__del__`` reads ``_runtime``)."""

    _runtime = None


def frame_step(time_step: int, frame_len: int) -> int:
    """0-based frame step of Lava's 1-based ``time_step``."""
    t = int(time_step) - 1
    return t % frame_len if frame_len > 0 else t


def frame_index(time_step: int, frame_len: int) -> int:
    """0-based index of the frame that Lava's ``time_step`` belongs to."""
    return (int(time_step) - 1) // frame_len if frame_len > 0 else 0


def sat_bounds(bits: int) -> tuple[int, int]:
    """Signed saturation bounds ``(-2^(bits-1), 2^(bits-1) - 1)``."""
    if not 2 <= int(bits) <= 63:
        raise ValueError(f"state bits must be in [2, 63], got {bits}")
    return -(1 << (int(bits) - 1)), (1 << (int(bits) - 1)) - 1


def as_shape(shape: Sequence[int], ndim: int | None = 3) -> Shape:
    """Validate a positive shape tuple (``(C, H, W)`` unless ``ndim`` says otherwise)."""
    out = tuple(int(s) for s in shape)
    if (ndim is not None and len(out) != ndim) or min(out, default=0) < 1:
        raise ValueError(f"expected a positive shape of {ndim} dims, got {shape}")
    return out


def int_array(value, name: str) -> np.ndarray:
    """``value`` as an int64 array; raises unless it is integer-valued."""
    arr = np.asarray(value)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise ValueError(f"{name} must be integer-valued, got dtype {arr.dtype}")


def per_channel(value, shape: Shape, name: str) -> np.ndarray:
    """Broadcast a scalar, per-channel ``(C,)`` or full-shape integer array to ``shape``."""
    arr = int_array(value, name)
    if arr.ndim == 1 and arr.shape[0] == shape[0] and len(shape) == 3:
        arr = arr.reshape(-1, 1, 1)
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ValueError(f"{name} of shape {arr.shape} does not fit {shape}") from None


def record_shape(record_steps: int, shape: Shape) -> Shape:
    """Shape of a per-step history Var (a 1-element dummy when recording is off)."""
    if record_steps < 0:
        raise ValueError(f"record_steps must be >= 0, got {record_steps}")
    return (int(record_steps), *shape) if record_steps > 0 else (1,)


def check_common(delay: int | None = None, frame_len: int = 0) -> None:
    """Validate the timing parameters shared by all processes."""
    if delay is not None and int(delay) < 1:
        raise ValueError(f"synapse delay must be >= 1 (delay 0 is the encoder), got {delay}")
    if int(frame_len) < 0:
        raise ValueError(f"frame_len must be >= 0, got {frame_len}")


def thermometer(k: np.ndarray, substeps: int) -> np.ndarray:
    """Virtual-form spikes of counts ``k``: bool ``(substeps, *k.shape)``, ``s[d] = [k > d]``.

    A neuron with count ``k`` fires on the first ``k`` of the ``substeps`` binary virtual
    sub-steps of a Lava step (docs/semantics.md section 5); ``k`` must be in
    ``[0, substeps]``.
    """
    levels = np.arange(int(substeps), dtype=np.int32).reshape(-1, *([1] * np.ndim(k)))
    return np.asarray(k)[None] > levels


def packed_substeps(substeps: int) -> int:
    """Bytes per neuron of ``substeps`` bit-packed binary sub-steps: ``ceil(D / 8)``."""
    return (int(substeps) + 7) // 8


#: ``_FIRST_BITS[m]``: a byte whose first ``m`` sub-steps fire (most significant bit
#: first, :func:`numpy.packbits`' order), ``m = 0 .. 8``.
_FIRST_BITS = np.array([(0xFF00 >> m) & 0xFF for m in range(9)], dtype=np.uint8)
_M1, _M2, _M4 = (np.uint64(m) for m in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F))


def pack_thermometer(k: np.ndarray, substeps: int) -> np.ndarray:
    """:func:`thermometer` bit-packed along the sub-step axis, uint8 ``(ceil(D/8), *k.shape)``.

    Equal to ``np.packbits(thermometer(k, substeps), axis=0)`` (sub-step ``8 b + j`` is
    bit ``7 - j`` of byte ``b``), built without the bool tensor: byte ``b`` holds the
    first ``clip(k - 8 b, 0, 8)`` sub-steps of its eight.
    """
    k16 = np.asarray(k, dtype=np.int16)  # k <= D <= 255
    out = np.empty((packed_substeps(substeps), *k16.shape), dtype=np.uint8)
    m = np.empty_like(k16)
    for b in range(out.shape[0]):  # one byte plane at a time: no (D, ...) temporaries
        np.subtract(k16, 8 * b, out=m)
        np.clip(m, 0, 8, out=m)
        np.take(_FIRST_BITS, m, out=out[b], mode="clip")
    return out


def substep_counts(packed: np.ndarray) -> np.ndarray:
    """Sub-steps each source neuron spiked on, int32, from bit-packed binary sub-steps
    ``(ceil(D/8), ...)`` (any binary pattern, not only a thermometer code).

    This is how often a virtual-form synapse adds that neuron's weight mantissas in one
    Lava step (accumulate-only: one addition per binary spike).
    """
    packed = np.asarray(packed, dtype=np.uint8)
    n_bytes, shape = packed.shape[0], packed.shape[1:]
    n = int(np.prod(shape))
    flat = np.zeros((n_bytes, -(-n // 8) * 8), dtype=np.uint8)  # whole uint64 words
    flat[:, :n] = packed.reshape(n_bytes, n)
    x = flat.view(np.uint64)  # eight neurons' bytes per word
    x = x - ((x >> np.uint64(1)) & _M1)  # SWAR bit count within each byte
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    # byte lanes never carry: a neuron has at most D <= 255 set bits over all its bytes
    total = x.sum(0, dtype=np.uint64) if n_bytes > 1 else x[0]
    return total.view(np.uint8)[:n].reshape(shape).astype(np.int32)


def write_probe(model, index: int, value: np.ndarray) -> None:
    """Write ``value`` at ``index`` of the model's probe file, if it has one.

    A probe is a memory-mapped file (path in the process parameter ``probe_path``, dtype
    ``probe_dtype``, shape ``(probe_len, *shape)``) that the host creates before the run
    and reads after it. Lava's ``Var.get`` sends an array one value per message (about
    17 us a value), far too slow for whole spike histories; a shared mapping is not.
    """
    p = model.proc_params
    path = p.get("probe_path")
    if not path or not 0 <= index < p["probe_len"]:
        return
    probe = getattr(model, "_probe", None)
    if probe is None:
        shape = (p["probe_len"], *np.shape(value))
        probe = np.memmap(path, dtype=p["probe_dtype"], mode="r+", shape=shape)
        model._probe = probe
    probe[index] = value


def probe_params(probe_path: str | None, probe_len: int, dtype: str) -> dict:
    """Process parameters of a probe (see :func:`write_probe`)."""
    if probe_path is not None and int(probe_len) < 1:
        raise ValueError("a probe needs probe_len >= 1")
    return {"probe_path": probe_path, "probe_len": int(probe_len), "probe_dtype": dtype}


def _direct(port) -> bool:
    """Whether ``recv_into`` can read ``port``'s channels in place (identity transform and
    Lava's shared-memory ``CspRecvPort`` internals present)."""
    from lava.magma.core.model.py.ports import IdentityTransformer

    if not isinstance(getattr(port, "_transformer", None), IdentityTransformer):
        return False
    need = ("_queue", "_array", "_idx", "_size", "_ack")
    return all(all(hasattr(c, a) for a in need) for c in port.csp_ports)


def recv_into(port, out: np.ndarray, add: bool = False) -> np.ndarray:
    """``out[:] = port.recv()`` (``add``: ``out += port.recv()``) without temporaries.

    ``PyInPort.recv`` allocates a zero array, copies every message out of shared memory
    and adds: three whole-layer allocations per port and step, whose page faults cost
    more than the arithmetic at 512x512. This reads each message where it lies in the
    channel's shared memory, adds it into ``out`` and only then acknowledges it (the
    sender cannot overwrite the slot before). Falls back to ``recv`` for ports with a
    transform or another channel type. The channels are consumed exactly as ``recv``
    consumes them: one message per connected channel.
    """
    ok = getattr(port, "_su_direct", None)
    if ok is None:
        ok = _direct(port)
        port._su_direct = ok
    if not ok:
        data = port.recv()
        if add:
            np.add(out, data, out=out, casting="unsafe")
        else:
            np.copyto(out, data, casting="unsafe")
        return out
    first = not add
    for csp in port.csp_ports:
        csp._queue.get()
        buf = csp._array[csp._idx]
        if first:
            np.copyto(out, buf, casting="unsafe")
            first = False
        else:
            np.add(out, buf, out=out, casting="unsafe")
        csp._idx = (csp._idx + 1) % csp._size
        csp._ack.release()
    if first:  # no channel connected: recv() would give zeros
        out[...] = 0
    return out
