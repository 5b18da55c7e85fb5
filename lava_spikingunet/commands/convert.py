"""Calibrate activations and convert a U-Net checkpoint into a Spiking-UNet graph.

The U-Net runs over training batches of its task (forward hooks record every
activation point); each neuron layer gets a normalization scale (the 99.9th
percentile, or the maximum), connection-wise (each source its own) or layer-wise (one
per layer input tensor: the two halves of a decoder concat share one). The graph is
written with Lava's native delays; `spikingunet simulate` / the float simulator run it
with zero delays (the paper's zero-latency semantics) unless told otherwise.
"""

from __future__ import annotations

import argparse
import os

from lava_spikingunet.commands import positive_int

HELP = "convert a trained U-Net into a multi-threshold Spiking-UNet"


def parse_percentile(text: str) -> float:
    """``max`` or a number in (0, 100]."""
    if text.strip().lower() == "max":
        return 100.0
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--percentile takes a number or 'max', not {text!r}"
        ) from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"--percentile must be in (0, 100], got {value}")
    return value


def parse_frame(text: str) -> tuple[int, int]:
    """``HxW`` (e.g. ``512x512``)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frame takes HxW, e.g. 256x256, not {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"--frame sizes must be positive, got {text!r}")
    from lava_spikingunet.limits import MAX_FRAME_SIDE

    if max(h, w) > MAX_FRAME_SIDE:
        raise argparse.ArgumentTypeError(
            f"--frame {text}: each side must be at most {MAX_FRAME_SIDE}"
        )
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="trained U-Net checkpoint (.pt)")
    p.add_argument("--out", required=True, help="converted Spiking-UNet file (.pt)")
    p.add_argument("--task", default=None, help="task of the data (default: the checkpoint's)")
    p.add_argument("--data-root", default=None, help="datasets folder (default ../shared/datasets)")
    p.add_argument(
        "--percentile", type=parse_percentile, default=99.9,
        help="activation percentile for the scales, or 'max' (default 99.9)",
    )  # fmt: skip
    p.add_argument(
        "--norm", choices=("connection", "layer"), default="connection",
        help="normalization: per source (connection) or per layer input (default connection)",
    )  # fmt: skip
    p.add_argument("--neuron", choices=("mt", "if"), default="mt", help="MT (default) or IF")
    p.add_argument(
        "--preset", choices=("deploy", "paper"), default="deploy",
        help="MT neuron settings: deploy (default: N=6, theta1=1, bias shift) or paper "
        "(N=4, theta1=2, no shift); the three options below override it",
    )  # fmt: skip
    p.add_argument("--thresholds", type=positive_int, default=None, help="MT thresholds N")
    p.add_argument(
        "--theta1", type=float, default=None,
        help="largest threshold in normalized units (IF: default 1 = lambda)",
    )  # fmt: skip
    p.add_argument("--reset", choices=("subtract", "zero"), default="subtract")
    p.add_argument(
        "--bias-shift", action=argparse.BooleanOptionalAction, default=None,
        help="add theta_N/(2T) to every neuron bias (round instead of floor over the "
        "window; not in the paper, better at short T)",
    )  # fmt: skip
    p.add_argument(
        "--T", dest="timesteps", type=positive_int, default=None,
        help="time steps (default: the paper's for the task: DRIVE 10, EM 50, CamSeq01 20, "
        "BSD68 10, CBSD68 20)",
    )  # fmt: skip
    p.add_argument(
        "--calib-batches", type=positive_int, default=16,
        help="training batches for calibration (default 16)",
    )  # fmt: skip
    p.add_argument("--batch", type=positive_int, default=16, help="patches per batch (default 16)")
    p.add_argument(
        "--max-samples", type=int, default=1 << 19,
        help="values kept per activation point (random subsample; 0: keep all, exact)",
    )  # fmt: skip
    p.add_argument(
        "--frame", type=parse_frame, default=None,
        help="graph frame size HxW (default: the first test image, padded to 2^depth)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="calibration subsample seed")
    p.add_argument(
        "--eval", type=int, default=0, metavar="N",
        help="also evaluate U-Net and Spiking-UNet on the first N test images",
    )  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import torch

    from lava_spikingunet.conversion import tasks as T
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.fileio import check_writable
    from lava_spikingunet.graph.serialize import save_graph
    from lava_spikingunet.graph.timing import pipeline_depth
    from lava_spikingunet.model_io import load_unet
    from lava_spikingunet.pipeline.convert import conversion_config, convert

    check_writable(args.out, args.overwrite)
    torch.set_num_threads(args.threads)
    unet = load_unet(args.checkpoint)
    meta = unet.checkpoint_meta
    task_name = args.task or meta.get("task")
    if not task_name:
        raise InputError(f"{args.checkpoint} names no task; pass --task")
    ilif = unet.config.activation == "ilif"
    if ilif and args.timesteps not in (None, 1):
        raise InputError("an I-LIF U-Net converts at T = 1 (its counts are one step); drop --T")
    cfg = conversion_config(
        preset=args.preset,
        neuron=args.neuron,
        norm=args.norm,
        percentile=args.percentile,
        reset=args.reset,
        thresholds=args.thresholds,
        theta1=args.theta1,
        bias_shift=args.bias_shift,
        timesteps=args.timesteps or T.PAPER_T.get(task_name, 10),
    )
    task = T.load_task(task_name, args.data_root, (meta.get("train") or {}).get("options"))
    m = unet.size_multiple
    if args.frame is None:
        _, h, w = T.first_test_image(task).shape
        frame = (h + (-h) % m, w + (-w) % m)
    else:
        frame = args.frame
        if frame[0] % m or frame[1] % m:
            raise InputError(f"--frame {frame[0]}x{frame[1]} must divide by 2^depth = {m}")
    graph = convert(
        unet,
        frame,
        task=task_name,
        config=cfg,
        data_root=args.data_root,
        batch=args.batch,
        max_batches=args.calib_batches,
        max_samples=args.max_samples,
        seed=args.seed,
        progress=not args.no_progress,
    )
    depth = pipeline_depth(graph)
    where = f"frame {frame[0]}x{frame[1]}, pipeline depth {depth} steps"
    if ilif:
        n = graph.node(graph.neurons()[0]).n_thresholds
        print(
            f"converted I-LIF U-Net (width {unet.config.base_width}, depth {unet.config.depth}, "
            f"D = {unet.config.levels}): MT N={n} theta1=1 with the half-quantum bias shift, "
            f"T=1, exact (no calibration), {where}, {depth + 1} steps per frame"
        )
    else:
        print(
            f"converted {task.name} U-Net (width {unet.config.base_width}, depth "
            f"{unet.config.depth}): {cfg.neuron.upper()} N={cfg.thresholds} theta1="
            f"{cfg.first_threshold:g}, {cfg.norm}-wise p={cfg.percentile:g}, T={cfg.timesteps}"
            f"{' (bias shift)' if cfg.bias_shift else ''}, {where}"
        )
        lam = graph.meta.extra["lambdas"]
        print("lambdas: " + ", ".join(f"{k}={v:.3g}" for k, v in lam.items()))
    if args.eval:
        from lava_spikingunet.snn.module import SpikingUNetModule

        ann = T.evaluate(task, unet, args.eval)
        snn = T.evaluate(task, SpikingUNetModule(graph), args.eval)
        key = T.primary_metric(task)
        print(
            f"{key} on {args.eval} test images: U-Net {ann[key]:.4f}, Spiking-UNet {snn[key]:.4f}"
        )
        graph.meta.extra["conversion_eval"] = {"images": args.eval, "unet": ann, "snn": snn}
    save_graph(args.out, graph, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    return 0
