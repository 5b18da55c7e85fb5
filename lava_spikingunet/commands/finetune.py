"""Fine-tune a converted Spiking-UNet at short T (accumulated spiking flow, Algorithm 1).

Each step runs the spiking network on a batch of the task's training patches, then a
rate-level surrogate pass carries the gradient through each layer's accumulated input
(see docs/conversion.md). The graph's float weights and biases are trained with Adam;
thresholds and scales stay. The result is a graph of the same form, with T set to the
fine-tuning T.
"""

from __future__ import annotations

import argparse
import os

from lava_spikingunet.commands import positive_int

HELP = "fine-tune a converted Spiking-UNet with accumulated spiking flow"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="converted Spiking-UNet (.pt from `spikingunet convert`)")
    p.add_argument("--out", required=True, help="fine-tuned Spiking-UNet file")
    p.add_argument(
        "--T", dest="timesteps", type=positive_int, default=None,
        help="time steps to fine-tune at (default: the model's T)",
    )  # fmt: skip
    p.add_argument("--steps", type=positive_int, default=200, help="optimizer steps (default 200)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument("--batch", type=positive_int, default=8, help="patches per step (default 8)")
    p.add_argument("--patch", type=int, default=0, help="patch size (default: the task's)")
    p.add_argument(
        "--time-budget", type=float, default=None, metavar="MINUTES",
        help="stop after this much fine-tuning time",
    )  # fmt: skip
    p.add_argument("--task", default=None, help="task of the data (default: the model's)")
    p.add_argument("--data-root", default=None, help="datasets folder (default ../shared/datasets)")
    p.add_argument("--seed", type=int, default=1, help="seed of the training patches and Adam")
    p.add_argument(
        "--val-batches", type=int, default=2,
        help="held-out batches for keeping the best step (0: keep the last; default 2)",
    )  # fmt: skip
    p.add_argument(
        "--eval", type=int, default=0, metavar="N",
        help="evaluate before and after on the first N test images",
    )  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from lava_spikingunet.conversion import tasks as T
    from lava_spikingunet.conversion.finetune import FinetuneConfig, finetune
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.fileio import check_writable
    from lava_spikingunet.graph.serialize import load_graph, save_graph
    from lava_spikingunet.snn.module import SpikingUNetModule

    check_writable(args.out, args.overwrite)
    if not 0 < args.lr < float("inf"):
        raise InputError(f"--lr must be a finite number > 0, got {args.lr}")
    if args.time_budget is not None and args.time_budget < 0:
        raise InputError("--time-budget must be >= 0 minutes")
    torch.set_num_threads(args.threads)
    graph = load_graph(args.model)
    if graph.is_quantized:
        print(
            "note: the model is quantized; the fine-tuned one keeps float weights only "
            "(quantize it again)"
        )
    task_name = args.task or graph.meta.extra.get("task_name")
    if not task_name:
        raise InputError(f"{args.model} names no task; pass --task")
    task = T.load_task(
        task_name, args.data_root, graph.meta.extra.get("train_options"), args.seed, args.patch
    )
    m = 1 << int(graph.meta.extra.get("unet_config", {}).get("depth", 0))
    if task.patch % m:
        raise InputError(f"patch {task.patch} must divide by 2^depth = {m}; pass --patch")
    cfg = FinetuneConfig(
        timesteps=args.timesteps,
        steps=args.steps,
        lr=args.lr,
        time_budget=None if args.time_budget is None else 60.0 * args.time_budget,
        seed=args.seed,
        val_batches=max(0, args.val_batches),
    )
    key = T.primary_metric(task)
    if args.eval:
        before = T.evaluate(task, SpikingUNetModule(graph, args.timesteps), args.eval)
    batches = T.training_batches(task, args.batch)
    res = finetune(graph, batches, cfg, loss_fn=task.loss, progress=not args.no_progress)
    tuned = res.graph
    if res.losses:
        k = max(1, len(res.losses) // 10)
        first, last = sum(res.losses[:k]) / k, sum(res.losses[-k:]) / k
        print(
            f"fine-tuned {res.steps} steps at T={tuned.meta.timesteps} in {res.seconds:.0f} s "
            f"({res.stopped}); spiking training loss {first:.4g} -> {last:.4g} "
            f"(mean of first/last {k} steps)"
        )
    if res.val_losses:
        v0, best = res.val_losses[0][1], min(v for _, v in res.val_losses)
        print(f"kept step {res.best_step}: held-out spiking loss {v0:.4g} -> {best:.4g}")
    if args.eval:
        after = T.evaluate(task, SpikingUNetModule(tuned), args.eval)
        print(f"{key} on {args.eval} test images: {before[key]:.4f} -> {after[key]:.4f}")
        tuned.meta.extra["finetune_eval"] = {"images": args.eval, "before": before, "after": after}
    save_graph(args.out, tuned, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    return 0
