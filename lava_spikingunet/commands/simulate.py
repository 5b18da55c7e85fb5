"""Run a fixed-point Spiking-UNet on an image (PyTorch integer reference or Lava CPU simulator).

The reference backend is the bit-exact PyTorch integer simulation of docs/semantics.md;
it runs any frame whose sides divide by 2^depth (other sizes are padded, reflect, and the
output cropped back). ``--delays`` picks the edge delays: the model's own (``graph``,
default), Lava's ``native`` ones (1 per synapse, 0 for the static input), ``balanced``
(every input of a node arrives together: step t + depth computes the zero-latency step
t) or ``zero`` (the paper's zero-latency simulation). A frame costs depth + T steps.
``--form`` picks the Lava backend's neuron form (graded, binary cascade or virtual
steps; default the model's); the reference computes the counts every form shares, so its
output does not depend on it.

``--out`` writes the result: ``.png``/``.jpg`` the task output (denoised image or
segmentation mask), ``.json`` the integer readout accumulator, ``y`` and per-layer
headroom, ``.npz`` the same as arrays.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lava_spikingunet.neuron_forms import NEURON_FORMS

HELP = "run a model on an image with the integer reference or Lava"

OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".json", ".npz")


@dataclass
class SimOutput:
    """What a backend returns for one frame ``(C, H, W)``."""

    acc: Any  # int64 readout accumulator
    y: Any  # float64 acc / (T * scale)
    timesteps: int
    total_steps: int
    pipeline_depth: int
    stats: dict[str, dict] = field(default_factory=dict)


class BackendUnavailable(Exception):
    """The backend is not built (yet) or not installed."""


def run_reference(graph, frame, timesteps: int) -> SimOutput:
    """The PyTorch integer reference (any frame size dividing by 2^depth)."""
    from dataclasses import asdict

    from lava_spikingunet.reference.simulator import simulate

    res = simulate(graph, frame[None], timesteps=timesteps)
    return SimOutput(
        acc=res.acc[0].numpy(),
        y=res.y[0].numpy(),
        timesteps=res.timesteps,
        total_steps=res.total_steps,
        pipeline_depth=res.start[graph.readout_name],
        stats={n: asdict(s) for n, s in res.stats.items()},
    )


def run_lava(graph, frame, timesteps: int) -> SimOutput:
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


#: Backend name -> function(graph, frame (C, H, W) float64, timesteps) -> SimOutput.
BACKENDS: dict[str, Callable[..., SimOutput]] = {"reference": run_reference, "lava": run_lava}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="quantized Spiking-UNet: .pt (spikingunet quantize) or netx .h5")
    p.add_argument(
        "--image", required=True,
        help="input image (PNG/JPG, grey or colour as the model takes) or a .npy (C, H, W) "
        "float array in [0, 1]",
    )  # fmt: skip
    p.add_argument("--backend", choices=sorted(BACKENDS), default="reference")
    p.add_argument(
        "--delays", choices=("graph", "native", "balanced", "zero"), default="graph",
        help="edge delays: the model's own (default), Lava's native, balanced or zero",
    )  # fmt: skip
    p.add_argument(
        "--T", dest="timesteps", type=_positive_int, default=None,
        help="time steps (default: the model's)",
    )  # fmt: skip
    p.add_argument(
        "--form", choices=NEURON_FORMS, default=None,
        help="neuron form of the Lava backend (default: the model's); every form gives the "
        "same output, bit for bit",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="result file: .png/.jpg, .json or .npz")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--stream", action="store_true",
        help="video: --image is a folder of frames (or an (F, C, H, W) .npy) run back to back "
        "through the sigma-delta (sdnn) form, only changes travel (docs/semantics.md section 6)",
    )  # fmt: skip
    p.add_argument("--hold", type=_positive_int, default=None, help="--stream: steps per frame")
    p.add_argument("--vth", type=float, default=0.0, help="--stream: delta threshold (float)")


def load_model(path: str | Path):
    """A graph from a ``.pt`` (save_graph) or netx ``.h5`` file; UserError otherwise."""
    from lava_spikingunet.errors import UserError

    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        try:
            from lava_spikingunet.backends.netx import load_netx
        except ImportError as exc:
            raise UserError(f"{path}: netx files need the netx backend ({exc})") from exc
        return load_netx(path)
    from lava_spikingunet.graph.serialize import load_graph

    return load_graph(path)


def load_input(path: str | Path, channels: int):
    """The input frame as float64 ``(C, H, W)``; UserError on channels or non-finite values."""
    import numpy as np

    from lava_spikingunet.commands.quantize import read_frame
    from lava_spikingunet.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image {path} not found")
    if path.suffix.lower() == ".npy":
        from lava_spikingunet.data.imageio import frames_from_array, load_npy

        arr = load_npy(path)
        if arr.ndim not in (2, 3):
            raise UserError(f"{path}: expected (C, H, W) or (H, W), got shape {arr.shape}")
        arr = frames_from_array(arr, path)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise UserError(f"{path}: expected (C, H, W) or (H, W), got shape {arr.shape}")
        if arr.shape[0] != channels:
            raise UserError(f"{path} has {arr.shape[0]} channel(s) but the model takes {channels}")
    else:
        arr = read_frame(path, channels)
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{path}: the image contains NaN or infinite values")
    return arr


def prediction(task: str, x, y):
    """Task output: denoising ``clean = x - y``; segmentation the class (mask) per pixel."""
    import numpy as np

    if task == "denoise":
        return x - y
    return (y[0] > 0).astype(np.int64) if y.shape[0] == 1 else np.argmax(y, axis=0)


def _write_image(path: Path, task: str, pred, overwrite: bool) -> None:
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


def write_result(path: str | Path, out: SimOutput, pred, meta: dict, overwrite: bool) -> None:
    import json

    import numpy as np

    from lava_spikingunet.fileio import atomic_path, write_text_atomic

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        _write_image(path, meta["task"], pred, overwrite)
    elif suffix == ".json":
        doc = {
            **meta,
            "timesteps": out.timesteps,
            "total_steps": out.total_steps,
            "pipeline_depth": out.pipeline_depth,
            "acc": out.acc.astype(np.int64).tolist(),
            "y": out.y.tolist(),
            "stats": out.stats,
        }
        write_text_atomic(path, json.dumps(doc), overwrite=overwrite)
    else:
        with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, acc=out.acc, y=out.y, prediction=pred)


def run(args: argparse.Namespace) -> int:
    import time

    from lava_spikingunet.commands import not_implemented
    from lava_spikingunet.errors import UserError
    from lava_spikingunet.fileio import check_writable
    from lava_spikingunet.limits import (
        check_lava_memory,
        check_reference_memory,
        check_timesteps,
    )
    from lava_spikingunet.reference.input_current import size_multiple
    from lava_spikingunet.reference.module import pad_frames, with_delays

    if getattr(args, "stream", False):
        from lava_spikingunet.backends.sdnn.stream import run_stream

        return run_stream(args)
    if args.out:
        check_writable(args.out, args.overwrite, suffixes=OUT_SUFFIXES)
    graph = load_model(args.model)
    if not graph.is_quantized:
        raise UserError(f"{args.model} is not quantized; run `spikingunet quantize` first")
    graph = with_delays(graph, args.delays)
    if getattr(args, "form", None):
        graph.meta.neuron_form = args.form
    channels = graph.node(graph.input_name).shape[0]
    x = load_input(args.image, channels)
    steps = check_timesteps(args.timesteps or graph.meta.timesteps, "--T")

    import torch

    xp, (h, w) = pad_frames(torch.as_tensor(x)[None], size_multiple(graph))
    sized = graph
    if tuple(xp.shape[2:]) != graph.node(graph.input_name).shape[1:]:
        sized = graph.resized(*xp.shape[2:])
    if args.backend == "lava":
        check_lava_memory(sized, graph.meta.neuron_form)
    else:
        check_reference_memory(sized)
    t0 = time.perf_counter()
    try:
        out = BACKENDS[args.backend](graph, xp[0].numpy(), steps)
    except BackendUnavailable:
        return not_implemented(f"simulate --backend {args.backend}")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    seconds = time.perf_counter() - t0
    out.acc, out.y = out.acc[:, :h, :w], out.y[:, :h, :w]
    pred = prediction(graph.meta.task, x, out.y)
    saturated = [n for n, s in out.stats.items() if s.get("saturated")]
    print(
        f"{args.backend}"
        + (f" ({graph.meta.neuron_form} form)" if args.backend == "lava" else "")
        + f": {h}x{w} frame, T={out.timesteps}, delays {args.delays}, pipeline "
        f"depth {out.pipeline_depth}, {out.total_steps} steps, {seconds:.2f} s"
    )
    print(f"readout y in [{out.y.min():.4g}, {out.y.max():.4g}] ({graph.meta.task})")
    if saturated:
        print(f"warning: saturated in {', '.join(saturated)}")
    if args.out:
        meta = {
            "model": str(args.model),
            "image": str(args.image),
            "backend": args.backend,
            "form": graph.meta.neuron_form if args.backend == "lava" else None,
            "delays": args.delays,
            "task": graph.meta.task,
            "seconds": seconds,
        }
        write_result(args.out, out, pred, meta, args.overwrite)
        print(f"wrote {args.out}")
    return 0
