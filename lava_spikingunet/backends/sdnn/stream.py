"""``spikingunet simulate --stream``: a sequence of frames through the ``sdnn`` form.

The frames run back to back as one stream (docs/semantics.md section 6) from the resting
state: each is held ``--hold`` steps (default: the settle steps of a static frame),
nothing is reset, only changes travel. The model is an ``sdnn`` netx file (:mod:`.netx`)
or any quantized model the simulate command reads, turned into the ``sdnn`` form on the
fly (:func:`to_sdnn`).
``--backend lava`` runs the stock-class Lava build (small frames); the default is the
sigma-delta reference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def load_frames(path: str | Path, channels: int) -> np.ndarray:
    """``(F, C, H, W)`` float64 from a folder of images (sorted by name) or a ``.npy``."""
    from lava_spikingunet.data.frames import read_frame
    from lava_spikingunet.errors import UserError

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise UserError(f"{path}: no .png/.jpg frames")
        frames = np.stack([read_frame(p, channels) for p in files])
    elif path.suffix.lower() == ".npy":
        frames = np.load(path, allow_pickle=False).astype(np.float64)
        if frames.ndim == 3:
            frames = frames[:, None]
    else:
        raise UserError(f"{path}: --stream takes a folder of frames or a (F, C, H, W) .npy")
    if frames.ndim != 4 or frames.shape[1] != channels:
        raise UserError(f"{path}: expected (F, {channels}, H, W) frames, got {frames.shape}")
    if not np.all(np.isfinite(frames)):
        raise UserError(f"{path}: the frames contain NaN or infinite values")
    return frames


def stream_frames(
    graph,
    frames: np.ndarray,
    hold: int | None,
    vth: float,
    backend: str,
    *,
    vth_counts: float | None = None,
    cum_error: bool = False,
):
    """Run ``frames`` ``(F, C, H, W)`` as one stream; returns ``(y (F, C, H, W), info)``.

    ``vth`` in float units, or ``vth_counts`` in I-LIF counts (graphs converted from an
    I-LIF U-Net); ``cum_error``: the neurons' ``SigmaDelta`` ``cum_error`` mode."""
    import torch

    from lava_spikingunet.profiling.synops import edge_macs
    from lava_spikingunet.reference.input_current import input_current, size_multiple
    from lava_spikingunet.reference.module import pad_frames
    from lava_spikingunet.reference.sigma_delta import (
        simulate_sdnn,
        vth_from_counts,
        vth_from_float,
    )

    xp, (h, w) = pad_frames(torch.as_tensor(frames), size_multiple(graph))
    g = graph.resized(*xp.shape[2:])
    cur = np.stack([input_current(g, f[None]) for f in xp.numpy()])
    hold = int(hold or g.meta.extra["sdnn"]["steps"])
    v = vth_from_float(g, vth) if vth_counts is None else vth_from_counts(g, vth_counts)
    t0 = time.perf_counter()
    if backend == "lava":
        from lava_spikingunet.backends.sdnn.network import run_sdnn

        res = run_sdnn(g, cur, hold, vth=v, record=False, rest=True, cum_error=cum_error)
        y = res.readout / float(g.node(g.readout_name).scale)
        synops = None
    else:
        res = simulate_sdnn(g, cur, hold, vth=v, rest=True, cum_error=cum_error)
        y = res.y[:, 0]
        synops = res.synops.reshape(-1, hold).sum(axis=1)
    macs = sum(edge_macs(e, g.node(s).shape) for s, _, e in g.edges())
    info = {
        "frames": int(frames.shape[0]),
        "hold": hold,
        "vth": vth if vth_counts is None else None,
        "vth_counts": vth_counts,
        "cum_error": bool(cum_error),
        "seconds": time.perf_counter() - t0,
        "ann_macs_per_frame": int(macs),
        "synops_per_frame": None if synops is None else [int(s) for s in synops],
    }
    return y[..., :h, :w], info


def run_stream(args: argparse.Namespace) -> int:
    """The ``--stream`` branch of ``spikingunet simulate``."""
    from lava_spikingunet.fileio import check_writable, write_text_atomic
    from lava_spikingunet.pipeline.simulate import prediction

    if args.out:
        check_writable(args.out, args.overwrite, suffixes=(".json", ".npz"))
    from lava_spikingunet.backends.sdnn.convert import is_ilif_graph
    from lava_spikingunet.backends.sdnn.stages import load_sdnn_model
    from lava_spikingunet.errors import UserError

    counts = getattr(args, "vth_counts", None)
    if counts is not None and args.vth:
        raise UserError("give the stream's threshold once: --vth or --vth-counts")
    if not (args.vth >= 0 and (counts is None or counts >= 0)):
        raise UserError("--vth and --vth-counts must be >= 0")
    graph = load_sdnn_model(args.model)
    if counts is not None and not is_ilif_graph(graph):
        raise UserError(
            f"{args.model}: --vth-counts needs a model converted from an I-LIF U-Net "
            "(its neurons count I-LIF quanta); use --vth (float units)"
        )
    frames = load_frames(args.image, graph.node(graph.input_name).shape[0])
    cum = bool(getattr(args, "cum_error", False))
    y, info = stream_frames(
        graph, frames, args.hold, args.vth, args.backend, vth_counts=counts, cum_error=cum
    )
    syn = info["synops_per_frame"]
    threshold = f"vth {args.vth:g}" if counts is None else f"vth {counts:g} counts"
    print(
        f"sdnn stream ({args.backend}): {info['frames']} frames {frames.shape[2]}x"
        f"{frames.shape[3]}, hold {info['hold']} steps, {threshold}"
        f"{', cum_error' if cum else ''}, {info['seconds']:.2f} s"
    )
    if syn:
        macs = info["ann_macs_per_frame"]
        rest = f", frames 2..: {np.mean(syn[1:]) / macs:.4f}" if len(syn) > 1 else ""
        print(f"synops per ANN MAC: frame 1 {syn[0] / macs:.4f}{rest}")
    if args.out:
        pred = np.stack(
            [prediction(graph.meta.task, x, yy) for x, yy in zip(frames, y, strict=True)]
        )
        out = Path(args.out)
        if out.suffix == ".npz":
            np.savez_compressed(out, y=y, prediction=pred, info=json.dumps(info))
        else:
            data = {"info": info, "y_range": [float(y.min()), float(y.max())]}
            write_text_atomic(out, json.dumps(data, indent=1) + "\n", overwrite=args.overwrite)
        print(f"wrote {args.out}")
    return 0
