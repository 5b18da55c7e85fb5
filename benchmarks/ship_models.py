"""Build the shipped models in netx_exports/ with the project's Python API, and their cards.

For a trained U-Net in ``checkpoints/<task>.pt`` this runs (``import lava_spikingunet as
lsu``, docs/api.md; each call is recorded in the card):

    lsu.convert  -> finetune -> quantize -> export (balanced delays)
    lsu.verify   (Lava vs the integer reference, both neuron forms)
    lsu.profile  (synops, energy, cores on loihi2)

then measures the test metrics of the U-Net, the float Spiking-UNet and the integer
Spiking-UNet (the exported file itself) and writes ``netx_exports/<task>/``:
``model.h5``, ``unet.pt`` (the float U-Net, for comparisons), ``metrics.json`` and
``MODEL_CARD.md``. Every figure in the card comes from this run.

    .venv/bin/python -m benchmarks.ship_models denoise-grey
    .venv/bin/python -m benchmarks.ship_models drive --T 10
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from lava_spikingunet.fileio import write_text_atomic

REPO = Path(__file__).resolve().parents[1]

#: Per task: the paper's T for it, the exported frame size, the metric the card leads with.
RECIPES: dict[str, dict[str, Any]] = {
    "denoise-grey": {"T": 10, "frame": "128x128", "sigmas": (25,), "key": "psnr_s25"},
    "denoise-colour": {"T": 10, "frame": "128x128", "sigmas": (25,), "key": "psnr_s25"},
    "drive": {"T": 10, "frame": "64x64", "key": "f1"},
    "isbi2012": {"T": 20, "frame": "128x128", "key": "f1_interior"},
    "camseq01": {"T": 20, "frame": "128x128", "key": "miou"},
}


DATA = {
    "denoise-grey": "Train400 (grey, 64x64 patches, Gaussian noise sigma 25) -> BSD68",
    "denoise-colour": "BSD200 (colour, sigma 25) -> CBSD68",
    "drive": "DRIVE (grey + CLAHE + gamma, 48x48 patches) -> 20 test images, FOV mask",
    "isbi2012": "ISBI-2012 EM slices 0..24 -> held-out slices 25..29",
    "camseq01": "CamSeq01 first 81 frames -> last 20 frames (11 classes, void ignored)",
}


def regenerate_card(task: str, invocation: str | None = None) -> None:
    """Rewrite ``MODEL_CARD.md`` from ``metrics.json`` (no re-run)."""
    folder = REPO / "netx_exports" / task
    info = json.loads((folder / "metrics.json").read_text())
    info.setdefault("invocation", invocation or task)
    info["data"] = DATA[task]
    (folder / "metrics.json").write_text(json.dumps(info, indent=2))
    write_card(folder, task, info)


def call(log: list[str], line: str, fn, *args, **kwargs):
    """Run one API call; record ``line`` (the call as a reader would write it)."""
    print(f"\n>>> {line}", flush=True)
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    log.append(line)
    print(f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return result


def shown(name: str, *args: str, **kwargs: Any) -> str:
    """``lsu.name(args, key=value)`` as text for the card."""
    parts = [*args, *(f"{k}={v!r}" for k, v in kwargs.items())]
    return f"lsu.{name}({', '.join(parts)})"


def verify_and_profile(h5: Path, frame: np.ndarray, forms: str, work: Path, log: list[str]):
    """``lsu.verify`` and ``lsu.profile`` of the exported file on ``frame``; both written
    to ``work`` (``verify.json``, ``profile/profile.json``) and returned."""
    import lava_spikingunet as lsu
    from lava_spikingunet.profiling.report import write_json

    model = call(log, f"model = lsu.load({rel(h5)!r})", lsu.load, rel(h5))
    line = "reports = " + shown("verify", "model", "frame", repr(forms))
    verify = call(log, line, lsu.verify, model, frame, forms)
    write_text_atomic(work / "verify.json", json.dumps(verify, indent=2), overwrite=True)
    meta = {"model": rel(h5), "image": rel(work / "first_test_frame.npy")}
    line = "prof = " + shown("profile", "model", "frame", "'loihi2'")
    report = call(log, line, lsu.profile, model, frame, "loihi2", meta=meta).report
    (work / "profile").mkdir(exist_ok=True)
    write_json(report, work / "profile" / "profile.json")
    return verify, report


def rel(path: Path | str) -> str:
    return str(Path(path).resolve().relative_to(REPO))


def first_test_frame(task_name: str, path: Path, size: int) -> np.ndarray:
    """The first test image, centre-cropped to ``size`` (also saved as .npy beside the
    run, for the commands)."""
    from lava_spikingunet.conversion import tasks as T

    task = T.load_task(task_name, None)
    item = T.center_crop(T.test_items(task, 1)[0], size)
    x = item[0].numpy().astype(np.float64)
    np.save(path, x)
    return x


def measure(task_name: str, unet_path: Path, float_graph: Path, h5: Path, recipe: dict):
    """Test metrics of the U-Net, the float SNN and the integer SNN (from the .h5)."""
    from lava_spikingunet.backends.netx import load_netx
    from lava_spikingunet.checkpoints import load_unet
    from lava_spikingunet.conversion import tasks as T
    from lava_spikingunet.graph.serialize import load_graph
    from lava_spikingunet.reference.module import IntegerSpikingUNetModule
    from lava_spikingunet.snn.module import SpikingUNetModule

    task = T.load_task(task_name, None)
    sig = recipe.get("sigmas", (25,))
    kw = {"sigmas": sig, "with_ssim": True} if "sigmas" in recipe else {}
    unet, _ = load_unet(unet_path)
    models = {
        "unet": unet,
        "float_snn": SpikingUNetModule(load_graph(float_graph)),
        "integer_snn": IntegerSpikingUNetModule(load_netx(h5), delays="graph"),
    }
    out = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        out[name] = T.evaluate(task, model, **kw)
        print(f"{name}: {out[name]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def file_record(graph, info, h5: Path) -> dict[str, Any]:
    """What a card says of the exported file: neuron, fixed point, timing, size."""
    first = graph.neurons()[0]
    return {
        "n_thresholds": graph.node(first).n_thresholds,
        "theta_unit_int": graph.node(first).theta_unit_int,
        "hw": info.hw_profile,
        "form": info.neuron_form,
        "T": info.timesteps,
        "depth_steps": info.pipeline_depth,
        "steps_per_frame": info.frame_steps,
        "size_mb": h5.stat().st_size / 1e6,
    }


def tuned_record(tuned: Path) -> dict[str, Any]:
    """What the card says of conversion and fine-tuning, from the fine-tuned graph."""
    from lava_spikingunet.graph.serialize import load_graph

    extra = load_graph(tuned).meta.extra
    ft = extra.get("finetune", {})
    return {
        "bias_shift": bool(extra.get("conversion", {}).get("bias_shift")),
        "finetune": {k: ft.get(k) for k in ("steps_done", "best_step")},
    }


def finetune_text(info: dict[str, Any]) -> str:
    """What fine-tuning did, from the fine-tuned graph's record."""
    ft = info.get("finetune")
    if not ft:
        return f"fine-tuned with accumulated spiking flow at T = {info['T']}"
    done, best = ft.get("steps_done"), ft.get("best_step")
    text = f"fine-tuned with accumulated spiking flow at T = {info['T']} ({done} steps"
    if best == 0:
        return text + "; no step lowered the held-out spiking loss, so the converted "
        "weights were kept)"
    return text + f"; kept step {best}, the lowest held-out spiking loss)"


def write_card(folder: Path, task: str, info: dict[str, Any]) -> None:
    m = info["metrics"]
    rows = []
    for metric in sorted(m["unet"]):
        rows.append(
            f"| {metric} | {m['unet'][metric]:.4f} | {m['float_snn'][metric]:.4f} "
            f"| {m['integer_snn'][metric]:.4f} | {m['integer_snn'][metric]:.4f} |"
        )
    ver = info["verify"]
    prof = info["profile"]
    lines = [
        f"# {task}: Spiking-UNet for Lava / Loihi 2",
        "",
        f"- **Data**: {info['data']}",
        f"- **U-Net**: width {info['width']}, depth {info['depth']} "
        f"({info['params']:,} parameters), trained with `spikingunet train` "
        f"(`checkpoints/{task}.json`)",
        f"- **Spiking-UNet**: MT neurons, N = {info['n_thresholds']} thresholds "
        f"(theta_1 = {info['theta1']:g}, halving ladder), connection-wise normalization, "
        f"p99.9 calibration{', half-quantum bias shift' if info.get('bias_shift') else ''}; "
        + finetune_text(info),
        f"- **Fixed point** ({info['hw']}): 8-bit weight mantissa + exponent per connection, "
        f"threshold unit {info['theta_unit_int']}, 24-bit saturating state",
        f"- **Neuron form in the file**: {info['form']} (both forms run and verify)",
        f"- **Timing**: delay-balanced skips, pipeline depth {info['depth_steps']} steps, "
        f"{info['steps_per_frame']} steps per frame (T {info['T']} + depth)",
        f"- **File**: `model.h5` ({info['size_mb']:.2f} MB, netx HDF5, docs/netx_schema.md)",
        "",
        f"## Test metrics ({info['test']})",
        "",
        "| metric | U-Net | float SNN | integer SNN | Lava |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "The Lava column equals the integer column because Lava is bit-identical to the "
        f"integer reference: `spikingunet verify` on the first test image "
        f"({ver['frame']}) found {ver['mismatches_graded']} mismatching values in the graded "
        f"form and {ver['mismatches_cascade']} in the binary cascade form, over every "
        "layer's spikes at every step and the readout.",
        "",
        f"## Cost per frame ({ver['frame']}, loihi2 profile)",
        "",
        f"- synaptic ops: {prof['synops_graded']:,} (graded), {prof['synops_cascade']:,} "
        f"(binary cascade); the U-Net needs {prof['ann_macs']:,} MACs, so the SNN does "
        f"{prof['synops_graded'] / max(prof['ann_macs'], 1):.2f} graded synops per ANN MAC "
        "(synops = spikes x fan-out, docs/profiling.md; the paper counted spikes only)",
        f"- energy, paper model (0.9 pJ/AC vs 4.6 pJ/MAC): SNN {prof['paper_snn_uj']:.2f} uJ "
        f"vs U-Net {prof['paper_ann_uj']:.2f} uJ",
        f"- energy, loihi2 profile figures (estimates, see hw_profiles/loihi2.toml): "
        f"{prof['loihi2_uj_graded']:.1f} uJ graded, {prof['loihi2_uj_cascade']:.1f} uJ cascade",
        f"- cores (graded form, shared-weight mapping model): {prof['cores_graded']}",
        "",
        "## Reproduce",
        "",
        "Every figure above comes from one run of "
        f"`.venv/bin/python -m benchmarks.ship_models {info['invocation']}`, which ran:",
        "",
        "```",
        *info["commands"],
        "```",
        "",
        "and measured the test metrics with `conversion.tasks.evaluate` on the U-Net "
        "(`unet.pt`), the fine-tuned float graph and the exported `model.h5`. "
        "Raw numbers: `metrics.json`.",
        "",
    ]
    (folder / "MODEL_CARD.md").write_text("\n".join(lines))


ILIF_DATA = {
    "denoise-grey": "Train400 (grey, 64x64 patches, Gaussian noise sigma uniform in [0, 55]: "
    "blind) -> BSD68",
    "denoise-colour": "BSD200 (colour, sigma uniform in [0, 55]: blind) -> CBSD68",
}


def ship_ilif(task: str, threads: int, invocation: str) -> int:
    """Ship the T = 1 I-LIF Spiking-UNet of ``task`` to ``netx_exports/<task>-t1/``."""
    import torch

    import lava_spikingunet as lsu
    from benchmarks.ilif import CHECKPOINTS, SIGMAS
    from lava_spikingunet.backends.netx import load_netx, read_netx
    from lava_spikingunet.checkpoints import load_unet
    from lava_spikingunet.conversion import tasks as T
    from lava_spikingunet.reference.module import IntegerSpikingUNetModule

    float_name, ilif_name = CHECKPOINTS[task]
    unet_ckpt, ilif_ckpt = (
        REPO / "checkpoints" / f"{float_name}.pt",
        REPO / "checkpoints" / f"{ilif_name}.pt",
    )
    recipe = RECIPES[task]
    work = REPO / "runs" / "ship" / f"{task}-t1"
    work.mkdir(parents=True, exist_ok=True)
    ship = REPO / "netx_exports" / f"{task}-t1"
    ship.mkdir(parents=True, exist_ok=True)
    cmds: list[str] = ["import lava_spikingunet as lsu"]
    h5 = ship / "model.h5"
    side = int(recipe["frame"].split("x")[0])
    frame = first_test_frame(task, work / "first_test_frame.npy", side)
    ckpt = rel(ilif_ckpt)  # paths as the card shows them (run from the checkout)
    unet_ilif = call(cmds, f"unet = lsu.load_unet({ckpt!r})", lsu.load_unet, ckpt)
    snn = call(
        cmds, "snn = " + shown("convert", "unet", f"({side}, {side})", task=task),
        lsu.convert, unet_ilif, (side, side), task=task,
    )  # fmt: skip
    q = call(cmds, "q = " + shown("quantize", "snn", "'loihi2'"), lsu.quantize, snn, "loihi2")
    call(
        cmds, shown("export", "q", repr(rel(h5)), delays="balanced", overwrite=True),
        lsu.export, q, rel(h5), delays="balanced", overwrite=True,
    )  # fmt: skip
    verify, report = verify_and_profile(h5, frame, "all", work, cmds)

    unet, _ = load_unet(unet_ckpt)
    ilif, ilif_meta = load_unet(ilif_ckpt)
    torch.save({"config": unet.config.to_dict(), "state_dict": unet.state_dict(),
                "task": task}, ship / "unet.pt")  # fmt: skip
    t = T.load_task(task, None)
    kw = {"sigmas": SIGMAS, "with_ssim": True} if task.startswith("denoise") else {}
    metrics = {}
    models = {"unet": unet, "ilif_unet": ilif,
              "integer_snn": IntegerSpikingUNetModule(load_netx(h5), delays="graph")}  # fmt: skip
    for name, model in models.items():
        t0 = time.perf_counter()
        metrics[name] = T.evaluate(t, model, **kw)
        print(f"{name}: {metrics[name]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    graph, info = read_netx(h5)
    first = graph.neurons()[0]
    totals = report["frame"]
    forms = [v["form"] for v in verify]
    summary = {
        "task": task,
        "key": recipe["key"],
        "metrics": metrics,
        "data": ILIF_DATA.get(task, DATA[task]),
        "test": "full test split (docs/data.md)",
        "width": unet.config.base_width,
        "depth": unet.config.depth,
        "params": sum(p.numel() for p in unet.parameters()),
        "levels": ilif.config.levels,
        "ilif_train": (ilif_meta.get("train") or {}).get("options"),
        "checkpoints": {"unet": rel(unet_ckpt), "ilif": rel(ilif_ckpt)},
        **file_record(graph, info, h5),
        "verify": {
            "frame": "x".join(str(s) for s in graph.resized(side, side).node(first).shape[1:]),
            "mismatches": {
                f: sum(r["mismatches"] for r in v["layers"]) + v["readout_mismatches"]
                for f, v in zip(forms, verify, strict=True)
            },
        },
        "profile": {
            "ann_macs": int(totals["ann_macs"]),
            "synops": {f: int(totals[f]["synops"]) for f in ("graded", "cascade", "virtual")},
            "synops_per_mac": {
                f: float(totals[f]["synops_per_ann_mac"]) for f in ("graded", "cascade", "virtual")
            },
            "paper_snn_uj": {
                f: float(totals[f]["paper_snn_energy_uj"]) for f in ("graded", "cascade", "virtual")
            },
            "paper_ann_uj": float(totals["paper_ann_energy_uj"]),
            "loihi2_uj": {
                f: float(totals[f]["energy_uj"]) for f in ("graded", "cascade", "virtual")
            },
            "cores_graded": report["mapping"]["graded"].get("cores"),
        },
        "commands": cmds,
        "invocation": invocation,
    }
    write_text_atomic(ship / "metrics.json", json.dumps(summary, indent=2) + "\n", overwrite=True)
    write_ilif_card(ship, task, summary)
    shutil.copy(work / "profile" / "profile.json", ship / "profile.json")
    print(f"\nwrote {rel(ship)}/: model.h5, unet.pt, metrics.json, MODEL_CARD.md")
    return 0


def write_ilif_card(folder: Path, task: str, info: dict[str, Any]) -> None:
    m = info["metrics"]
    rows = [
        f"| {k} | {m['unet'][k]:.4f} | {m['ilif_unet'][k]:.4f} | {m['integer_snn'][k]:.4f} "
        f"| {m['integer_snn'][k]:.4f} |"
        for k in sorted(m["unet"])
    ]
    prof, ver = info["profile"], info["verify"]
    spm = prof["synops_per_mac"]
    train = info.get("ilif_train") or {}
    mism = ", ".join(f"{n} in the {f} form" for f, n in ver["mismatches"].items())
    lines = [
        f"# {task}-t1: one-timestep I-LIF Spiking-UNet for Lava / Loihi 2",
        "",
        f"- **Data**: {info['data']}",
        f"- **U-Net**: width {info['width']}, depth {info['depth']} "
        f"({info['params']:,} parameters), `{info['checkpoints']['unet']}`",
        f"- **I-LIF U-Net**: integer-valued activations with D = {info['levels']} levels "
        f"(learned step per layer), fine-tuned from the U-Net with `spikingunet train "
        f"--activation ilif --levels {info['levels']} --sparsity {train.get('sparsity', 0):g} "
        + (f"--weight-quant {train['weight_quant']} " if train.get("weight_quant") else "")
        + f"--init ...` for {train.get('steps')} steps (`benchmarks/train_ilif.py`, "
        f"`{info['checkpoints']['ilif']}`; docs/ilif.md)",
        f"- **Spiking-UNet**: exact conversion (no calibration, no conversion error): MT "
        f"neurons with N = {info['n_thresholds']} thresholds and the half-quantum bias shift, "
        f"T = {info['T']}",
        f"- **Fixed point** ({info['hw']}): 8-bit weight mantissa + exponent per connection, "
        f"threshold unit {info['theta_unit_int']}, 24-bit saturating state",
        f"- **Timing**: delay-balanced skips, pipeline depth {info['depth_steps']} steps, "
        f"**{info['steps_per_frame']} steps per frame** (T = 1 + depth)",
        f"- **File**: `model.h5` ({info['size_mb']:.2f} MB, netx HDF5, docs/netx_schema.md), "
        f"neuron form {info['form']} (graded, cascade and virtual all run and verify)",
        "",
        f"## Test metrics: {info['test']}",
        "",
        "| metric | U-Net | I-LIF U-Net | integer SNN (T = 1) | Lava |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "The Lava column equals the integer column because Lava is bit-identical to the "
        f"integer reference: `spikingunet verify --form all` on the first test image "
        f"({ver['frame']}) found {mism}, over every layer's spikes at every step and the "
        "readout.",
        "",
        f"## Cost per frame ({ver['frame']}, loihi2 profile)",
        "",
        f"- synaptic ops per ANN MAC: **{spm['graded']:.3f} graded**, {spm['cascade']:.3f} "
        f"binary cascade, {spm['virtual']:.3f} virtual (accumulate-only); the U-Net needs "
        f"{prof['ann_macs']:,} MACs (synops = spikes x fan-out over every step of the frame, "
        "docs/profiling.md)",
        f"- energy, paper model (0.9 pJ/AC vs 4.6 pJ/MAC): SNN "
        f"{prof['paper_snn_uj']['graded']:.2f} uJ (graded) vs U-Net {prof['paper_ann_uj']:.2f} uJ",
        f"- energy, loihi2 profile figures (estimates, see hw_profiles/loihi2.toml): "
        f"{prof['loihi2_uj']['graded']:.1f} uJ graded, {prof['loihi2_uj']['cascade']:.1f} uJ "
        f"cascade, {prof['loihi2_uj']['virtual']:.1f} uJ virtual",
        f"- cores (graded form, shared-weight mapping model): {prof['cores_graded']}",
        "",
        "## Reproduce",
        "",
        f"`.venv/bin/python -m benchmarks.ship_models {info['invocation']}` ran:",
        "",
        "```",
        *info["commands"],
        "```",
        "",
        "and measured the test metrics with `conversion.tasks.evaluate` on the U-Net, the "
        "I-LIF U-Net and the exported `model.h5`. Raw numbers: `metrics.json`.",
        "",
    ]
    write_text_atomic(folder / "MODEL_CARD.md", "\n".join(lines), overwrite=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("task", choices=sorted(RECIPES))
    p.add_argument(
        "--ilif", action="store_true",
        help="ship the T = 1 I-LIF model (checkpoints/<task>-ilif.pt) to netx_exports/<task>-t1/",
    )  # fmt: skip
    p.add_argument("--T", type=int, default=None, help="time steps (default: the recipe's)")
    p.add_argument(
        "--preset", choices=("deploy", "paper"), default="deploy",
        help="neuron settings passed to `spikingunet convert` (default deploy)",
    )  # fmt: skip
    p.add_argument("--finetune-steps", type=int, default=400)
    p.add_argument("--finetune-minutes", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-finetune", action="store_true", help="reuse finetuned.pt")
    p.add_argument(
        "--finetuned", type=Path, default=None,
        help="use this fine-tuned graph instead of fine-tuning (its command is recorded)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.ilif:
        invocation = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        return ship_ilif(args.task, args.threads, invocation)

    import torch

    torch.set_num_threads(args.threads)
    recipe = dict(RECIPES[args.task])
    T = args.T or recipe["T"]
    ckpt = REPO / "checkpoints" / f"{args.task}.pt"
    if not ckpt.is_file():
        raise SystemExit(f"{ckpt} not found: train it first (benchmarks/train_baselines.py)")
    work = REPO / "runs" / "ship" / args.task
    work.mkdir(parents=True, exist_ok=True)
    ship = REPO / "netx_exports" / args.task
    ship.mkdir(parents=True, exist_ok=True)
    import lava_spikingunet as lsu
    from lava_spikingunet.graph.serialize import load_graph, save_graph

    cmds: list[str] = ["import lava_spikingunet as lsu"]
    tuned, h5 = work / "finetuned.pt", ship / "model.h5"
    side = int(recipe["frame"].split("x")[0])
    unet = call(cmds, f"unet = lsu.load_unet({rel(ckpt)!r})", lsu.load_unet, rel(ckpt))
    line = "snn = " + shown(
        "convert", "unet", f"({side}, {side})", task=args.task, preset=args.preset, timesteps=T
    )
    snn = call(
        cmds, line, lsu.convert, unet, (side, side), task=args.task, preset=args.preset,
        timesteps=T,
    )  # fmt: skip
    if args.finetuned is not None:
        tuned = args.finetuned.resolve()
        recipe_file = tuned.with_suffix(".cmd")  # the commands that made it, one a line
        if recipe_file.is_file():
            cmds += recipe_file.read_text().split("\n")
        else:
            cmds.append(f"# fine-tuned graph reused: {rel(tuned)}")
    elif not (args.skip_finetune and tuned.is_file()):
        kw = {"timesteps": T, "steps": args.finetune_steps, "seed": 1}
        kw["time_budget"] = 60.0 * args.finetune_minutes
        line = "snn = " + shown("finetune", "snn", repr(args.task), **kw)
        save_graph(tuned, call(cmds, line, lsu.finetune, snn, args.task, **kw), overwrite=True)
    q = call(cmds, "q = " + shown("quantize", "snn", "'loihi2'"), lsu.quantize,
             load_graph(tuned), "loihi2")  # fmt: skip
    call(
        cmds, shown("export", "q", repr(rel(h5)), delays="balanced", overwrite=True),
        lsu.export, q, rel(h5), delays="balanced", overwrite=True,
    )  # fmt: skip
    frame = first_test_frame(args.task, work / "first_test_frame.npy", side)
    verify, report = verify_and_profile(h5, frame, "both", work, cmds)

    from lava_spikingunet.backends.netx import read_netx

    torch.save({"config": unet.config.to_dict(), "state_dict": unet.state_dict(),
                "task": args.task}, ship / "unet.pt")  # fmt: skip
    metrics = measure(args.task, ship / "unet.pt", tuned, h5, recipe)
    graph, info = read_netx(h5)
    first = graph.neurons()[0]
    totals = report["frame"]
    summary = {
        "task": args.task,
        "key": recipe["key"],
        "metrics": metrics,
        "data": DATA[args.task],
        "test": "full test split (docs/data.md)",
        "width": unet.config.base_width,
        "depth": unet.config.depth,
        "params": sum(p.numel() for p in unet.parameters()),
        **tuned_record(tuned),
        "theta1": graph.node(first).theta1,
        **file_record(graph, info, h5),
        "verify": {
            "frame": "x".join(str(s) for s in graph.resized(side, side).node(first).shape[1:]),
            "mismatches_graded": sum(r["mismatches"] for r in verify[0]["layers"])
            + verify[0]["readout_mismatches"],
            "mismatches_cascade": sum(r["mismatches"] for r in verify[1]["layers"])
            + verify[1]["readout_mismatches"],
        },
        "profile": {
            "synops_graded": int(totals["graded"]["synops"]),
            "synops_cascade": int(totals["cascade"]["synops"]),
            "ann_macs": int(totals["ann_macs"]),
            "paper_snn_uj": float(totals["graded"]["paper_snn_energy_uj"]),
            "paper_ann_uj": float(totals["paper_ann_energy_uj"]),
            "loihi2_uj_graded": float(totals["graded"]["energy_uj"]),
            "loihi2_uj_cascade": float(totals["cascade"]["energy_uj"]),
            "cores_graded": report["mapping"]["graded"].get("cores"),
        },
        "commands": cmds,
        "invocation": " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
        ),
    }
    (ship / "metrics.json").write_text(json.dumps(summary, indent=2))
    write_card(ship, args.task, summary)
    shutil.copy(work / "profile" / "profile.json", ship / "profile.json")
    print(f"\nwrote {rel(ship)}/: model.h5, unet.pt, metrics.json, MODEL_CARD.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
