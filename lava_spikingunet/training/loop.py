"""The training loop: seeded, resumable, atomically checkpointed, time-bounded.

Run folder contents:

- ``checkpoint.pt``: the latest resumable state (weights + Adam + bookkeeping)
- ``final.pt``: the trained model without optimizer state (what later stages load)
- ``metrics.json``: the final test metrics, options, wall time and eval history

Batch ``s`` holds items ``s*B .. s*B+B-1`` of the task's index-seeded training set and
the learning rate is a pure function of the step, so a resumed run computes exactly
what an uninterrupted one does.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lava_spikingunet.ann.ilif import calibrate_thetas, record_counts, synops_per_mac
from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.ann.weight_quant import attach_weight_quant
from lava_spikingunet.checkpoints import load_checkpoint, save_checkpoint
from lava_spikingunet.errors import SpikingUNetError, UserError
from lava_spikingunet.fileio import write_text_atomic
from lava_spikingunet.training.options import TrainOptions
from lava_spikingunet.training.schedule import lr_at
from lava_spikingunet.training.tasks import Task, get_task

CHECKPOINT = "checkpoint.pt"
FINAL = "final.pt"
METRICS = "metrics.json"


def log(msg: str) -> None:
    """A line on stdout that does not collide with a running progress bar."""
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stdout)
    sys.stdout.flush()


def make_batch(dataset, step: int, batch: int) -> list[torch.Tensor]:
    """Items ``step*batch .. step*batch+batch-1`` stacked field by field."""
    items = [dataset[step * batch + i] for i in range(batch)]
    return [torch.stack(field) for field in zip(*items, strict=True)]


def _check_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    existing = [p for p in (out / CHECKPOINT, out / FINAL) if p.exists()]
    if existing and not (resume or overwrite):
        raise UserError(
            f"{out} already holds {existing[0].name}; pass --resume to continue that run "
            "or --overwrite to start it again from scratch"
        )
    if existing and overwrite and not resume:
        # Nothing is deleted here: the new run replaces each file (atomically) when it
        # writes its own, so a run that fails to start (bad data root, bad --init)
        # leaves the old one whole.
        log(f"note: --overwrite: the files in {out} are replaced as the new run writes them")


def _warm_start(model: UNet, path: str) -> bool:
    """Copy the weights of checkpoint ``path`` into ``model`` (same width and depth).

    Returns True when the checkpoint carried I-LIF steps (an I-LIF U-Net), which are
    then kept rather than calibrated again."""
    init = load_checkpoint(path)
    own = model.state_dict()
    missing = [k for k in init["state_dict"] if k not in own]
    mismatched = [k for k, v in init["state_dict"].items() if k in own and own[k].shape != v.shape]
    if missing or mismatched:
        raise UserError(
            f"--init {path} does not fit this U-Net "
            f"(unknown {missing[:3]}, other shapes {mismatched[:3]}); match --width/--depth"
        )
    model.load_state_dict(init["state_dict"], strict=False)
    log(f"warm start from {path}")
    return any(k.startswith("ilif.") for k in init["state_dict"])


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy: NaN/inf become None."""

    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return {k: fix(v) for k, v in metrics.items()}


def _fmt(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))


def train(
    options: TrainOptions,
    out: str | Path,
    data_root: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    time_budget_s: float | None = None,
    stop_at: int | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume) one run in ``out``; returns the summary written to metrics.json.

    ``time_budget_s`` bounds this invocation's training time: when it runs out the run is
    checkpointed and evaluated (``completed: false``) and can be resumed later.
    ``stop_at`` pauses after that step (checkpoint only, no final evaluation).
    """
    from tqdm import tqdm

    from lava_spikingunet.data.paths import resolve_data_root

    out = Path(out)
    if threads:
        torch.set_num_threads(threads)
    _check_run_dir(out, resume, overwrite)
    state = None
    if resume and (out / CHECKPOINT).exists():
        state = load_checkpoint(out / CHECKPOINT)
        stored = TrainOptions.from_dict(state["train"]["options"])
        if stored.task != options.task:
            raise UserError(f"{out} holds a {stored.task!r} run, not {options.task!r}")
        if stored.steps != options.steps:
            log(f"note: steps changed {stored.steps} -> {options.steps} (LR schedule follows)")
        stored.steps = options.steps
        options = stored  # everything else comes from the checkpoint
    elif resume:
        log(f"note: no {CHECKPOINT} in {out}; starting from scratch")

    root = resolve_data_root(data_root)
    task: Task = get_task(options.task)(root, options)
    torch.manual_seed(options.seed)
    try:
        model = UNet(task.model_config())
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    dataset = task.train_set()
    has_thetas = False
    if state is None and options.init:
        has_thetas = _warm_start(model, options.init)
    if state is None and options.activation == "ilif" and not has_thetas:
        inputs = [make_batch(dataset, 10**7 + i, options.batch)[0] for i in range(4)]
        init = calibrate_thetas(model, inputs)
        log("I-LIF thetas (p99.9 / D): " + ", ".join(f"{k}={v:.3g}" for k, v in init.items()))
    if options.weight_quant:
        if options.activation != "ilif":
            raise UserError("weight-aware training (--weight-quant) is for I-LIF U-Nets")
        try:
            attach_weight_quant(model, options.weight_quant)
        except (ValueError, KeyError, OSError, SpikingUNetError) as exc:
            raise UserError(f"--weight-quant {options.weight_quant}: {exc}") from exc
        log(f"weights rounded to the {options.weight_quant} fixed point in every forward")
    stream = None
    if options.stream_vth:
        if options.activation != "ilif" or options.sparsity or options.weight_quant:
            raise UserError(
                "stream-aware training (--stream-vth) is for I-LIF U-Nets with float "
                "weights and no --sparsity (its own --stream-penalty counts the messages)"
            )
        if options.stream_vth < 0 or options.stream_penalty < 0:
            raise UserError("--stream-vth and --stream-penalty must be >= 0")
        dataset = task.stream_set()
        from lava_spikingunet.ann.delta import attach_delta

        stream = attach_delta(model, options.stream_vth)
        stream.static = True  # until a clip runs: calibration and evaluation are static
        log(
            f"stream-aware: clips of {options.stream_frames} frames (after "
            f"{options.stream_warmup} without gradient) through the sdnn "
            f"stream at vth {options.stream_vth:g} counts, message penalty "
            f"{options.stream_penalty:g}; evaluation: the sdnn form's static frame"
        )
    probe = None
    if options.temporal:
        if options.activation != "ilif" or options.stream_vth:
            raise UserError("the temporal penalty (--temporal) is for I-LIF U-Nets, not streams")
        if options.batch % 2:
            raise UserError(f"--temporal: --batch counts frames of pairs, got {options.batch}")
        dataset = task.pair_set()
        from lava_spikingunet.ann.temporal import attach_temporal

        probe = attach_temporal(model, options.temporal_vth)
        log(
            f"temporal penalty {options.temporal:g}: {options.batch // 2} pairs of "
            f"consecutive frames per step, changes of {options.temporal_vth:g} counts"
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    step, wall, history = 0, 0.0, []
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        step, wall = int(state["step"]), float(state["train"]["wall_s"])
        history = list(state["train"]["history"])
        log(f"resumed {out / CHECKPOINT} at step {step} ({wall:.0f} s trained)")
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"task {task.name}: U-Net width {options.width} depth {options.depth} "
        f"({n_params} parameters), {options.steps} steps of {options.batch} "
        f"{task.patch}x{task.patch} patches, {torch.get_num_threads()} threads"
    )

    def payload(with_optimizer: bool, metrics: dict[str, Any]) -> dict[str, Any]:
        samples = step * options.batch
        return {
            "config": task.model_config().to_dict(),
            "state_dict": model.state_dict(),
            "task": task.name,
            "step": step,
            "epoch": samples // max(1, task.num_train_images()),
            "optimizer": optimizer.state_dict() if with_optimizer else {},
            "metrics": metrics,
            "data": task.data_info(),
            "train": {
                "options": options.to_dict(),
                "wall_s": wall,
                "threads": torch.get_num_threads(),
                "history": history,
            },
        }

    def checkpoint(metrics: dict[str, Any]) -> None:
        save_checkpoint(out / CHECKPOINT, payload(True, metrics), overwrite=True)

    t0 = time.monotonic() - wall
    start_invocation = time.monotonic()
    last_loss = float("nan")
    stopped = None
    bar = tqdm(
        total=options.steps,
        initial=step,
        desc=task.name,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
        disable=not progress,
    )
    penalty = options.activation == "ilif" and options.sparsity > 0
    record_counts(model, penalty)
    last_rate = pair_rate = float("nan")
    model.train()
    while step < options.steps:
        if time_budget_s is not None and time.monotonic() - start_invocation >= time_budget_s:
            stopped = "time budget"
            break
        if stop_at is not None and step >= stop_at:
            stopped = "stop-at"
            break
        lr = lr_at(step, options.steps, options.lr, options.lr_final, options.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = make_batch(dataset, step, options.batch // 2 if probe else options.batch)
        if probe is not None:
            loss, pair_rate = task.temporal_loss(model, probe, batch, options.temporal)
        elif stream is not None:
            loss, last_rate = task.stream_loss(model, stream, batch, options.stream_penalty)
            stream.static = True
        else:
            loss = task.loss(model, batch)
        if penalty:
            rate = synops_per_mac(model, options.sparsity_form)
            loss = loss + options.sparsity * rate
            last_rate = rate.item()
        if not torch.isfinite(loss):
            raise UserError(f"loss became {loss.item()} at step {step}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        last_loss = loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.4g}", lr=f"{lr:.2g}", refresh=False)
        if penalty and step % options.eval_every == 0:
            log(f"step {step}: synops per MAC (accumulate, batch) {last_rate:.3f}")
        if probe is not None and step % options.eval_every == 0:
            log(f"step {step}: frame-pair changes, synops per MAC {pair_rate:.3f}")
        if stream is not None and step % options.eval_every == 0:
            log(f"step {step}: stream messages, synops per MAC per frame {last_rate:.3f}")
        if step % options.eval_every == 0 or step == options.steps:
            quick = task.evaluate(model, quick=True)
            model.train()
            wall = time.monotonic() - t0
            history.append({"step": step, "wall_s": round(wall, 1), "loss": last_loss, **quick})
            log(f"step {step} wall {wall:.0f}s loss {last_loss:.4g} {_fmt(quick)}")
        if step % options.checkpoint_every == 0:
            wall = time.monotonic() - t0
            checkpoint(history[-1] if history else {})
    bar.close()
    wall = time.monotonic() - t0
    checkpoint(history[-1] if history else {})
    if stopped == "stop-at":
        log(f"paused at step {step}; resume with --resume")
        return {"task": task.name, "step": step, "completed": False, "stopped": stopped}

    log("final evaluation on the test set ...")
    t_eval = time.monotonic()
    metrics = task.evaluate(model, quick=False)
    eval_s = time.monotonic() - t_eval
    log(f"final: {_fmt(metrics)} (eval {eval_s:.0f} s)")
    save_checkpoint(out / FINAL, payload(False, metrics), overwrite=True)
    summary = {
        "task": task.name,
        "completed": step >= options.steps,
        "stopped": stopped,
        "step": step,
        "train_wall_s": round(wall, 1),
        "eval_wall_s": round(eval_s, 1),
        "parameters": n_params,
        "config": task.model_config().to_dict(),
        "options": options.to_dict(),
        "threads": torch.get_num_threads(),
        "metrics": _finite(metrics),
        "data": task.data_info(),
        "history": [_finite(h) for h in history],
    }
    write_text_atomic(out / METRICS, json.dumps(summary, indent=1) + "\n", overwrite=True)
    checkpoint(metrics)
    return summary
