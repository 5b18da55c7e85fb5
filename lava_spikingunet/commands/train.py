"""Train the float U-Net baseline for denoising or segmentation.

Tasks: denoise-grey (Train400 -> BSD68), denoise-colour (BSD200 -> CBSD68), drive,
isbi2012, camseq01. The run folder gets checkpoint.pt (resumable), final.pt (the
model) and metrics.json. An existing run is never replaced unless --resume or
--overwrite is given.
"""

from __future__ import annotations

import argparse
import os

HELP = "train a float U-Net on a dataset (CPU, seeded, resumable)"


def _sigma(text: str) -> tuple[float, float]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not 0 <= parts[0] <= parts[1]:
        raise argparse.ArgumentTypeError("--sigma takes S or LO,HI with 0 <= LO <= HI")
    return parts[0], parts[1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="denoise-grey, denoise-colour, drive, isbi2012 or camseq01")
    p.add_argument("--out", required=True, help="run folder for checkpoints and metrics")
    p.add_argument("--data-root", default=None, help="datasets folder (default ../shared/datasets)")
    p.add_argument("--width", type=int, default=16, help="U-Net base width (default 16)")
    p.add_argument("--depth", type=int, default=3, help="U-Net down stages (default 3)")
    p.add_argument("--steps", type=int, default=10000, help="optimizer steps (default 10000)")
    p.add_argument("--batch", type=int, default=16, help="patches per step (default 16)")
    p.add_argument("--patch", type=int, default=0, help="patch size (default: the task's)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate")
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    p.add_argument(
        "--sigma", type=_sigma, default=(25.0, 25.0), help="denoising noise: S or LO,HI (0..255)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--activation", choices=("relu", "ilif"), default="relu",
        help="relu (float U-Net) or ilif: integer-valued I-LIF activations for a "
        "one-timestep Spiking-UNet (docs/ilif.md); with --init it is quantization-aware "
        "fine-tuning",
    )  # fmt: skip
    p.add_argument(
        "--levels", type=int, default=15,
        help="I-LIF count levels D = 2^N - 1 (default 15: an MT neuron with N = 4)",
    )  # fmt: skip
    p.add_argument(
        "--sparsity", type=float, default=0.0,
        help="I-LIF synop penalty weight: loss += W * (synops per ANN MAC) (default 0)",
    )  # fmt: skip
    p.add_argument(
        "--sparsity-form", choices=("virtual", "graded"), default="virtual",
        help="what the penalty counts: virtual (every count k, the accumulate synops) or "
        "graded (k/(k+1): pushes small counts to zero, saving graded events)",
    )  # fmt: skip
    p.add_argument(
        "--weight-quant", default="", metavar="PROFILE",
        help="I-LIF only: train with the weights rounded to PROFILE's fixed point as the "
        "converter will round them (weight-aware fine-tuning, e.g. loihi2; docs/ilif.md)",
    )  # fmt: skip
    p.add_argument(
        "--stream-vth", type=float, default=0.0, metavar="COUNTS",
        help="I-LIF, video tasks (camseq01): train on clips of consecutive frames run as "
        "an sdnn stream that sends a change of at least COUNTS (docs/ilif.md)",
    )  # fmt: skip
    p.add_argument("--stream-frames", type=int, default=3, help="frames per clip (--stream-vth)")
    p.add_argument(
        "--stream-warmup", type=int, default=0, metavar="FRAMES",
        help="--stream-vth: frames run before each clip without gradient, so that the "
        "clip starts deep in a stream",
    )  # fmt: skip
    p.add_argument(
        "--stream-penalty", type=float, default=0.0,
        help="--stream-vth: loss += W * (the stream's synops per ANN MAC per frame)",
    )  # fmt: skip
    p.add_argument(
        "--temporal", type=float, default=0.0, metavar="W",
        help="I-LIF, video tasks (camseq01): train on pairs of consecutive frames, each "
        "with its own loss, plus W * (the smooth count of changes of at least "
        "--temporal-vth counts between them, synops per ANN MAC; docs/ilif.md)",
    )  # fmt: skip
    p.add_argument(
        "--temporal-active", type=float, default=0.0, metavar="W",
        help="--temporal: loss += W * (the smooth count of un-rounded activations of at "
        "least --temporal-vth counts: what a frame alone sends, synops per ANN MAC)",
    )  # fmt: skip
    p.add_argument(
        "--temporal-vth", type=float, default=0.125, metavar="COUNTS",
        help="--temporal: the change that costs a message (default 0.125 counts)",
    )  # fmt: skip
    p.add_argument(
        "--init",
        default="",
        metavar="CKPT",
        help="start from this U-Net checkpoint's weights (fine-tuning, e.g. blind noise or I-LIF)",
    )
    p.add_argument("--eval-every", type=int, default=500, help="quick test-set evaluation")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="discard the run in --out")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="MINUTES",
        help="stop, checkpoint and evaluate after this much training time",
    )
    p.add_argument("--stop-at", type=int, default=None, help="pause after this step")
    p.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.training import TrainOptions, get_task, train

    get_task(args.task)
    if args.resume and args.overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if args.activation == "ilif":
        from lava_spikingunet.ann.ilif import levels_to_thresholds

        try:
            levels_to_thresholds(args.levels)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    if not args.sparsity >= 0:
        raise InputError(f"--sparsity must be >= 0, got {args.sparsity}")
    if not (args.stream_vth >= 0 and args.stream_penalty >= 0):
        raise InputError("--stream-vth and --stream-penalty must be >= 0")
    if args.stream_vth and args.activation != "ilif":
        raise InputError("--stream-vth needs --activation ilif")
    if not (args.temporal >= 0 and args.temporal_active >= 0 and args.temporal_vth > 0):
        raise InputError("--temporal and --temporal-active must be >= 0, --temporal-vth > 0")
    if args.temporal_active and not args.temporal:
        raise InputError("--temporal-active needs --temporal")
    if args.temporal and args.activation != "ilif":
        raise InputError("--temporal needs --activation ilif")
    if args.temporal and args.stream_vth:
        raise InputError("--temporal and --stream-vth exclude each other")
    if args.stream_frames < 2 or args.stream_warmup < 0:
        raise InputError("--stream-frames must be >= 2 and --stream-warmup >= 0")
    import math

    if not (math.isfinite(args.lr) and args.lr > 0):
        raise InputError(f"--lr must be a finite number > 0, got {args.lr}")
    if args.time_budget is not None and not (
        math.isfinite(args.time_budget) and args.time_budget > 0
    ):
        raise InputError(
            f"--time-budget must be a finite number of minutes > 0, got {args.time_budget}"
        )
    if args.warmup < 0:
        raise InputError(f"--warmup must be >= 0, got {args.warmup}")
    for name in ("steps", "batch", "width", "depth", "eval_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1")
    options = TrainOptions(
        task=args.task,
        width=args.width,
        depth=args.depth,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        warmup=args.warmup,
        seed=args.seed,
        patch=args.patch,
        sigma_min=args.sigma[0],
        sigma_max=args.sigma[1],
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        init=args.init,
        activation=args.activation,
        levels=args.levels if args.activation == "ilif" else 0,
        sparsity=args.sparsity,
        sparsity_form=args.sparsity_form,
        weight_quant=args.weight_quant,
        stream_vth=args.stream_vth,
        stream_frames=args.stream_frames,
        stream_penalty=args.stream_penalty,
        stream_warmup=args.stream_warmup,
        temporal=args.temporal,
        temporal_active=args.temporal_active,
        temporal_vth=args.temporal_vth,
    )
    summary = train(
        options,
        args.out,
        data_root=args.data_root,
        resume=args.resume,
        overwrite=args.overwrite,
        time_budget_s=None if args.time_budget is None else 60.0 * args.time_budget,
        stop_at=args.stop_at,
        threads=args.threads,
        progress=not args.no_progress,
    )
    if "metrics" in summary:
        print(f"wrote {args.out}/final.pt and {args.out}/metrics.json")
    return 0
