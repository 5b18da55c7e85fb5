"""Simulate: run a Spiking-UNet on one frame with one of the backends.

- ``reference``: the bit-exact PyTorch integer simulation of docs/semantics.md;
- ``lava``: Lava's CPU simulator, ``Loihi2SimCfg(select_tag="fixed_pt")``, in the
  model's neuron form (or ``form``), bit-identical to the reference;
- ``float``: the same engine in float units (unquantized graphs too).

Frames whose sides do not divide by 2^depth are padded (reflect) and the output is
cropped back. A frame costs pipeline depth + T steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lava_spikingunet.errors import InputError
from lava_spikingunet.pipeline.outputs import SimOutput

if TYPE_CHECKING:
    import numpy as np

    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = [
    "BACKENDS",
    "BACKEND_NAMES",
    "OUT_SUFFIXES",
    "Backend",
    "SimOutput",
    "prediction",
    "run_float",
    "run_lava",
    "run_reference",
    "simulate",
    "write_result",
]

Backend = Literal["reference", "lava", "float"]
Delays = Literal["graph", "native", "balanced", "zero"]

#: Result files :func:`write_result` writes.
OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".json", ".npz")


def _reference(graph: SpikingGraph, frame: np.ndarray, timesteps: int, quantized: bool):
    from dataclasses import asdict

    from lava_spikingunet.reference.simulator import simulate as ref_simulate

    res = ref_simulate(graph, frame[None], timesteps=timesteps, quantized=quantized)
    return SimOutput(
        acc=res.acc[0].numpy(),
        y=res.y[0].numpy(),
        timesteps=res.timesteps,
        total_steps=res.total_steps,
        pipeline_depth=res.start[graph.readout_name],
        stats={n: asdict(s) for n, s in res.stats.items()},
    )


def run_reference(graph: SpikingGraph, frame: np.ndarray, timesteps: int) -> SimOutput:
    """The PyTorch integer reference (any frame size dividing by 2^depth)."""
    return _reference(graph, frame, timesteps, quantized=True)


def run_float(graph: SpikingGraph, frame: np.ndarray, timesteps: int) -> SimOutput:
    """The same engine in float units: the network before quantization."""
    return _reference(graph, frame, timesteps, quantized=False)


def run_lava(graph: SpikingGraph, frame: np.ndarray, timesteps: int) -> SimOutput:
    """Lava CPU simulator, ``Loihi2SimCfg(select_tag="fixed_pt")``, in the model's form."""
    from lava_spikingunet.backends.lava_network import run_lava as lava_run
    from lava_spikingunet.graph.timing import pipeline_depth
    from lava_spikingunet.reference.input_current import input_current

    if frame.shape[1:] != graph.node(graph.input_name).shape[1:]:
        graph = graph.resized(*frame.shape[1:])
    if timesteps != graph.meta.timesteps:
        graph = graph.copy()
        graph.meta.timesteps = timesteps
    res = lava_run(graph, input_current(graph, frame[None]), form=graph.meta.neuron_form)
    scale = graph.node(graph.readout_name).scale
    return SimOutput(
        acc=res.acc[0],
        y=res.output(scale)[0],
        timesteps=timesteps,
        total_steps=res.frame_len,
        pipeline_depth=pipeline_depth(graph),
    )


#: The backends :func:`simulate` runs.
BACKEND_NAMES: tuple[Backend, ...] = ("reference", "lava", "float")

#: Backend name -> function(graph, frame (C, H, W) float64, timesteps) -> SimOutput.
BACKENDS: dict[str, Callable[..., SimOutput]] = {
    "reference": run_reference,
    "lava": run_lava,
    "float": run_float,
}


def prediction(task: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Task output: denoising ``clean = x - y``; segmentation the class (mask) per pixel."""
    import numpy as np

    if task == "denoise":
        return x - y
    return (y[0] > 0).astype(np.int64) if y.shape[0] == 1 else np.argmax(y, axis=0)


def simulate(
    graph: SpikingGraph,
    frame: Any,
    backend: Backend = "reference",
    *,
    form: str | None = None,
    delays: Delays = "graph",
    timesteps: int | None = None,
    tile: tuple[int, int] | None = None,
) -> SimOutput | list[SimOutput]:
    """Run ``graph`` on ``frame`` (``(C, H, W)`` float in [0, 1]) with ``backend``; a
    batch ``(B, C, H, W)`` gives one :class:`SimOutput` per frame.

    ``form``: the Lava neuron form (default the model's; every form gives the same
    output, bit for bit). ``delays``: the model's own, Lava's ``native``, ``balanced``
    or ``zero``. ``timesteps``: T (default the model's). ``tile``: run the network on
    ``(H, W)`` tiles stitched exactly (``lava_spikingunet/tiling.py``, bit-identical to
    the whole frame); Lava tiles automatically when the whole frame would not fit.
    Raises :class:`InputError` for an unquantized graph on an integer backend or a frame
    of the wrong channel count, and ResourceLimitError when the run would not fit in
    memory.
    """
    import numpy as np
    import torch

    from lava_spikingunet.limits import check_reference_memory, check_timesteps
    from lava_spikingunet.neuron_forms import check_neuron_form
    from lava_spikingunet.reference.input_current import size_multiple
    from lava_spikingunet.reference.module import pad_frames, with_delays

    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "float" and not graph.is_quantized:
        raise InputError("the model is not quantized; quantize it first (or backend='float')")
    x = np.asarray(frame, dtype=np.float64)
    if x.ndim == 4:
        kw = {"form": form, "delays": delays, "timesteps": timesteps, "tile": tile}
        return [simulate(graph, f, backend, **kw) for f in x]  # type: ignore[misc]
    channels = graph.node(graph.input_name).shape[0]
    if x.ndim != 3 or x.shape[0] != channels:
        raise InputError(f"expected a ({channels}, H, W) frame, got shape {x.shape}")
    try:
        graph = with_delays(graph, delays)
        if form is not None and form != graph.meta.neuron_form:
            graph = graph.copy()
            graph.meta.neuron_form = check_neuron_form(form)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    steps = check_timesteps(timesteps or graph.meta.timesteps, "T")
    xp, (h, w) = pad_frames(torch.as_tensor(x)[None], size_multiple(graph))
    sized = graph
    if tuple(xp.shape[2:]) != graph.node(graph.input_name).shape[1:]:
        sized = graph.resized(*xp.shape[2:])
    from lava_spikingunet.tiling import choose_tile, simulate_tiled

    if tile is None and backend == "lava":
        tile = choose_tile(sized, graph.meta.neuron_form)  # None: the whole frame fits
    if tile is None and backend != "lava":
        check_reference_memory(sized)
    t0 = time.perf_counter()
    try:
        if tile is not None:
            out = simulate_tiled(graph, x, backend, steps, tile)
        else:
            out = BACKENDS[backend](graph, xp[0].numpy(), steps)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    out.seconds = time.perf_counter() - t0
    out.acc, out.y = out.acc[:, :h, :w], out.y[:, :h, :w]
    out.prediction = prediction(graph.meta.task, x, out.y)
    out.backend = backend
    out.form = graph.meta.neuron_form if backend == "lava" else None
    return out


def _write_image(path: Path, task: str, pred: np.ndarray, overwrite: bool) -> None:
    import numpy as np
    from PIL import Image

    from lava_spikingunet.fileio import atomic_path

    if task == "denoise":
        img = np.clip(np.rint(pred * 255.0), 0, 255).astype(np.uint8)
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    else:
        top = max(int(pred.max()), 1)
        img = (pred * (255 // top)).astype(np.uint8)
    with atomic_path(path, overwrite) as tmp:
        Image.fromarray(img).save(tmp, format="PNG" if path.suffix == ".png" else "JPEG")


def write_result(
    path: str | Path, out: SimOutput, meta: dict, overwrite: bool = False, pred: Any = None
) -> None:
    """Write ``out`` atomically: ``.png``/``.jpg`` the task output (``meta["task"]``),
    ``.json`` the readout accumulator, ``y`` and headroom with ``meta``, ``.npz`` arrays."""
    import json

    import numpy as np

    from lava_spikingunet.fileio import atomic_path, write_text_atomic

    path = Path(path)
    pred = out.prediction if pred is None else pred
    suffix = path.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise InputError(f"{path}: result files are {', '.join(OUT_SUFFIXES)}")
    if suffix in (".png", ".jpg", ".jpeg"):
        _write_image(path, meta["task"], pred, overwrite)
    elif suffix == ".json":
        doc = {
            **meta,
            "timesteps": out.timesteps,
            "total_steps": out.total_steps,
            "pipeline_depth": out.pipeline_depth,
            "acc": np.asarray(out.acc).tolist(),
            "y": np.asarray(out.y).tolist(),
            "stats": out.stats,
        }
        write_text_atomic(path, json.dumps(doc), overwrite=overwrite)
    else:
        with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, acc=out.acc, y=out.y, prediction=pred)
