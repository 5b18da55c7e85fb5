"""Quantize a Spiking-UNet to fixed point for a hardware profile.

Every neuron layer gets an integer threshold unit 2^bits (``--theta-unit-bits``, default
the profile's state bits minus 16: 8 on Loihi 2) and integer biases in the profile's bias
format; every synaptic edge an 8-bit (profile) mantissa and the exponent that minimises
its squared error; the readout a power-of-two scale that keeps its accumulator inside
the state bits on the calibration frames (with 2 bits of margin) or, without them, under
a provable bound. The static input edge stays float (computed on the host). Prints the
per-layer headroom table (largest state and current against the profile's bounds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "quantize a Spiking-UNet to fixed point for a hardware profile"

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="converted or fine-tuned Spiking-UNet (.pt)")
    p.add_argument("--out", required=True, help="fixed-point Spiking-UNet file (.pt)")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml (default loihi2)")
    p.add_argument(
        "--theta-unit-bits", type=_nonneg_int, default=None,
        help="integer threshold unit 2^bits (default: state bits - 16, i.e. 8 on Loihi 2)",
    )  # fmt: skip
    p.add_argument(
        "--calib-data", default=None,
        help="calibration frames: an image, a folder of images, or a .npy/.pt array "
        "(B, C, H, W) in [0, 1]; default: the task's training patches if the datasets are "
        "present, else the provable bound (and random frames for the headroom table)",
    )  # fmt: skip
    p.add_argument("--calib-frames", type=_nonneg_int, default=8, help="frames used (default 8)")
    p.add_argument("--data-root", default=None, help="datasets folder (default ../shared/datasets)")
    p.add_argument(
        "--T", dest="timesteps", type=_nonneg_int, default=None,
        help="time steps the readout scale is chosen for (default: the model's)",
    )  # fmt: skip
    p.add_argument(
        "--readout-margin-bits", type=_nonneg_int, default=2,
        help="bits of margin over the calibrated readout peak (default 2)",
    )  # fmt: skip
    p.add_argument("--json", default=None, help="also write the quantization report here")
    p.add_argument("--overwrite", action="store_true", help="replace --out / --json if they exist")


def load_frames(path: str | Path, graph, limit: int):
    """Up to ``limit`` frames ``(B, C, H, W)`` float64 for ``graph``, cropped/padded to its
    input size; UserError on anything unreadable or of the wrong channel count."""
    import numpy as np

    from lava_spikingunet.errors import UserError

    path = Path(path)
    c, h, w = graph.node(graph.input_name).shape
    if not path.exists():
        raise UserError(f"calibration data {path} not found")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
        frames = [read_frame(f, c) for f in files[:limit]]
    elif path.suffix.lower() in (".npy", ".pt"):
        arr = _read_array(path)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1] != c:
            raise UserError(f"{path}: expected (B, {c}, H, W) frames, got shape {arr.shape}")
        frames = list(arr[:limit])
    else:
        frames = [read_frame(path, c)]
    out = np.stack([fit_frame(f, h, w) for f in frames])
    if not np.all(np.isfinite(out)):
        raise UserError(f"{path}: calibration frames contain NaN or infinite values")
    return out


def _read_array(path: Path):
    import numpy as np

    from lava_spikingunet.data.imageio import frames_from_array, load_npy
    from lava_spikingunet.errors import UserError

    if path.suffix.lower() == ".npy":
        arr = load_npy(path)
    else:
        try:
            import torch

            arr = torch.load(path, map_location="cpu", weights_only=True)
            arr = arr.numpy() if hasattr(arr, "numpy") else np.asarray(arr)
        except Exception as exc:  # noqa: BLE001 - any failure means an unreadable file
            raise UserError(f"{path}: cannot read an array ({exc})") from exc
    if arr.ndim not in (3, 4):
        raise UserError(f"{path}: expected (B, C, H, W) frames, got shape {arr.shape}")
    return frames_from_array(arr, path)


def read_frame(path: Path, channels: int):
    """An image file as float64 ``(C, H, W)`` in [0, 1]; UserError on a channel mismatch."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from lava_spikingunet.data.imageio import MAX_IMAGE_PIXELS, read_image, to_float
    from lava_spikingunet.errors import UserError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                bands = 1 if im.mode in ("1", "L", "LA", "I", "F") or im.mode[:4] == "I;16" else 3
                if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                    raise UserError(
                        f"image {path} is {im.size[0]}x{im.size[1]} pixels, more than the "
                        f"{MAX_IMAGE_PIXELS} this reads; crop or downscale it first"
                    )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"image {path} refused as a decompression bomb: {exc}") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from exc
    if channels not in (1, 3):
        raise UserError(f"model takes {channels} input channels; only 1 or 3 come from images")
    if bands != channels:
        kind = {1: "grey", 3: "colour"}
        raise UserError(
            f"{path} is a {kind[bands]} image ({bands} channel(s)) but the model takes "
            f"{channels} ({kind[channels]}); convert the image first"
        )
    return to_float(read_image(path, "L" if channels == 1 else "RGB")).astype("float64")


def fit_frame(frame, h: int, w: int):
    """Crop ``(C, H', W')`` to its top-left ``h x w``; pad (reflect) if smaller."""
    import numpy as np

    frame = frame[:, :h, :w]
    ph, pw = h - frame.shape[1], w - frame.shape[2]
    if ph or pw:
        mode = "reflect" if min(frame.shape[1:]) > max(ph, pw) else "edge"
        frame = np.pad(frame, ((0, 0), (0, ph), (0, pw)), mode=mode)
    return frame


def task_frames(graph, data_root, limit: int):
    """Input patches of the graph's task (``meta.extra["task_name"]``), or None."""
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
    c, h, w = graph.node(graph.input_name).shape
    if x.shape[1] != c:
        return None
    from lava_spikingunet.reference.input_current import size_multiple

    m = size_multiple(graph)
    hh, ww = x.shape[2] - x.shape[2] % m, x.shape[3] - x.shape[3] % m
    return x[:, :, :hh, :ww] if hh and ww else None


def run(args: argparse.Namespace) -> int:
    import json
    import warnings

    import numpy as np

    from lava_spikingunet.errors import UserError
    from lava_spikingunet.fileio import check_writable, write_text_atomic
    from lava_spikingunet.fixed_point.headroom import headroom
    from lava_spikingunet.fixed_point.quantize import edge_errors, quantize_graph
    from lava_spikingunet.graph.serialize import load_graph, save_graph
    from lava_spikingunet.hw import load_profile
    from lava_spikingunet.limits import (
        MAX_READOUT_MARGIN_BITS,
        check_lava_supported,
        check_timesteps,
    )

    check_writable(args.out, args.overwrite)
    if args.json:
        check_writable(args.json, args.overwrite, what="--json")
    if args.readout_margin_bits > MAX_READOUT_MARGIN_BITS:
        raise UserError(
            f"--readout-margin-bits {args.readout_margin_bits}: at most "
            f"{MAX_READOUT_MARGIN_BITS} (each bit halves the readout's resolution)"
        )
    if args.theta_unit_bits is not None and args.theta_unit_bits > 30:
        raise UserError(f"--theta-unit-bits {args.theta_unit_bits}: at most 30")
    profile = load_profile(args.hw)
    graph = load_graph(args.model)
    check_lava_supported(graph, str(args.model))
    if args.timesteps == 0:
        raise UserError("--T must be >= 1")
    steps = check_timesteps(args.timesteps or graph.meta.timesteps, "--T")
    if args.calib_data:
        calib, source = load_frames(args.calib_data, graph, max(1, args.calib_frames)), "files"
    else:
        calib, source = task_frames(graph, args.data_root, args.calib_frames), "task patches"
    try:
        q = quantize_graph(
            graph,
            profile,
            args.theta_unit_bits,
            calib=calib,
            timesteps=steps,
            margin_bits=args.readout_margin_bits,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if calib is None:
        source = "random frames"
        c, h, w = graph.node(graph.input_name).shape
        calib = np.random.default_rng(0).random((2, c, h, w))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = headroom(q, calib, timesteps=steps, delays=("graph", "balanced"))
    info = q.meta.extra["fixed_point"]
    ro = q.node(q.readout_name)
    print(
        f"quantized for {profile.name}: theta_unit_int = 2^{info['theta_unit_bits']}, "
        f"readout scale 2^{int(np.log2(ro.scale))} (from {info['readout_scale_from']}), "
        f"T = {steps}"
    )
    worst = max(edge_errors(q), key=lambda r: r["rel_rms_error"])
    print(
        f"largest relative RMS weight error {worst['rel_rms_error']:.2e} ({worst['edge']}, "
        f"exp {worst['exp']})"
    )
    print(
        f"headroom on {rep.frames} frame(s) ({source}), worst of the model's and balanced "
        "delays, every layer on every step:"
    )
    print(rep.table())
    for w in caught:
        print(f"warning: {w.message}")
    report = {"fixed_point": dict(info), "edges": edge_errors(q), "headroom": rep.to_dict()}
    info["headroom"] = rep.to_dict()
    save_graph(args.out, q, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=2), overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0
