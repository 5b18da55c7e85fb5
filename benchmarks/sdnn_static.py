"""Static-frame accuracy of the ``sdnn`` form against the U-Net (issue #13, item 3).

Default source ``ilif``: for every task, the one-timestep I-LIF U-Net
(``checkpoints/<task>-ilif.pt``, docs/ilif.md) converted exactly at ``T = 1``, quantized
for ``loihi2`` and turned into the ``sdnn`` form
(:func:`lava_spikingunet.backends.sdnn.module.sdnn_from_ilif`): ``kept`` keeps the
quantized integer weights (:func:`~lava_spikingunet.backends.sdnn.convert.ilif_to_sdnn`),
``requantized`` re-chooses the state scales and re-quantizes them
(:func:`~lava_spikingunet.backends.sdnn.convert.to_sdnn`, balanced delays). Each is run by
the sigma-delta reference (= Lava bit for bit, tests/test_sdnn_lava.py) on static frames,
one per test image, until settled, and reported beside the float U-Net (the blind
denoisers for the denoising tasks), the I-LIF U-Net and the integer I-LIF network
(``IntegerSpikingUNetModule`` at ``T = 1``, = Lava's MT form) on the same images (first
``--images`` test images, central ``--crop`` window: the reference runs on one core).
Source ``unet``: the float U-Net converted with the ``deploy`` preset (the earlier path),
written to ``sdnn_static_unet.*``.

    .venv/bin/python -m benchmarks.sdnn_static                          # 8 images, 256 crop
    .venv/bin/python -m benchmarks.sdnn_static --tasks drive --images 2 --crop 128 --out-dir /tmp/s

Re-runnable: each task's row records its checkpoints' SHA-256, so a refreshed checkpoint
(retrained I-LIF denoisers) is visible in the JSON; ``--tasks`` re-runs some tasks and keeps
the others' rows. Writes ``benchmarks/results/sdnn_static.{json,md}`` after every task.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

from benchmarks.ilif import CHECKPOINTS as ILIF_CHECKPOINTS
from lava_spikingunet.checkpoints import load_unet, repo_checkpoints_dir
from lava_spikingunet.conversion import tasks as T
from lava_spikingunet.fileio import write_text_atomic

TASKS = ("denoise-grey", "denoise-colour", "drive", "isbi2012", "camseq01")
#: task -> (float U-Net, I-LIF U-Net) under checkpoints/ (as benchmarks/ilif.py)
#: task -> (float U-Net, I-LIF U-Net) under checkpoints/: the I-LIF benchmark's table
CHECKPOINTS = ILIF_CHECKPOINTS
#: the issue's targets: |sdnn - U-Net| per metric
TARGETS = {"psnr": 0.1, "f1": 0.01, "interior_f1": 0.01, "miou": 0.02}
#: side of the first test frame's centre crop the readout scale is calibrated on
CALIB_CROP = 128


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def target(key: str) -> float | None:
    return next((v for k, v in TARGETS.items() if key.startswith(k)), None)


def calib_frame(task, multiple: int) -> torch.Tensor:
    """The first test input's central crop, padded to the size multiple (the readout scale
    of the quantized graph is chosen from it)."""
    from lava_spikingunet.reference.module import pad_frames

    item = T.center_crop(T.test_items(task, 1)[0], CALIB_CROP)
    return pad_frames(item[0][None].float(), multiple)[0]


def _row(label: str, g, model, task, key: str, args, ref: dict) -> dict:
    t0 = time.monotonic()
    m = T.evaluate(task, model, args.images, crop=args.crop or None)
    row = {"form": label, "value": m[key], "metrics": m}
    if g is not None:
        info = g.meta.extra["sdnn"]
        row |= {
            "vth": int(next(iter(info["nodes"].values()))["vth"]),
            "steps": int(info["steps"]),
            "state_exp": sorted({v["state_exp"] for v in info["nodes"].values()}),
        }
    row |= {f"gap_{k}": m[key] - v for k, v in ref.items()}
    row["seconds"] = round(time.monotonic() - t0, 1)
    log(f"  {label}: {key}={m[key]:.4f} " + " ".join(f"{k}{v:+.4f}" for k, v in row.items()
        if k.startswith("gap_")) + f" ({row['seconds']} s)")  # fmt: skip
    return row


def add_ilif_checkpoint_arg(p: argparse.ArgumentParser) -> None:
    """``--ilif-checkpoint TASK=NAME ...``: other I-LIF checkpoints (:func:`checkpoint_paths`)."""
    p.add_argument(
        "--ilif-checkpoint",
        nargs="*",
        default=[],
        type=lambda v: tuple(v.split("=", 1)),
        metavar="TASK=NAME",
        help="another I-LIF checkpoint under checkpoints/ for a task (e.g. "
        "denoise-grey=denoise-grey-ilif)",
    )


def checkpoint_paths(name: str, overrides: list[tuple[str, str]]) -> dict[str, Path]:
    """``{"unet": path, "ilif": path}`` of a task, with ``--ilif-checkpoint`` overrides."""
    float_name, ilif_name = CHECKPOINTS[name]
    ilif_name = dict(overrides).get(name, ilif_name)
    return {k: repo_checkpoints_dir() / f"{v}.pt" for k, v in (("unet", float_name),
            ("ilif", ilif_name))}  # fmt: skip


def run_ilif(name: str, args: argparse.Namespace) -> dict:
    from lava_spikingunet.backends.sdnn.module import SDNNModule, sdnn_from_ilif

    paths = checkpoint_paths(name, args.ilif_checkpoint)
    unet, meta = load_unet(paths["unet"])
    ilif, _ = load_unet(paths["ilif"])
    task = T.load_task(name, args.data_root, (meta.get("train") or {}).get("options"))
    key = T.primary_metric(task)
    log(f"[{name}] {key}")
    out = {
        "metric": key,
        "checkpoints": {k: {"path": str(p.name), "sha256": sha256(p)} for k, p in paths.items()},
        "levels": int(ilif.config.levels),
        "rows": [],
    }
    ref: dict = {}
    out["rows"].append(_row("unet", None, unet, task, key, args, ref))
    ref["unet"] = out["rows"][-1]["value"]
    out["rows"].append(_row("ilif_unet", None, ilif, task, key, args, ref))
    ref["ilif_unet"] = out["rows"][-1]["value"]
    x = calib_frame(task, ilif.size_multiple)
    out["rows"].append(_row("integer_t1", None, _integer(x, ilif), task, key, args, ref))
    for mode in args.modes:
        for vth in args.vth:
            g = sdnn_from_ilif(ilif, x, vth=vth, requantize=mode == "requantized")
            out["rows"].append(_row(f"sdnn_{mode}", g, SDNNModule(g), task, key, args, ref))
    return out


def _integer(x, ilif):
    """The integer I-LIF network (MT form at ``T = 1``) from the same quantization."""
    from lava_spikingunet.conversion.ilif import convert_ilif
    from lava_spikingunet.fixed_point import quantize_graph
    from lava_spikingunet.reference.module import IntegerSpikingUNetModule

    q = quantize_graph(convert_ilif(ilif, *x.shape[-2:]), "loihi2", calib=x)
    return IntegerSpikingUNetModule(q, 1)


def run_unet(name: str, args: argparse.Namespace) -> dict:
    """The earlier path: the float U-Net, ``deploy`` preset, re-quantized ``sdnn`` form."""
    from lava_spikingunet.backends.sdnn.module import SDNNModule, sdnn_from_unet
    from lava_spikingunet.conversion import calibrate

    path = repo_checkpoints_dir() / f"{name}.pt"
    unet, meta = load_unet(path)
    task = T.load_task(name, args.data_root, (meta.get("train") or {}).get("options"))
    key = T.primary_metric(task)
    stats = calibrate(unet, T.training_batches(task, 16), max_batches=16)
    log(f"[{name}] {key}")
    out = {"metric": key, "checkpoints": {"unet": {"path": path.name, "sha256": sha256(path)}}}
    out["rows"] = [_row("unet", None, unet, task, key, args, {})]
    ref = {"unet": out["rows"][0]["value"]}
    for vth in args.vth:
        g = sdnn_from_unet(unet, stats, "loihi2", vth=vth)
        out["rows"].append(_row("sdnn_deploy", g, SDNNModule(g), task, key, args, ref))
    return out


def markdown(result: dict) -> str:
    meta = result["meta"]
    crop = f"central {meta['crop']}x{meta['crop']} crops" if meta["crop"] else "full images"
    src = meta["source"]
    head = (
        "the one-timestep I-LIF U-Nets ("
        + ", ".join(
            f"`{t['checkpoints']['ilif']['path']}`"
            for t in result["tasks"].values()
            if "ilif" in t.get("checkpoints", {})
        )
        + "), exact conversion at "
        "T = 1, `loihi2` quantization; `sdnn_kept`: the quantized integer weights kept "
        "(`ilif_to_sdnn`), `sdnn_requantized`: state scales and weights re-chosen "
        "(`to_sdnn`, balanced delays); `integer_t1`: the integer I-LIF network (MT form, "
        "= Lava)"
        if src == "ilif"
        else "the float U-Nets, `deploy` conversion, `loihi2` quantization (`to_sdnn`)"
    )
    lines = [
        "# Static frames: the sdnn form against the U-Net",
        "",
        f"Generated by `python -m benchmarks.sdnn_static --source {src}"
        + (
            " --ilif-checkpoint " + " ".join(meta["ilif_checkpoint"])
            if meta.get("ilif_checkpoint")
            else ""
        )
        + "` (first "
        f"{meta['images']} test images, {crop}; denoisers at sigma 25, against the blind "
        f"U-Nets). Source: {head}. `sdnn` = stock Lava SigmaDelta/Conv/Sparse, run by the "
        "sigma-delta reference (= Lava bit for bit) from the resting state until a static "
        "frame has settled. "
        "Gaps in the metric's units (dB for PSNR). Target: sdnn within 0.1 dB / 0.01 F1 / "
        "0.02 mIoU of the U-Net (`better`: above it by more).",
        "",
        "| task | metric | form | vth | value | gap to U-Net | gap to I-LIF U-Net | steps "
        "| state_exp | within target |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, task in result["tasks"].items():
        key = task["metric"]
        tol = target(key)
        for r in task["rows"]:
            gu, gi = r.get("gap_unet"), r.get("gap_ilif_unet")
            ok = "-"
            if r["form"].startswith("sdnn") and tol is not None:
                ok = "yes" if abs(gu) <= tol else ("better" if gu > 0 else "no")
            lines.append(
                f"| {name} | {key} | {r['form']} | {r.get('vth', '-')} | {r['value']:.4f} | "
                + ("-" if gu is None else f"{gu:+.4f}")
                + " | "
                + ("-" if gi is None else f"{gi:+.4f}")
                + f" | {r.get('steps', '-')} | {r.get('state_exp', '-')} | {ok} |"
            )
    over = [
        f"{name}={task['checkpoints']['ilif']['path'].removesuffix('.pt')}"
        for name, task in result["tasks"].items()
        if "ilif" in task["checkpoints"]
        and task["checkpoints"]["ilif"]["path"] != f"{CHECKPOINTS[name][1]}.pt"
    ]
    if over:
        lines += ["", f"Other I-LIF checkpoints: `--ilif-checkpoint {' '.join(over)}`."]
    lines += ["", "Checkpoints (SHA-256, first 16 hex digits):", ""]
    for name, task in result["tasks"].items():
        ck = ", ".join(f"`{c['path']}` {c['sha256']}" for c in task["checkpoints"].values())
        lines.append(f"- {name}: {ck}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", choices=("ilif", "unet"), default="ilif")
    p.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="central crop (0: full images)")
    p.add_argument("--vth", type=int, nargs="+", default=[1], help="message units")
    p.add_argument(
        "--modes", nargs="+", choices=("kept", "requantized"), default=["kept", "requantized"]
    )
    add_ilif_checkpoint_arg(p)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", default=str(Path(__file__).parent / "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out_dir = Path(args.out_dir)
    stem = "sdnn_static" if args.source == "ilif" else "sdnn_static_unet"
    meta = {
        "source": args.source,
        "images": args.images,
        "crop": args.crop,
        "vth": args.vth,
        "ilif_checkpoint": [f"{t}={n}" for t, n in args.ilif_checkpoint],
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    result: dict = {"meta": meta, "tasks": {}}
    old = out_dir / f"{stem}.json"
    if old.is_file():  # keep the other tasks' rows when they were run the same way
        prev = json.loads(old.read_text())
        keys = ("source", "images", "crop", "ilif_checkpoint")
        same = {k: prev.get("meta", {}).get(k, []) for k in keys}
        if same == {k: meta[k] for k in same}:
            result["tasks"] = {k: v for k, v in prev.get("tasks", {}).items() if k in TASKS}
    run = run_ilif if args.source == "ilif" else run_unet
    for name in args.tasks:
        result["tasks"][name] = run(name, args)
        result["tasks"] = {k: result["tasks"][k] for k in TASKS if k in result["tasks"]}
        write_text_atomic(out_dir / f"{stem}.json", json.dumps(result, indent=1) + "\n",
                          overwrite=True)  # fmt: skip
        write_text_atomic(out_dir / f"{stem}.md", markdown(result), overwrite=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
