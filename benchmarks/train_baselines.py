"""Train (or collect) the five float U-Net baselines and tabulate their test metrics.

    python -m benchmarks.train_baselines                 # collect runs/<task>/ results
    python -m benchmarks.train_baselines --train drive   # train missing runs first
    python -m benchmarks.train_baselines --reevaluate    # re-run the test evaluation

Each task has one recipe (:data:`RECIPES`) with a CPU time budget. Results go to
``benchmarks/results/baselines.{json,md}``; with ``--publish`` every finished model
under 3 MB is copied to ``checkpoints/<task>.pt`` (+ ``.json``) for the later stages.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from lava_spikingunet.fileio import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PUBLISH_LIMIT = 3_000_000  # bytes: larger checkpoints are not committed

#: One recipe per task: TrainOptions fields plus the time budget in minutes.
RECIPES: dict[str, dict[str, Any]] = {
    "denoise-grey": dict(steps=9000, batch=16, patch=64, sigma_min=25, sigma_max=25, budget=45),
    "drive": dict(steps=6000, batch=32, patch=48, budget=45),
    "isbi2012": dict(steps=1800, batch=8, patch=128, budget=25),
    "denoise-colour": dict(steps=4000, batch=16, patch=64, sigma_min=25, sigma_max=25, budget=30),
    "camseq01": dict(steps=1800, batch=8, patch=128, budget=25),
}
COMMON = dict(width=16, depth=3, lr=1e-3, warmup=200, seed=0, eval_every=500)

#: Targets the baselines aim for (metric key, value).
TARGETS = {
    "denoise-grey": ("psnr_s25", 28.3),
    "denoise-colour": ("psnr_s25", 30.0),
    "drive": ("f1", 0.79),
    "isbi2012": ("f1_interior", 0.93),
}


def train_task(task: str, runs: Path, data_root: str | None, threads: int) -> dict[str, Any]:
    """Train ``task`` with its recipe in ``runs/<task>`` (resuming a paused run)."""
    from lava_spikingunet.training import TrainOptions, train

    recipe = dict(RECIPES[task])
    budget = recipe.pop("budget")
    options = TrainOptions(task=task, **COMMON, **recipe)
    out = runs / task
    return train(
        options,
        out,
        data_root=data_root,
        resume=(out / "checkpoint.pt").exists(),
        time_budget_s=60.0 * budget,
        threads=threads,
    )


def reevaluate(task: str, run: Path, data_root: str | None) -> dict[str, Any]:
    """Evaluate ``run/final.pt`` on the full test set again; returns the metrics."""
    from lava_spikingunet.checkpoints import load_unet
    from lava_spikingunet.training import TrainOptions, get_task

    model, meta = load_unet(run / "final.pt")
    options = TrainOptions.from_dict(meta["train"]["options"])
    from lava_spikingunet.data.paths import resolve_data_root

    return get_task(task)(resolve_data_root(data_root), options).evaluate(model)


def summarize(task: str, run: Path) -> dict[str, Any]:
    """One row of the results: metrics, size, steps and times from ``run/metrics.json``."""
    path = run / "metrics.json"
    if not path.is_file():
        return {"task": task, "status": "missing", "run": str(run)}
    s = json.loads(path.read_text())
    row = {
        "task": task,
        "status": "completed" if s["completed"] else f"stopped ({s['stopped']})",
        "width": s["config"]["base_width"],
        "depth": s["config"]["depth"],
        "parameters": s["parameters"],
        "steps": s["step"],
        "steps_planned": s["options"]["steps"],
        "batch": s["options"]["batch"],
        "patch": s["data"]["patch"],
        "threads": s["threads"],
        "train_wall_s": s["train_wall_s"],
        "eval_wall_s": s["eval_wall_s"],
        "metrics": s["metrics"],
        "curve": [{k: v for k, v in h.items() if k != "iou_per_class"} for h in s["history"]],
        "checkpoint_bytes": (run / "final.pt").stat().st_size,
    }
    if "sigma_range" in s["data"]:
        row["train_sigma"] = s["data"]["sigma_range"]
    if task in TARGETS:
        key, value = TARGETS[task]
        got = s["metrics"].get(key)
        row["target"] = {"metric": key, "value": value, "reached": got is not None and got >= value}
    return row


def publish(task: str, run: Path) -> str:
    """Copy a finished model under 3 MB to ``checkpoints/<task>.{pt,json}``."""
    final = run / "final.pt"
    if not final.is_file():
        return "no final.pt"
    size = final.stat().st_size
    if size >= PUBLISH_LIMIT:
        return f"not published: {size} bytes >= {PUBLISH_LIMIT}"
    dest = REPO / "checkpoints"
    dest.mkdir(exist_ok=True)
    shutil.copyfile(final, dest / f"{task}.pt")
    shutil.copyfile(run / "metrics.json", dest / f"{task}.json")
    return f"published checkpoints/{task}.pt ({size} bytes)"


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown page."""
    lines = [
        "# Float U-Net baselines (CPU)",
        "",
        "Test metrics of the float U-Nets the spiking stages start from; generated by",
        "`python -m benchmarks.train_baselines`. Denoising: mean PSNR (dB) / SSIM "
        "(Gaussian window) on BSD68 / CBSD68 at sigma 15, 25, 50, fixed noise seeds. "
        "DRIVE: pooled F1 / accuracy inside the FOV (test set, 1st_manual). ISBI-2012: "
        "F1 of the cell interior (label 255, the paper's foreground) and of the membrane "
        "(the class the net is trained on), held-out slices 25..29. CamSeq01: mIoU over "
        "11 classes (void ignored) on the last 20 frames.",
        "",
        "| task | width/depth | params | steps | train wall | metrics | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] == "missing":
            lines.append(
                f"| {r['task']} | | | | | not trained yet (`--train {r['task']}`) | missing |"
            )
            continue
        m = r["metrics"]
        if r["task"].startswith("denoise"):
            shown = ", ".join(
                f"s{s}: {_fmt(m.get(f'psnr_s{s}'), 2)} / {_fmt(m.get(f'ssim_s{s}'))}"
                for s in (15, 25, 50)
            )
            lo, hi = r.get("train_sigma", (None, None))
            shown += f" (trained at sigma {lo:g})" if lo == hi else f" (blind {lo:g}..{hi:g})"
        elif r["task"] == "camseq01":
            shown = f"mIoU {_fmt(m.get('miou'))}, acc {_fmt(m.get('accuracy'))}"
        elif r["task"] == "isbi2012":
            shown = (
                f"F1 interior {_fmt(m.get('f1_interior', m.get('f1_negative')))}, "
                f"membrane {_fmt(m.get('f1'))}, acc {_fmt(m.get('accuracy'))}"
            )
        else:
            shown = f"F1 {_fmt(m.get('f1'))}, acc {_fmt(m.get('accuracy'))}"
        lines.append(
            f"| {r['task']} | {r['width']}/{r['depth']} | {r['parameters']} | "
            f"{r['steps']}/{r['steps_planned']} x {r['batch']} @ {r['patch']}px | "
            f"{r['train_wall_s'] / 60:.1f} min ({r['threads']} thr) | {shown} | {r['status']} |"
        )
    lines += ["", "Targets:"]
    for r in rows:
        if "target" in r:
            t = r["target"]
            lines.append(
                f"- {r['task']}: {t['metric']} >= {t['value']}: "
                + ("reached" if t["reached"] else "NOT reached (curve in baselines.json)")
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default=str(REPO / "runs"), help="folder of run folders")
    p.add_argument("--data-root", default=None)
    p.add_argument("--tasks", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--train", nargs="*", default=[], choices=list(RECIPES),
                   help="tasks to train (or resume) before collecting")  # fmt: skip
    p.add_argument("--reevaluate", action="store_true", help="re-run the test evaluation")
    p.add_argument("--publish", action="store_true", help="copy models < 3 MB to checkpoints/")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    runs = Path(args.runs)
    for task in args.train:
        t0 = time.monotonic()
        print(f"== training {task}", flush=True)
        train_task(task, runs, args.data_root, args.threads)
        print(f"== {task} done in {time.monotonic() - t0:.0f} s", flush=True)
    rows = []
    for task in args.tasks:
        run = runs / task
        row = summarize(task, run)
        if args.reevaluate and row["status"] != "missing":
            t0 = time.monotonic()
            record = json.loads((run / "metrics.json").read_text())
            record["metrics"] = reevaluate(task, run, args.data_root)
            record["eval_wall_s"] = round(time.monotonic() - t0, 1)
            write_text_atomic(run / "metrics.json", json.dumps(record, indent=2), overwrite=True)
            row = summarize(task, run)
        if args.publish and row["status"] != "missing":
            row["published"] = publish(task, run)
            print(f"{task}: {row['published']}")
        rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "baselines.json").write_text(json.dumps({"runs": rows}, indent=1) + "\n")
    (RESULTS / "baselines.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
