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


def read_layer_vth(path: str | Path, graph) -> tuple[dict[str, float], float]:
    """``(per-layer thresholds in I-LIF counts, their base)`` from a JSON file:
    ``{"layer": counts, ...}`` (base 1) or a ``benchmarks/stream_vth_search.py`` result (its
    ``layer_vth``, found at its ``--base``). A stream at ``vth`` counts scales the map by
    ``vth / base``: layers not in the map take ``vth`` itself."""
    from lava_spikingunet.errors import UserError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read a per-layer threshold table ({e})") from None
    base = 1.0
    if isinstance(data, dict) and "layer_vth" in data:
        base = float((data.get("meta") or {}).get("base", 1.0))
    table = data.get("layer_vth", data) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:
        raise UserError(f"{path}: expected a {{layer: vth}} table or a search result")
    bad = [k for k, v in table.items() if not isinstance(v, int | float) or not v >= 0]
    if bad or not base > 0:
        raise UserError(f"{path}: thresholds must be numbers >= 0 (and the base > 0)")
    unknown = sorted(set(table) - set(graph.neurons()))
    if unknown:
        raise UserError(f"{path}: no such layers in the network: {', '.join(unknown)}")
    return {str(k): float(v) for k, v in table.items()}, base


def stream_vth(
    graph,
    vth: float = 0.0,
    vth_counts: float | None = None,
    layer_vth: tuple[dict[str, float], float] | None = None,
) -> dict[str, int]:
    """Per-neuron thresholds in message units: ``vth`` in float units, or ``vth_counts``
    in I-LIF counts; ``layer_vth`` (:func:`read_layer_vth`, counts) overrides the layers it
    names, scaled by ``vth_counts / base``."""
    from lava_spikingunet.reference.sigma_delta import vth_from_counts, vth_from_float

    v = vth_from_float(graph, vth) if vth_counts is None else vth_from_counts(graph, vth_counts)
    if layer_vth:
        table, base = layer_vth
        scale = 1.0 if vth_counts is None else vth_counts / base
        for name, counts in table.items():
            v[name] = vth_from_counts(graph, counts * scale)[name]
    return v


def pad_hold(cur: np.ndarray, hold: int, latency: int) -> np.ndarray:
    """The frames followed by copies of the last one, until the last frame's readout step
    ``(F - 1) * hold + latency`` is inside ``F' * hold`` steps (for Lava, which runs
    whole holds)."""
    extra = max(0, -(-(latency + 1 - hold) // hold))
    return np.concatenate([cur, np.repeat(cur[-1:], extra, axis=0)]) if extra else cur


def stream_frames(
    graph,
    frames: np.ndarray,
    hold: int | None,
    vth: float,
    backend: str,
    *,
    vth_counts: float | None = None,
    cum_error: bool = False,
    layer_vth: tuple[dict[str, float], float] | None = None,
):
    """Run ``frames`` ``(F, C, H, W)`` as one stream; returns ``(y (F, C, H, W), info)``.

    ``vth`` in float units, or ``vth_counts`` in I-LIF counts (graphs converted from an
    I-LIF U-Net), per-layer ``layer_vth`` (:func:`stream_vth`); ``cum_error``: the
    neurons' ``SigmaDelta`` ``cum_error`` mode. Frame ``f``'s result is read once it has
    crossed the network: ``max(hold, settle) - 1`` steps after it arrives, so a hold
    shorter than the settle steps streams as a pipeline and ``y[f]`` is still frame
    ``f``'s."""
    import torch

    from lava_spikingunet.profiling.synops import edge_macs
    from lava_spikingunet.reference.input_current import input_current, size_multiple
    from lava_spikingunet.reference.module import pad_frames
    from lava_spikingunet.reference.sigma_delta import rest_steps_of, simulate_sdnn

    xp, (h, w) = pad_frames(torch.as_tensor(frames), size_multiple(graph))
    g = graph.resized(*xp.shape[2:])
    cur = np.stack([input_current(g, f[None]) for f in xp.numpy()])
    settle = int(g.meta.extra["sdnn"]["steps"])
    hold = int(hold or settle)
    latency = max(hold, settle) - 1
    v = stream_vth(g, vth, vth_counts, layer_vth)
    n = cur.shape[0]
    t0 = time.perf_counter()
    if backend == "lava":
        from lava_spikingunet.backends.sdnn.network import run_sdnn

        res = run_sdnn(
            g, pad_hold(cur, hold, latency), hold, vth=v, record=False, rest=True,
            cum_error=cum_error,
        )  # fmt: skip
        at = rest_steps_of(g, True) + np.arange(n) * hold + latency
        y = res.readout_steps[at] / float(g.node(g.readout_name).scale)
        synops = None
    else:
        res = simulate_sdnn(g, cur, hold, vth=v, latency=latency, rest=True, cum_error=cum_error)
        y = res.y[:, 0]
        win = res.synops[: n * hold].reshape(n, hold).sum(axis=1)
        win[-1] += res.synops[n * hold :].sum()  # a pipeline's drain: the last frame's
        synops = win
    macs = sum(edge_macs(e, g.node(s).shape) for s, _, e in g.edges())
    info = {
        "frames": int(frames.shape[0]),
        "hold": hold,
        "vth": vth if vth_counts is None else None,
        "vth_counts": vth_counts,
        "layer_vth": None if not layer_vth else layer_vth[0],
        "layer_vth_base": None if not layer_vth else layer_vth[1],
        "latency": latency,
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
    layer = None
    if getattr(args, "layer_vth", None):
        if not is_ilif_graph(graph):
            raise UserError(f"{args.model}: --layer-vth (I-LIF counts) needs an I-LIF model")
        if args.vth:
            raise UserError("--layer-vth scales with --vth-counts, not --vth")
        layer = read_layer_vth(args.layer_vth, graph)
        counts = layer[1] if counts is None else counts  # default: the map as found
    frames = load_frames(args.image, graph.node(graph.input_name).shape[0])
    cum = bool(getattr(args, "cum_error", False))
    y, info = stream_frames(
        graph, frames, args.hold, args.vth, args.backend, vth_counts=counts, cum_error=cum,
        layer_vth=layer,
    )  # fmt: skip
    syn = info["synops_per_frame"]
    threshold = f"vth {args.vth:g}" if counts is None else f"vth {counts:g} counts"
    if layer:
        threshold += f" (per-layer map {args.layer_vth} scaled by {counts / layer[1]:g})"
    print(
        f"sdnn stream ({args.backend}): {info['frames']} frames {frames.shape[2]}x"
        f"{frames.shape[3]}, hold {info['hold']} steps, {threshold}"
        f"{', cum_error' if cum else ''}, results read {info['latency']} steps after each "
        f"frame arrives, {info['seconds']:.2f} s"
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
