"""One-timestep I-LIF Spiking-UNets against their U-Nets and the MT presets, all five tasks.

Per task (checkpoints from ``benchmarks/train_ilif.py``; the denoisers' float U-Nets are
the blind ones):

- ``unet``: the float U-Net; ``ilif_unet``: the I-LIF U-Net fine-tuned from it;
  ``snn_t1``: that network converted (exactly, ``spikingunet convert``), quantized for
  ``loihi2`` (``spikingunet quantize`` defaults) and run by the integer reference at
  T = 1 on the full test split (denoisers: at sigma 15, 25 and 50 too);
- ``lava_bit_exact``: Lava == integer reference on the first test frame (its top-left
  64x64 of the crop below), every layer at every step and the readout, in the graded,
  cascade and virtual neuron forms;
- ``steps_per_frame`` / ``pipeline_depth`` of the T = 1 network;
- ``synops_per_mac`` = ``{graded, cascade, virtual}``: synaptic ops per ANN MAC of the
  integer network on the first test frame (denoisers: the 128x128 centre crop, as the
  shipped cards; segmentation: the whole frame), counted by the profiler over every
  step of the frame (``profiling.count_synops``: spikes x fan-out, borders exact);
- ``presets``: the float U-Net converted with the ``deploy`` and ``paper`` presets at
  T = 1, 2, 5 and 10 (float Spiking-UNet on the first ``--preset-images`` test images,
  synops per MAC of the quantized network on the first frame's top-left 128x128).

Writes ``benchmarks/results/ilif.{json,md,png}`` (the figure: accuracy against graded
synops per MAC, the Pareto view).

    .venv/bin/python -m benchmarks.ilif                 # all five tasks
    .venv/bin/python -m benchmarks.ilif --tasks drive --preset-images 4
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_spikingunet.checkpoints import load_unet
from lava_spikingunet.conversion import PRESETS, ConversionConfig, calibrate, convert_unet
from lava_spikingunet.conversion import tasks as T
from lava_spikingunet.conversion.ilif import convert_ilif
from lava_spikingunet.fileio import atomic_path, write_text_atomic
from lava_spikingunet.fixed_point import quantize_graph
from lava_spikingunet.graph.timing import balance_delays, frame_steps, pipeline_depth
from lava_spikingunet.profiling.record import record_spikes
from lava_spikingunet.profiling.synops import count_synops
from lava_spikingunet.reference.input_current import input_current
from lava_spikingunet.reference.module import IntegerSpikingUNetModule, pad_frames
from lava_spikingunet.reference.simulator import simulate
from lava_spikingunet.snn.module import SpikingUNetModule

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CKPT = REPO / "checkpoints"
TASKS = ("denoise-grey", "denoise-colour", "drive", "isbi2012", "camseq01")
#: task -> (float U-Net, I-LIF U-Net) under checkpoints/
CHECKPOINTS = {
    "denoise-grey": ("denoise-grey-blind", "denoise-grey-ilif-wq"),
    "denoise-colour": ("denoise-colour-blind", "denoise-colour-ilif-wq"),
    "drive": ("drive", "drive-ilif"),
    "isbi2012": ("isbi2012", "isbi2012-ilif"),
    "camseq01": ("camseq01", "camseq01-ilif"),
}
SIGMAS = (15, 25, 50)
PRESET_T = (1, 2, 5, 10)
FORMS = ("graded", "cascade", "virtual")
CROP = 128
#: Side of the first-frame crop Lava runs in the three forms (the shipped cards verify at
#: their own frame size too).
LAVA_CROP = 64


def log(msg: str) -> None:
    print(msg, flush=True)


def first_frame(task, denoiser: bool) -> torch.Tensor:
    """The first test input: a 128x128 centre crop (denoisers) or the whole frame."""
    item = T.test_items(task, 1)[0]
    if denoiser:
        item = T.center_crop(item, CROP)
    return item[0][None].float()


def padded(x: torch.Tensor, m: int) -> torch.Tensor:
    return pad_frames(x, m)[0]


def synops_per_mac(q, x: torch.Tensor) -> dict[str, float]:
    """Synops per ANN MAC of the quantized graph on frames ``x`` in every form."""
    rec = record_spikes(q, x.double().numpy())
    res = count_synops(rec.graph, rec.counts)
    return {f: res.synops(f) / max(res.ann_macs * res.frames, 1) for f in FORMS}


def lava_check(q, x: torch.Tensor, forms=FORMS) -> dict[str, bool]:
    """Lava == integer reference on ``x`` (every layer and step, the readout), per form."""
    from lava_spikingunet.backends.lava_network import run_lava

    g = q.resized(x.shape[-2], x.shape[-1])
    current = input_current(g, x.double().numpy())
    ref = simulate(g, current=current, record_spikes=True)
    out = {}
    for form in forms:
        res = run_lava(g, current, form=form, record=True)
        same = np.array_equal(res.acc, ref.acc.numpy())
        flen = frame_steps(g)
        for name in g.neurons():
            want = ref.spikes[name].numpy()
            got = res.spikes[name].reshape(x.shape[0], flen, *want.shape[2:]).swapaxes(0, 1)
            same = same and np.array_equal(got, want)
        out[form] = bool(same)
        log(f"    Lava {form}: {'bit-exact' if same else 'MISMATCH'} ({res.wall_s:.1f} s)")
    return out


def run_task(name: str, args: argparse.Namespace) -> dict[str, Any]:
    float_name, ilif_name = CHECKPOINTS[name]
    unet, meta = load_unet(CKPT / f"{float_name}.pt")
    ilif, ilif_meta = load_unet(CKPT / f"{ilif_name}.pt")
    task = T.load_task(name, args.data_root, (meta.get("train") or {}).get("options"))
    key = T.primary_metric(task)
    denoiser = name.startswith("denoise")
    kw = {"sigmas": SIGMAS} if denoiser else {}
    m = unet.size_multiple
    x = padded(first_frame(task, denoiser), m)
    h, w = x.shape[-2:]

    t0 = time.monotonic()
    graph = convert_ilif(ilif, h, w)
    q = quantize_graph(graph, "loihi2", calib=x)
    models = {"unet": unet, "ilif_unet": ilif, "snn_t1": IntegerSpikingUNetModule(q, 1)}
    metrics = {}
    for label, model in models.items():
        s = time.monotonic()
        metrics[label] = T.evaluate(task, model, args.images, **kw)
        log(f"[{name}] {label}: {key}={metrics[label][key]:.4f} ({time.monotonic() - s:.0f} s)")
    rates = synops_per_mac(q, x)
    log(f"[{name}] synops per MAC (T=1): " + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))
    crop = x[..., : min(h, LAVA_CROP), : min(w, LAVA_CROP)]
    exact = lava_check(q, crop, FORMS if not args.quick else ("graded",))
    out: dict[str, Any] = {
        "metric": key,
        "unet": metrics["unet"][key],
        "ilif_unet": metrics["ilif_unet"][key],
        "snn_t1": metrics["snn_t1"][key],
        "lava_bit_exact": all(exact.values()),
        "lava_forms": exact,
        "lava_frame": list(crop.shape[-2:]),
        "steps_per_frame": int(frame_steps(q)),
        "pipeline_depth": int(pipeline_depth(q)),
        "synops_per_mac": rates,
        "synops_frame": [int(h), int(w)],
        "levels": int(ilif.config.levels),
        "sparsity": (ilif_meta.get("train") or {}).get("options", {}).get("sparsity"),
        "checkpoints": {
            "unet": f"checkpoints/{float_name}.pt",
            "ilif": f"checkpoints/{ilif_name}.pt",
        },
        "all_metrics": metrics,
    }
    if denoiser:
        out["sigma"] = {
            str(s): {lab: metrics[lab][f"psnr_s{s}"] for lab in ("unet", "ilif_unet", "snn_t1")}
            for s in SIGMAS
        }
    out["presets"] = presets(unet, task, x, args) if not args.no_presets else []
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def presets(unet, task, x: torch.Tensor, args) -> list[dict[str, Any]]:
    """The deploy and paper presets at T = 1, 2, 5, 10 (float SNN; synops of the integer)."""
    key = T.primary_metric(task)
    x = x[..., : min(x.shape[-2], CROP), : min(x.shape[-1], CROP)]  # T = 10 on a whole frame
    h, w = x.shape[-2:]  # would need several GB of recorded counts
    stats = calibrate(unet, T.training_batches(task, 16), max_batches=16)
    rows = []
    for preset in ("deploy", "paper"):
        for t in PRESET_T:
            cfg = ConversionConfig(timesteps=t, **PRESETS[preset])
            graph = convert_unet(unet, stats, h, w, cfg)
            value = T.evaluate(task, SpikingUNetModule(graph, t), args.preset_images)[key]
            q = quantize_graph(graph, "loihi2", calib=x)
            qb = balance_delays(q.copy())
            rates = synops_per_mac(qb, x)
            rows.append(
                {"preset": preset, "T": t, key: value, "synops_per_mac": rates,
                 "steps_per_frame": int(frame_steps(qb, t)), "images": args.preset_images}
            )  # fmt: skip
            log(f"    {preset} T={t}: {key}={value:.4f}, graded synops/MAC {rates['graded']:.3f}")
    return rows


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# I-LIF: one-timestep Spiking-UNets (benchmarks/ilif.py)",
        "",
        f"{out['how']}",
        "",
        "| task | metric | U-Net | I-LIF U-Net | integer SNN T=1 (= Lava) | Lava bit-exact "
        "| steps/frame | depth | synops/MAC graded | cascade | virtual |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in out["tasks"].items():
        s = r["synops_per_mac"]
        lines.append(
            f"| {name} | {r['metric']} | {r['unet']:.4f} | {r['ilif_unet']:.4f} "
            f"| {r['snn_t1']:.4f} | {'yes' if r['lava_bit_exact'] else 'NO'} "
            f"| {r['steps_per_frame']} | {r['pipeline_depth']} | {s['graded']:.3f} "
            f"| {s['cascade']:.3f} | {s['virtual']:.3f} |"
        )
    den = {n: r for n, r in out["tasks"].items() if "sigma" in r}
    if den:
        lines += [
            "",
            "## Blind denoisers per sigma (PSNR, dB)",
            "",
            "| task | sigma | U-Net | I-LIF U-Net | integer SNN T=1 |",
            "|---|---|---|---|---|",
        ]
        for name, r in den.items():
            for s, v in r["sigma"].items():
                lines.append(
                    f"| {name} | {s} | {v['unet']:.3f} | {v['ilif_unet']:.3f} | {v['snn_t1']:.3f} |"
                )
    pre = {n: r["presets"] for n, r in out["tasks"].items() if r.get("presets")}
    if pre:
        lines += [
            "",
            "## MT presets converted from the same float U-Nets (float SNN)",
            "",
            "| task | preset | T | steps/frame | metric | synops/MAC graded | cascade | virtual |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, rows in pre.items():
            key = out["tasks"][name]["metric"]
            for p in rows:
                s = p["synops_per_mac"]
                lines.append(
                    f"| {name} | {p['preset']} | {p['T']} | {p['steps_per_frame']} | {p[key]:.4f} "
                    f"| {s['graded']:.3f} | {s['cascade']:.3f} | {s['virtual']:.3f} |"
                )
    return "\n".join(lines) + "\n"


def figure(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(out["tasks"].items())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], tasks, strict=True):
        key = r["metric"]
        for preset, marker in (("deploy", "o"), ("paper", "s")):
            rows = [p for p in r.get("presets", []) if p["preset"] == preset]
            if rows:
                ts = ",".join(str(p["T"]) for p in rows)
                xs = [p["synops_per_mac"]["graded"] for p in rows]
                ax.plot(xs, [p[key] for p in rows], marker=marker, label=f"{preset} T={ts}")
        ax.plot([r["synops_per_mac"]["graded"]], [r["snn_t1"]], "*", ms=14, label="I-LIF T=1")
        ax.axhline(r["unet"], color="k", ls="--", lw=0.8, label="U-Net")
        ax.axvline(1.0, color="grey", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("graded synops per ANN MAC")
        ax.set_ylabel(key)
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--images", type=int, default=None, help="test images (default: all)")
    p.add_argument("--preset-images", type=int, default=8, help="test images for the presets")
    p.add_argument("--no-presets", action="store_true")
    p.add_argument("--quick", action="store_true", help="Lava check in the graded form only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--merge", action="store_true", help="keep other tasks of an earlier run")
    p.add_argument("--out", default=str(RESULTS / "ilif"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = Path(args.out)
    out: dict[str, Any] = {"tasks": {}}
    if args.merge and base.with_suffix(".json").is_file():
        out = json.loads(base.with_suffix(".json").read_text())
    out["how"] = (
        "Full test splits unless `images` says otherwise; integer SNN = the quantized "
        "(loihi2) network run by the integer reference at T = 1; synops per MAC counted "
        "by the profiler on the first test frame (denoisers: 128x128 centre crop) over "
        "every step of the frame; presets: float Spiking-UNet on the first "
        f"{args.preset_images} test images, synops on the first frame's top-left 128x128. "
        f"torch threads: {args.threads}."
    )
    out["machine"] = {"python": platform.python_version(), "threads": args.threads}
    for name in args.tasks.split(","):
        log(f"== {name}")
        out["tasks"][name] = run_task(name, args) | {"images": args.images}
        write_text_atomic(base.with_suffix(".json"), json.dumps(out, indent=1) + "\n", True)
        write_text_atomic(base.with_suffix(".md"), markdown(out), True)
        figure(out, base.with_suffix(".png"))
    log(f"wrote {base}.json/.md/.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
