"""The project's hard limits, each one rule checked wherever a value enters.

- :data:`MAX_THRESHOLDS`: spike counts ``k < 2^N`` are stored as uint8 (the reference's
  spike history, Lava's graded payload and probes), so N <= 8; checked by
  :class:`~lava_spikingunet.graph.ir.NeuronNode` (convert, quantize, every file load).
- ``reset="zero"``: the Lava neuron processes implement reset by subtraction only; a
  fixed-point graph with reset to zero is refused by :func:`check_lava_supported`
  (quantize, export, netx load, the Lava builder) instead of mismatching silently.
- :data:`MAX_TIMESTEPS`, :data:`MAX_FRAME_SIDE`: ``T`` and frame sizes, from the
  command line or from a file.
- :func:`check_memory`: refuses a run whose estimated buffers exceed the memory (or
  ``/dev/shm``) available, with the figure and the fix.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from lava_spikingunet.errors import ResourceLimitError, UnsupportedModelError

MAX_THRESHOLDS = 8
MAX_TIMESTEPS = 4096
MAX_FRAME_SIDE = 8192
MAX_READOUT_MARGIN_BITS = 8
#: Largest synaptic delay of any graph (a netx file: its profile's, 62 on Loihi 2).
MAX_DELAY = 1024


def check_thresholds(n: int, where: str = "n_thresholds") -> int:
    """``1 <= N <= MAX_THRESHOLDS`` (ValueError otherwise)."""
    if not 1 <= int(n) <= MAX_THRESHOLDS:
        raise ValueError(
            f"{where} must be in 1..{MAX_THRESHOLDS} (spike counts k < 2^N are 8-bit), got {n}"
        )
    return int(n)


def check_timesteps(t, where: str = "T") -> int:
    """``1 <= T <= MAX_TIMESTEPS`` as an int (ResourceLimitError otherwise)."""
    try:
        value = int(t)
    except (TypeError, ValueError, OverflowError):
        raise ResourceLimitError(f"{where} must be an integer, got {t!r}") from None
    if value != t and not isinstance(t, str):
        raise ResourceLimitError(f"{where} must be an integer, got {t!r}")
    if not 1 <= value <= MAX_TIMESTEPS:
        raise ResourceLimitError(f"{where} must be in 1..{MAX_TIMESTEPS}, got {t!r}")
    return value


def check_frame(height: int, width: int, where: str = "frame") -> tuple[int, int]:
    if not (1 <= height <= MAX_FRAME_SIDE and 1 <= width <= MAX_FRAME_SIDE):
        raise ResourceLimitError(
            f"{where} {height}x{width}: each side must be in 1..{MAX_FRAME_SIDE}"
        )
    return int(height), int(width)


def check_lava_supported(graph, what: str = "this model") -> None:
    """Refuse what the fixed-point pipeline cannot run bit-exactly on Lava."""
    for name in graph.neurons():  # graph methods, no graph.ir import: ir imports this module
        node = graph.node(name)
        if node.reset != "subtract":
            raise UnsupportedModelError(
                f"{what}: layer {name} resets to zero, but the fixed-point pipeline and the "
                "Lava neurons reset by subtraction only; convert with --reset subtract"
            )


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or a large number if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 50


def available_shm() -> int:
    """Bytes free in /dev/shm (Lava's channels), or a large number if unknown."""
    try:
        st = os.statvfs("/dev/shm")
        return st.f_bavail * st.f_frsize
    except OSError:
        return 1 << 50


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_memory(needed: int, available: int, what: str, fix: str) -> None:
    """ResourceLimitError if ``needed`` bytes exceed ``available``."""
    if needed > available:
        raise ResourceLimitError(
            f"{what} needs about {_gib(needed)} but {_gib(available)} is available; {fix}"
        )


#: Measured cost per neuron (or input) element of the reference's float and integer
#: working buffers.
REFERENCE_BYTES_PER_ELEMENT = 48

#: Lava run, private memory (see :func:`estimate_lava_memory`): a worker process's own
#: pages (interpreter, Lava's runtime, numpy) once forked, and per element the process
#: models' state and per-step buffers. Set so that the estimate is above every row of
#: ``benchmarks/results/scale.json`` (summed PSS + /dev/shm measured: shipped grey
#: denoiser 64..512 square 0.71, 0.78, 2.04, 5.11 GB against 1.14, 1.42, 2.55, 7.05
#: estimated; DRIVE 584x565 6.20 against 8.49; paper-size U-Net at 64 2.41 against 2.79;
#: the grey denoiser at 256 in the cascade form, one process per layer, 2.30 against
#: 2.70).
LAVA_PROCESS_BYTES = 24 << 20
LAVA_NEURON_BYTES_PER_ELEMENT = 64
LAVA_SYNAPSE_OUT_BYTES_PER_ELEMENT = 40
LAVA_IM2COL_BYTES = 4  # float32 im2col column per input element and kernel tap
#: Per weight mantissa of a synapse: the process's Var and its init (int64), the model's
#: int64 matrix and its float copies (paper-size U-Net: 34.5 M weights).
LAVA_WEIGHT_BYTES = 32


def _elements(graph) -> int:
    import numpy as np

    return sum(int(np.prod(graph.node(n).shape)) for n in graph.order())


def check_reference_memory(graph, frames: int = 1, record_steps: int = 0) -> None:
    """Refuse a reference run whose buffers would not fit in memory (with the figure)."""
    c, h, w = graph.node(graph.input_name).shape
    needed = _elements(graph) * (REFERENCE_BYTES_PER_ELEMENT + record_steps) * max(1, frames)
    check_memory(
        needed,
        available_memory(),
        f"the integer reference on a {h}x{w} frame",
        "use a smaller frame (crop the image)",
    )


class LavaMemory(NamedTuple):
    """Estimated memory of a Lava run, bytes: ``shm`` (the channels in ``/dev/shm``),
    ``private`` (the worker processes' own pages), and the number of ``processes``."""

    shm: int
    private: int
    processes: int

    @property
    def total(self) -> int:
        return self.shm + self.private


def estimate_lava_memory(
    graph, form: str = "graded", frames: int = 1, channel_depth: int | None = None
) -> LavaMemory:
    """Shared and private memory of a Lava run of ``graph`` (``frames`` back to back).

    Shared memory is exact: every data channel is a ring of ``channel_depth`` messages
    (default: the depth the run uses, ``backends/lava/channels.py``), each the port's
    shape times its dtype: the encoder's int64 current, a synapse's int64 current, the
    spikes (graded: uint8 counts; cascade: one bool map per stage; virtual: ``ceil(D/8)``
    bytes). Every neuron layer is one process in every form (a cascade layer's stages
    run inside its process: its residual is no channel).
    Private memory is the measured model of :data:`LAVA_PROCESS_BYTES` and the
    per-element constants: each neuron's state and temporaries, each synapse's buffered
    result and temporaries, a conv's float32 im2col columns, a delay ring of uint8
    counts, and the encoder's frames.
    """
    import numpy as np

    if channel_depth is None:
        channel_depth = 1  # backends.lava.channels.DATA_CHANNEL_DEPTH (no Lava import here)
    depth = int(channel_depth)

    def elems(name: str) -> int:
        return int(np.prod(graph.node(name).shape))

    shm = private = 0
    procs = 2  # encoder, readout
    neurons = graph.neurons()  # graph methods, no graph.ir import: ir imports this module
    for name in neurons:
        node = graph.node(name)
        n = elems(name)
        procs += 1  # one process per layer in every form (a cascade's stages run inside it)
        private += LAVA_PROCESS_BYTES + n * LAVA_NEURON_BYTES_PER_ELEMENT
    for src, dst, e in graph.edges():
        n_in, n_out = elems(src), elems(dst)
        if src == graph.input_name:  # the static input edge
            shm += n_out * 8 * depth
            private += 2 * max(1, int(frames)) * n_out * 8
            continue
        node = graph.node(src)
        n_thr = node.n_thresholds if src in neurons else 1
        spike_bytes = {"cascade": n_thr, "virtual": -(-((1 << n_thr) - 1) // 8)}.get(form, 1)
        shm += (n_in * spike_bytes + n_out * 8) * depth
        procs += 1
        taps = getattr(e, "kernel_size", 1) ** 2  # conv and transposed conv; pooling 1
        private += LAVA_PROCESS_BYTES + n_out * LAVA_SYNAPSE_OUT_BYTES_PER_ELEMENT
        if form == "cascade":  # the stage bits are summed into two int32 buffers
            private += n_in * 8
        private += int(np.size(e.weight)) * LAVA_WEIGHT_BYTES
        private += n_in * (taps * LAVA_IM2COL_BYTES + max(0, int(e.delay) - 1))
    private += elems(graph.readout_name) * 3 * 8
    return LavaMemory(int(shm), int(private), procs)


def check_lava_memory(graph, form: str = "graded", frames: int = 1) -> LavaMemory:
    """Refuse a Lava run that would not fit: its channels in ``/dev/shm``, or channels
    plus processes in the memory available (:class:`ResourceLimitError` naming the
    figures and the way out: ``--tile``, a smaller frame, or the reference)."""
    est = estimate_lava_memory(graph, form, frames)
    c, h, w = graph.node(graph.input_name).shape
    fix = "use --tile (e.g. --tile 256x256), a smaller frame, or the reference backend"
    check_memory(
        est.shm, available_shm(), f"Lava's shared-memory channels for a {h}x{w} frame", fix
    )
    check_memory(
        est.total,
        available_memory(),
        f"a Lava run on a {h}x{w} frame ({form} form, {est.processes} processes)",
        fix,
    )
    return est
