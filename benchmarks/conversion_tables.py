"""Reproduce the structure of the paper's Tables 1-4 with the trained U-Nets.

For every task with a checkpoint (``checkpoints/<task>.pt``, or ``--checkpoint
TASK=PATH``), using the float spiking simulator with zero delays:

- Table 1: U-Net vs converted Spiking-UNet vs fine-tuned (accumulated spiking flow),
  with the paper's neuron and with the ``deploy`` preset (N=6, theta1=1, half-quantum
  bias shift; not in the paper, docs/conversion.md);
- Table 2: IF (reset by subtraction and to zero) vs MT neurons;
- Table 3: layer-wise vs connection-wise normalization;
- Table 4: number of thresholds N = 1..7 (ladder theta_i = 2 / 2^(i-1)), at the paper's T;

Tables 1-3 at the paper's T (DRIVE 10, EM 50, CamSeq01 20, BSD68 10, CBSD68 20) and
smaller T. Metrics: PSNR at sigma 25 (denoising), F1 (DRIVE, EM), mIoU (CamSeq01), with the
training code's evaluation. Writes ``benchmarks/results/conversion.json`` and ``.md``
after every task. ``--quick``: 3 test images, central 256x256 crops, 20 fine-tuning
steps, so a task takes a few minutes on one CPU core (EM at T=50 the longest). The full
run (every test image, whole frames, T, T/2, T/5, 200 fine-tuning steps) takes hours.

    .venv/bin/python -m benchmarks.conversion_tables --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from lava_spikingunet.checkpoints import load_unet, repo_checkpoints_dir
from lava_spikingunet.conversion import PRESETS, ConversionConfig, calibrate, convert_unet
from lava_spikingunet.conversion import tasks as T
from lava_spikingunet.conversion.finetune import FinetuneConfig, finetune
from lava_spikingunet.errors import UserError
from lava_spikingunet.fileio import write_text_atomic
from lava_spikingunet.snn.module import SpikingUNetModule

TASKS = ("denoise-grey", "denoise-colour", "drive", "isbi2012", "camseq01")
TABLES = {
    1: "U-Net vs converted vs fine-tuned (MT N=4 theta1=2 unless the deploy preset: N=6 "
    "theta1=1 + bias shift; connection-wise)",
    2: "IF vs MT neurons (connection-wise)",
    3: "layer-wise vs connection-wise normalization (MT N=4)",
    4: "number of thresholds N (theta1 = 2, connection-wise; the paper goes to 5)",
}


def log(msg: str) -> None:
    print(msg, flush=True)


def time_steps(t_paper: int, quick: bool) -> list[int]:
    """The paper's T and smaller ones (largest first)."""
    ts = {t_paper, max(2, t_paper // 2), max(1, t_paper // 5)}
    if quick:
        ts = {t_paper, max(2, t_paper // 5)}
    return sorted(ts, reverse=True)


class TaskBench:
    """Everything measured on one task."""

    def __init__(self, name: str, ckpt: Path, args: argparse.Namespace) -> None:
        self.name, self.args = name, args
        self.unet, meta = load_unet(ckpt)
        self.train_options = (meta.get("train") or {}).get("options")
        self.task = T.load_task(name, args.data_root, self.train_options)
        self.metric = T.primary_metric(self.task)
        self.t_paper = T.PAPER_T[name]
        self.ts = time_steps(self.t_paper, args.quick)
        self.rows: list[dict] = []
        self.out = {
            "checkpoint": str(ckpt),
            "unet_config": self.unet.config.to_dict(),
            "metric": self.metric,
            "T_paper": self.t_paper,
            "T": self.ts,
            "rows": self.rows,
        }
        t0 = time.monotonic()
        batches = T.training_batches(self.task, args.calib_batch)
        self.stats = calibrate(self.unet, batches, max_batches=args.calib_batches)
        self.out["calibration_s"] = round(time.monotonic() - t0, 1)
        self._graphs: dict = {}
        self._metrics: dict = {}

    def evaluate(self, model) -> dict:
        a = self.args
        return T.evaluate(self.task, model, a.images, crop=a.crop)

    def record(self, table: int, label: str, t: int | None, metrics: dict, extra=None) -> dict:
        row = {
            "table": table,
            "label": label,
            "T": t,
            "value": metrics[self.metric],
            "metrics": metrics,
            **(extra or {}),
        }
        self.rows.append(row)
        log(
            f"  [{self.name}] table {table} {label:<24} T={t!s:<4} {self.metric}={row['value']:.4f}"
        )
        return row

    def graph(self, **kw):
        key = tuple(sorted(kw.items()))
        if key not in self._graphs:
            m = self.unet.size_multiple
            self._graphs[key] = convert_unet(self.unet, self.stats, m, m, ConversionConfig(**kw))
        return self._graphs[key]

    def spiking(self, t: int, **kw) -> dict:
        """Metrics of the Spiking-UNet converted with ``kw`` at ``t`` (cached)."""
        key = (t, *sorted(kw.items()))
        if key not in self._metrics:
            t0 = time.monotonic()
            self._metrics[key] = self.evaluate(SpikingUNetModule(self.graph(**kw), t))
            self._metrics[key]["seconds"] = round(time.monotonic() - t0, 1)
        return self._metrics[key]

    def run(self) -> None:
        a = self.args
        unet = self.record(1, "U-Net", None, self.evaluate(self.unet))
        mt4 = {"n_thresholds": 4, "theta1": 2.0}
        for t in self.ts:
            conv = self.record(1, "converted", t, self.spiking(t, **mt4))
            self.out.setdefault("gap", {})[t] = conv["value"] - unet["value"]
            shift = self.spiking(t, bias_shift=True, timesteps=t, **mt4)
            self.record(1, "converted + bias shift", t, shift)
            deploy = {**PRESETS["deploy"], "timesteps": t}
            self.record(1, "converted (deploy preset)", t, self.spiking(t, **deploy))
            if a.finetune_steps:
                for label, kw in (("fine-tuned", mt4), ("fine-tuned (deploy preset)", deploy)):
                    graph, info = self.finetuned(t, kw)
                    metrics = self.evaluate(SpikingUNetModule(graph, t))
                    self.record(1, label, t, metrics, info)
            self.record(2, "IF (reset subtract)", t, self.spiking(t, neuron="if"))
            self.record(2, "IF (reset zero)", t, self.spiking(t, neuron="if", reset="zero"))
            self.record(2, "MT N=4", t, self.spiking(t, **mt4))
            self.record(3, "layer-wise", t, self.spiking(t, norm="layer", **mt4))
            self.record(3, "connection-wise", t, self.spiking(t, **mt4))
        for t in self.ts[:1]:
            for n in (1, 2, 3, 4, 5, 6, 7):
                self.record(4, f"N={n}", t, self.spiking(t, n_thresholds=n, theta1=2.0))

    def finetuned(self, t: int, kw: dict):
        a = self.args
        task = T.load_task(self.name, a.data_root, self.train_options, seed=1, patch=a.ft_patch)
        cfg = FinetuneConfig(timesteps=t, steps=a.finetune_steps, lr=a.ft_lr, seed=0)
        graph = self.graph(**kw)
        res = finetune(graph, T.training_batches(task, a.ft_batch), cfg, task.loss)
        k = max(1, len(res.losses) // 10)
        info = {
            "finetune": {
                "steps": res.steps,
                "lr": a.ft_lr,
                "batch": a.ft_batch,
                "patch": task.patch,
                "seconds": round(res.seconds, 1),
                "loss_first": sum(res.losses[:k]) / k,
                "loss_last": sum(res.losses[-k:]) / k,
            }
        }
        return res.graph, info


def fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def markdown(result: dict) -> str:
    meta = result["meta"]
    crop = f", central {meta['crop']}x{meta['crop']} crops" if meta["crop"] else ""
    lines = [
        "# Conversion tables (structure of the paper's Tables 1-4)",
        "",
        f"Generated by `benchmarks/conversion_tables.py` ({'--quick: ' if meta['quick'] else ''}"
        f"{meta['images'] or 'all'} test images per task"
        f"{crop}"
        f", float spiking simulation with zero delays, {meta['finetune_steps']} fine-tuning "
        f"steps). Metric per task: PSNR (dB) at sigma 25 for denoising, F1 for DRIVE and "
        "EM (isbi2012), mIoU for CamSeq01; higher is better.",
        "",
    ]
    if result["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k} ({v})" for k, v in result["skipped"].items()), ""]
    for table, title in TABLES.items():
        lines += [f"## Table {table}: {title}", ""]
        for name, task in result["tasks"].items():
            rows = [r for r in task["rows"] if r["table"] == table]
            if not rows:
                continue
            ts = sorted({r["T"] for r in rows if r["T"] is not None}, reverse=True)
            labels = list(dict.fromkeys(r["label"] for r in rows))
            lines += [
                f"**{name}** ({task['metric']}, paper T = {task['T_paper']})",
                "",
                "| | " + " | ".join(f"T={t}" for t in ts) + " |",
                "|---|" + "---|" * len(ts),
            ]
            for label in labels:
                cells = []
                for t in ts:
                    hit = [r for r in rows if r["label"] == label and r["T"] in (t, None)]
                    cells.append(fmt(hit[0]["value"]) if hit else "-")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 images, 256 crops, 20 FT steps")
    p.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS)
    p.add_argument(
        "--checkpoint", action="append", default=[], metavar="TASK=PATH",
        help="use PATH for TASK instead of checkpoints/TASK.pt",
    )  # fmt: skip
    p.add_argument("--data-root", default=None)
    p.add_argument("--images", type=int, default=None, help="test images (default: all; quick 3)")
    p.add_argument("--crop", type=int, default=None, help="central crop (default none; quick 256)")
    p.add_argument("--calib-batches", type=int, default=16)
    p.add_argument("--calib-batch", type=int, default=16)
    p.add_argument("--finetune-steps", type=int, default=None, help="default 200; quick 20")
    p.add_argument("--ft-lr", type=float, default=1e-4)
    p.add_argument("--ft-batch", type=int, default=4)
    p.add_argument("--ft-patch", type=int, default=64)
    p.add_argument(
        "--threads", type=int, default=1,
        help="torch threads (default 1: on a shared 2-core machine one thread is faster)",
    )  # fmt: skip
    p.add_argument("--out-dir", default=str(Path(__file__).parent / "results"))
    p.add_argument(
        "--merge", action="store_true",
        help="keep earlier results (same settings) of the tasks not run now",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        args.images = args.images or 3
        args.crop = args.crop or 256
    if args.finetune_steps is None:
        args.finetune_steps = 20 if args.quick else 200
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = {t: repo_checkpoints_dir() / f"{t}.pt" for t in TASKS}
    for item in args.checkpoint:
        task, _, path = item.partition("=")
        if task not in TASKS or not path:
            raise SystemExit(f"--checkpoint takes TASK=PATH with TASK in {', '.join(TASKS)}")
        paths[task] = Path(path)
    out_dir = Path(args.out_dir)
    result = {
        "meta": {
            "quick": args.quick,
            "images": args.images,
            "crop": args.crop,
            "finetune_steps": args.finetune_steps,
            "finetune_lr": args.ft_lr,
            "delays": "zero",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "skipped": {},
        "tasks": {},
    }

    previous = out_dir / "conversion.json"
    if args.merge and previous.is_file():
        old = json.loads(previous.read_text())
        same = ("quick", "images", "crop", "finetune_steps", "finetune_lr")
        if all(old["meta"].get(k) == result["meta"][k] for k in same):
            keep = {k: v for k, v in old["tasks"].items() if k not in args.tasks}
            result["tasks"].update(keep)
            log(f"merged earlier results for {', '.join(keep) or 'no task'}")
        else:
            log(f"not merging {previous}: it was made with other settings")

    def write() -> None:
        text = json.dumps(result, indent=1, default=float)
        write_text_atomic(out_dir / "conversion.json", text + "\n", overwrite=True)
        write_text_atomic(out_dir / "conversion.md", markdown(result), overwrite=True)

    for name in args.tasks:
        if not paths[name].is_file():
            log(f"skip {name}: no checkpoint at {paths[name]} (train it, or --checkpoint)")
            result["skipped"][name] = f"no checkpoint {paths[name]}"
            continue
        t0 = time.monotonic()
        log(f"{name}: {paths[name]}")
        try:
            bench = TaskBench(name, paths[name], args)
            result["tasks"][name] = bench.out
            bench.run()
        except UserError as exc:
            log(f"skip {name}: {exc}")
            result["skipped"][name] = str(exc)
            result["tasks"].pop(name, None)
            continue
        finally:
            if name in result["tasks"]:
                result["tasks"][name]["seconds"] = round(time.monotonic() - t0, 1)
            write()
        log(f"{name}: done in {time.monotonic() - t0:.0f} s")
    write()
    log(f"wrote {out_dir / 'conversion.json'} and {out_dir / 'conversion.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
