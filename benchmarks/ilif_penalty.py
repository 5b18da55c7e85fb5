"""The synop penalty's knob: accuracy against synaptic ops of I-LIF fine-tuning.

From one float checkpoint, quantization-aware fine-tuning with I-LIF activations
(``spikingunet train --activation ilif --init CKPT``) runs once per penalty weight
``--sparsity W`` (loss += W * accumulate synops per ANN MAC, docs/ilif.md), all else
equal (same seed, steps, data order). Per weight it reports the I-LIF U-Net's test
metric and its synops per ANN MAC in the graded, cascade and virtual forms on the
task's first test frame (denoisers: the 128x128 centre crop), with the float U-Net's
metric beside them. Writes ``benchmarks/results/ilif_penalty.{json,md,png}``.

    .venv/bin/python -m benchmarks.ilif_penalty --task denoise-grey \
        --init checkpoints/denoise-grey.pt --weights 0,3e-5,1e-4,3e-4 --steps 600
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from lava_spikingunet.ann.ilif import synop_rates
from lava_spikingunet.checkpoints import load_unet
from lava_spikingunet.conversion import tasks as T
from lava_spikingunet.fileio import atomic_path, write_text_atomic
from lava_spikingunet.training import TrainOptions, train

RESULTS = Path(__file__).resolve().parent / "results"


def first_frame(task, crop: int | None) -> torch.Tensor:
    """The task's first test input, centre-cropped to ``crop`` (None: whole, padded)."""
    x = T.first_test_image(task)
    if crop:
        _, h, w = x.shape
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        x = x[:, top : top + crop, left : left + crop]
    return x[None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="denoise-grey")
    p.add_argument("--init", required=True, help="float U-Net checkpoint to fine-tune from")
    p.add_argument("--levels", type=int, default=15)
    p.add_argument("--weights", default="0,3e-5,1e-4,3e-4", help="comma-separated knob values")
    p.add_argument("--form", choices=("virtual", "graded"), default="virtual",
                   help="what the penalty counts (TrainOptions.sparsity_form)")  # fmt: skip
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="runs/ilif_penalty", help="folder of the training runs")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=str(RESULTS / "ilif_penalty"))
    p.add_argument("--merge", action="store_true", help="keep the other form's rows")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    unet, meta = load_unet(args.init)
    opts = TrainOptions.from_dict((meta.get("train") or {}).get("options") or {"task": args.task})
    task = T.load_task(args.task, args.data_root, opts.to_dict())
    key = T.primary_metric(task)
    crop = 128 if args.task.startswith("denoise") else None
    frame = first_frame(task, crop)
    m = unet.size_multiple
    frame = frame[..., : frame.shape[-2] // m * m, : frame.shape[-1] // m * m]
    rows = []
    unet_metric = float((meta.get("metrics") or {}).get(key, float("nan")))
    for w in (float(v) for v in args.weights.split(",")):
        suffix = "" if args.form == "virtual" else f"-{args.form}"
        run = Path(args.runs) / f"{args.task}-D{args.levels}-w{w:g}{suffix}"
        options = TrainOptions(
            task=args.task,
            width=unet.config.base_width,
            depth=unet.config.depth,
            steps=args.steps,
            lr=args.lr,
            warmup=50,
            seed=0,
            patch=opts.patch,
            sigma_min=opts.sigma_min,
            sigma_max=opts.sigma_max,
            eval_every=max(1, args.steps // 2),
            checkpoint_every=args.steps,
            activation="ilif",
            levels=args.levels,
            sparsity=w,
            sparsity_form=args.form,
            init=str(args.init),
        )
        t0 = time.monotonic()
        done = (run / "final.pt").exists()
        if not done:
            train(options, run, data_root=args.data_root, overwrite=True, progress=False)
        model, _ = load_unet(run / "final.pt")
        metrics = json.loads((run / "metrics.json").read_text())["metrics"]
        rates = synop_rates(model, frame)
        rows.append(
            {"weight": w, "form": args.form, key: metrics[key], "metrics": metrics}
            | {"synops_per_mac": rates}
            | {"run": str(run), "wall_s": round(time.monotonic() - t0, 1), "reused": done}
        )
        print(f"W={w:g}: {key} {metrics[key]:.4f}  synops/MAC " + str(rates), flush=True)
    out = {
        "task": args.task,
        "init": str(args.init),
        "levels": args.levels,
        "steps": args.steps,
        "metric": key,
        "unet": unet_metric,
        "frame": list(frame.shape[-2:]),
        "rows": rows,
        "how": "one training run per weight, same seed and data order; synops per MAC from "
        "the I-LIF U-Net's counts on the task's first test frame (interior fan-out)",
        "machine": {"python": platform.python_version(), "threads": args.threads},
    }
    base = Path(args.out)
    if args.merge and base.with_suffix(".json").is_file():
        old = json.loads(base.with_suffix(".json").read_text())
        keep = [r for r in old.get("rows", []) if r.get("form", "virtual") != args.form]
        out["rows"] = keep + out["rows"]
    write_text_atomic(base.with_suffix(".json"), json.dumps(out, indent=1) + "\n", overwrite=True)
    lines = [
        f"# I-LIF synop penalty: {args.task}, D = {args.levels}, {args.steps} steps from "
        f"`{args.init}`",
        "",
        f"float U-Net {key}: {unet_metric:.4f}. Synops per ANN MAC on the first test frame "
        f"{frame.shape[-2]}x{frame.shape[-1]}.",
        "",
        f"| penalty form | weight | {key} | graded | cascade | virtual |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["synops_per_mac"]
        lines.append(
            f"| {r.get('form', 'virtual')} | {r['weight']:g} | {r[key]:.4f} | {s['graded']:.3f} "
            f"| {s['cascade']:.3f} "
            f"| {s['virtual']:.3f} |"
        )
    write_text_atomic(base.with_suffix(".md"), "\n".join(lines) + "\n", overwrite=True)
    _figure(out, base.with_suffix(".png"))
    print(f"wrote {base}.json/.md/.png")
    return 0


def _figure(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    key = out["metric"]
    for pen, style in (("virtual", "-"), ("graded", "--")):
        rows = [r for r in out["rows"] if r.get("form", "virtual") == pen]
        for form, marker in (("graded", "o"), ("cascade", "s"), ("virtual", "^")):
            xs = [r["synops_per_mac"][form] for r in rows]
            ys = [r[key] for r in rows]
            if xs:
                ax.plot(xs, ys, style, marker=marker, label=f"{form} synops, {pen} penalty")
            for r, x, y in zip(rows, xs, ys, strict=True):
                if form == "graded":
                    ax.annotate(f"W={r['weight']:g}", (x, y), fontsize=7)
    ax.axhline(out["unet"], color="k", ls="--", lw=0.8, label="float U-Net")
    ax.set_xscale("log")
    ax.set_xlabel("synops per ANN MAC")
    ax.set_ylabel(key)
    ax.set_title(f"I-LIF penalty, {out['task']} D={out['levels']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
