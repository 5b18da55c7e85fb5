"""Quantize: a Spiking-UNet to fixed point for a hardware profile (docs/fixed_point.md).

Every neuron layer gets an integer threshold unit 2^bits (default the profile's state
bits minus 16: 8 on Loihi 2) and integer biases in the profile's bias format; every
synaptic edge an 8-bit (profile) mantissa and the exponent that minimises its squared
error; the readout a power-of-two scale that keeps its accumulator inside the state bits
on the calibration frames (with ``margin_bits`` of margin) or, without them, under a
provable bound. The static input edge stays float (computed on the host). The result
carries the per-layer headroom (largest state and current against the profile's bounds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lava_spikingunet.errors import InputError, ResourceLimitError

if TYPE_CHECKING:
    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = ["Quantized", "quantize", "quantize_with_report", "task_frames"]

#: Largest theta unit exponent (the threshold unit must fit the state bits).
MAX_THETA_UNIT_BITS = 30


@dataclass
class Quantized:
    """A quantized graph with its report: ``report`` holds the fixed-point settings, the
    per-edge weight errors and the headroom; ``calib_source`` where the calibration
    frames came from; ``warnings`` the headroom warnings."""

    graph: SpikingGraph
    profile: Any
    timesteps: int
    report: dict
    headroom: Any
    calib_source: str
    warnings: list[str] = field(default_factory=list)


def task_frames(graph: SpikingGraph, data_root: str | Path | None, limit: int) -> Any:
    """Input patches ``(B, C, H, W)`` of the graph's task (``meta.extra["task_name"]``), or
    None when the model names no task or its dataset is not there."""
    name = graph.meta.extra.get("task_name")
    if not name or not limit:
        return None
    try:
        from lava_spikingunet.conversion import tasks as T

        task = T.load_task(name, data_root, graph.meta.extra.get("train_options") or {})
        batch = next(T.training_batches(task, limit))
    except Exception:  # noqa: BLE001 - no datasets: fall back to the provable bound
        return None
    x = batch[0].double().numpy()
    c, _, _ = graph.node(graph.input_name).shape
    if x.shape[1] != c:
        return None
    from lava_spikingunet.reference.input_current import size_multiple

    m = size_multiple(graph)
    hh, ww = x.shape[2] - x.shape[2] % m, x.shape[3] - x.shape[3] % m
    return x[:, :, :hh, :ww] if hh and ww else None


def _calibration(graph: SpikingGraph, calib: Any, data_root: Any, frames: int):
    """(frames or None, where they came from) for ``calib``: None (the task's patches),
    a path (an image, a folder of images or a .npy/.pt array) or an array."""
    import numpy as np

    from lava_spikingunet.data.frames import load_frames

    if calib is None:
        return task_frames(graph, data_root, frames), "task patches"
    if isinstance(calib, str | Path):
        return load_frames(calib, graph.node(graph.input_name).shape, max(1, frames)), "files"
    arr = np.asarray(calib, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or not np.all(np.isfinite(arr)):
        raise InputError(f"calibration frames must be finite (B, C, H, W), got {arr.shape}")
    return arr, "frames"


def quantize_with_report(
    graph: SpikingGraph,
    hw: Any = "loihi2",
    *,
    theta_unit_bits: int | None = None,
    calib: Any = None,
    calib_frames: int = 8,
    data_root: str | Path | None = None,
    timesteps: int | None = None,
    margin_bits: int = 2,
) -> Quantized:
    """Quantize ``graph`` for ``hw`` (a profile, its name or a ``.toml`` path).

    ``calib``: calibration frames (an array ``(B, C, H, W)`` in [0, 1] or a path);
    default the task's training patches when the datasets are under ``data_root``,
    else the provable bound (and random frames for the headroom table). ``timesteps``:
    the T the readout scale is chosen for (default the model's). Returns the quantized
    graph with its report; raises InputError / UnsupportedModelError / ResourceLimitError.
    :func:`quantize` returns the graph alone.
    """
    import numpy as np

    from lava_spikingunet.fixed_point.headroom import headroom
    from lava_spikingunet.fixed_point.quantize import edge_errors, quantize_graph
    from lava_spikingunet.limits import (
        MAX_READOUT_MARGIN_BITS,
        check_lava_supported,
        check_timesteps,
    )
    from lava_spikingunet.pipeline import as_profile

    if not 0 <= margin_bits <= MAX_READOUT_MARGIN_BITS:
        raise ResourceLimitError(
            f"readout margin {margin_bits} bits: at most {MAX_READOUT_MARGIN_BITS} (each bit "
            "halves the readout's resolution)"
        )
    if theta_unit_bits is not None and not 0 <= theta_unit_bits <= MAX_THETA_UNIT_BITS:
        raise InputError(f"theta unit bits {theta_unit_bits}: 0 to {MAX_THETA_UNIT_BITS}")
    if timesteps is not None and timesteps < 1:
        raise InputError("T must be >= 1")
    profile = as_profile(hw)
    check_lava_supported(graph)
    steps = check_timesteps(timesteps or graph.meta.timesteps, "T")
    frames, source = _calibration(graph, calib, data_root, calib_frames)
    try:
        q = quantize_graph(
            graph, profile, theta_unit_bits, calib=frames, timesteps=steps, margin_bits=margin_bits
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if frames is None:
        source = "random frames"
        c, h, w = graph.node(graph.input_name).shape
        frames = np.random.default_rng(0).random((2, c, h, w))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = headroom(q, frames, timesteps=steps, delays=("graph", "balanced"))
    info = q.meta.quant.to_dict()
    report = {"fixed_point": info, "edges": edge_errors(q), "headroom": rep.to_dict()}
    q.meta.quant = replace(q.meta.quant, headroom=rep.to_dict())
    return Quantized(q, profile, steps, report, rep, source, [str(w.message) for w in caught])


def quantize(graph: SpikingGraph, hw: Any = "loihi2", **options: Any) -> SpikingGraph:
    """A fixed-point copy of ``graph`` for ``hw`` (a profile, its name or a ``.toml``).

    ``options``: ``calib`` (calibration frames ``(B, C, H, W)`` or a path; default the
    task's patches, else a provable bound), ``theta_unit_bits``, ``timesteps``,
    ``margin_bits``, ``calib_frames``, ``data_root`` (see :func:`quantize_with_report`).
    The headroom report is kept in the graph's fixed-point metadata.
    """
    return quantize_with_report(graph, hw, **options).graph
