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
    from lava_spikingunet.graph.ir import NeuronNode

    for name in graph.order():
        node = graph.node(name)
        if isinstance(node, NeuronNode) and node.reset != "subtract":
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


#: Measured cost per neuron (or input) element: the reference's float and integer
#: working buffers, and Lava's shared-memory channels (per element of an edge's target;
#: times the source's N channels in the cascade form).
REFERENCE_BYTES_PER_ELEMENT = 48
LAVA_SHM_BYTES_PER_ELEMENT = 800


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


def check_lava_memory(graph, form: str = "graded") -> None:
    """Refuse a Lava run whose shared-memory channels would not fit in /dev/shm."""
    import numpy as np

    from lava_spikingunet.graph.ir import NeuronNode

    total = delay_bytes = 0
    for src, dst, e in graph.edges():
        n = graph.node(src)
        fan = n.n_thresholds if form == "cascade" and isinstance(n, NeuronNode) else 1
        size = int(np.prod(graph.node(dst).shape))
        total += size * fan
        delay_bytes += size * 8 * (int(getattr(e, "delay", 0)) + 1)  # a synapse's ring buffer
    needed = total * LAVA_SHM_BYTES_PER_ELEMENT + delay_bytes
    c, h, w = graph.node(graph.input_name).shape
    check_memory(
        needed,
        min(available_shm(), available_memory()),
        f"Lava's shared-memory channels for a {h}x{w} frame ({form} form)",
        "use a smaller frame (crop the image), or the reference backend",
    )
