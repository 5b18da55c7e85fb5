"""Per-layer delta thresholds for the CamSeq01 stream, chosen greedily in float emulation.

Layers differ in how much lag they tolerate (the encoder's first layers take a whole
count, the decoder does not), so one ``vth`` for the whole network spends messages where
they are not needed. Starting from ``--base`` counts everywhere, each I-LIF point in turn
(most stream synops first) takes the largest ``--candidates`` value that keeps the
stream's mIoU within ``--budget`` of the frames' static result, the others as chosen so
far. The search runs on the first ``--tune-frames`` frames (CamSeq01's training frames);
the chosen thresholds are then measured on all ``--frames``. Everything here is the float
emulation (:class:`lava_spikingunet.ann.delta.DeltaStream`); ``benchmarks/stream.py
--layer-vth`` measures the map in the integer form (and Lava on a crop).

    .venv/bin/python -m benchmarks.stream_vth_search checkpoints/camseq01-ilif.pt --cum-error
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.stream import load_frames, miou
from benchmarks.stream_training import write_json_and_markdown


def stream_run(net, x: torch.Tensor, labels: np.ndarray, vth, cum_error: bool):
    """``(mIoU, synops per MAC over frames 2.., per-point synops per MAC)`` of one stream."""
    from lava_spikingunet.ann.delta import attach_delta

    st = attach_delta(net, vth, cum_error)
    preds, per = [], {}
    try:
        with torch.no_grad():
            for i, f in enumerate(x):
                preds.append(net(f[None]).argmax(1).numpy())
                if i:
                    st.synops_per_mac()
                    for k, v in st.cost.items():
                        per[k] = per.get(k, 0.0) + float(v)
    finally:
        st.remove()
    macs = net.count_macs(*x.shape[-2:])
    frames = max(1, x.shape[0] - 1)
    per = {k: v / (frames * macs) for k, v in per.items()}
    return miou(np.concatenate(preds), labels), sum(per.values()), per


def static_predictions(net, x: torch.Tensor) -> np.ndarray:
    """Class maps of each frame alone with every change sent (the form's static result)."""
    from lava_spikingunet.ann.delta import attach_delta

    st = attach_delta(net, 1e-6)
    st.static = True
    try:
        with torch.no_grad():
            return np.concatenate([net(f[None]).argmax(1).numpy() for f in x])
    finally:
        st.remove()


def search(args) -> dict:
    from lava_spikingunet.ann.ilif import ilif_points
    from lava_spikingunet.checkpoints import load_unet

    torch.set_num_threads(args.threads)
    x, labels = load_frames(args.data_root, args.frames, tuple(args.crop))
    x = torch.from_numpy(x).float()
    net, _ = load_unet(args.checkpoint)
    net.eval()
    tx, tl = x[: args.tune_frames], labels[: args.tune_frames]
    static = static_predictions(net, x)
    target = miou(static[: args.tune_frames], tl) - args.budget
    vth = dict.fromkeys(ilif_points(net), float(args.base))
    t0 = time.monotonic()
    m0, c0, per = stream_run(net, tx, tl, vth, args.cum_error)
    tune = (m0, c0)  # the tune frames' stream at the thresholds chosen so far
    steps = [{"layer": None, "vth": args.base, "miou": m0, "synops_per_mac": c0, "kept": True}]
    print(f"base {args.base}: tune mIoU {m0:.4f} (target {target:.4f}), {c0:.4f}", flush=True)
    for layer in sorted(per, key=lambda k: -per[k]):
        for cand in sorted(args.candidates, reverse=True):
            if cand <= vth[layer]:
                continue
            trial = {**vth, layer: float(cand)}
            m, c, _ = stream_run(net, tx, tl, trial, args.cum_error)
            kept = m >= target
            steps.append(
                {"layer": layer, "vth": cand, "miou": m, "synops_per_mac": c, "kept": kept}
            )
            print(f"{layer} @ {cand}: {m:.4f} {c:.4f} {'kept' if kept else ''}", flush=True)
            if kept:
                vth, tune = trial, (m, c)
                break
    full_static = miou(static, labels)
    full = stream_run(net, x, labels, vth, args.cum_error)
    uniform = stream_run(net, x, labels, float(args.base), args.cum_error)
    return {
        "meta": {
            "checkpoint": str(args.checkpoint),
            "frames": int(x.shape[0]),
            "tune_frames": int(tx.shape[0]),
            "crop": list(args.crop),
            "base": args.base,
            "candidates": list(args.candidates),
            "budget": args.budget,
            "cum_error": args.cum_error,
            "seconds": round(time.monotonic() - t0, 1),
        },
        "layer_vth": vth,
        "steps": steps,
        "tune": {"miou": tune[0], "synops_per_mac": tune[1], "target": target},
        "all_frames": {
            "miou_static_fine": full_static,
            "layer_vth": {"miou": full[0], "synops_per_mac": full[1], "per_point": full[2]},
            "uniform": {"miou": uniform[0], "synops_per_mac": uniform[1]},
        },
    }


def markdown(r: dict) -> str:
    m, a = r["meta"], r["all_frames"]
    flags = f" --base {m['base']:g} --candidates {' '.join(f'{c:g}' for c in m['candidates'])}"
    flags += f" --budget {m['budget']:g} --tune-frames {m['tune_frames']}"
    flags += " --cum-error" if m["cum_error"] else ""
    lines = [
        "# Per-layer delta thresholds for the CamSeq01 stream (float emulation)",
        "",
        f"Generated by `python -m benchmarks.stream_vth_search {m['checkpoint']}{flags}` "
        f"({m['seconds']:.0f} s): {m['crop'][0]}x{m['crop'][1]} central crop, greedy search "
        f"on frames 1..{m['tune_frames']} (budget {m['budget']:g} mIoU below their static "
        f"result), measured on all {m['frames']} frames"
        + (", neurons in SigmaDelta's cum_error mode" if m["cum_error"] else "")
        + ". vth in I-LIF counts.",
        "",
        f"All {m['frames']} frames: static {a['miou_static_fine']:.4f}; uniform vth "
        f"{m['base']:g}: stream {a['uniform']['miou']:.4f} at "
        f"{a['uniform']['synops_per_mac']:.4f} synops/MAC (frames 2..); per-layer: stream "
        f"{a['layer_vth']['miou']:.4f} ({a['layer_vth']['miou'] - a['miou_static_fine']:+.4f})"
        f" at **{a['layer_vth']['synops_per_mac']:.4f}** synops/MAC.",
        "",
        "| point | vth (counts) | synops/MAC (all frames) |",
        "|---|---:|---:|",
    ]
    per = a["layer_vth"]["per_point"]
    for name, v in r["layer_vth"].items():
        lines.append(f"| {name} | {v:g} | {per.get(name, 0.0):.4f} |")
    lines += ["", "Search steps (tune frames):", "", "| layer | vth | mIoU | synops/MAC | kept |"]
    lines.append("|---|---:|---:|---:|---|")
    for s in r["steps"]:
        lines.append(
            f"| {s['layer'] or '(all at base)'} | {s['vth']:g} | {s['miou']:.4f} | "
            f"{s['synops_per_mac']:.4f} | {'yes' if s['kept'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path, help="I-LIF U-Net checkpoint (.pt)")
    p.add_argument("--base", type=float, default=0.125, help="starting vth (counts)")
    p.add_argument("--candidates", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    p.add_argument("--budget", type=float, default=0.005, help="mIoU below static allowed")
    p.add_argument("--cum-error", action="store_true", help="SigmaDelta's cum_error mode")
    p.add_argument("--frames", type=int, default=101)
    p.add_argument("--tune-frames", type=int, default=81)
    p.add_argument("--crop", type=int, nargs=2, default=[96, 128], metavar=("H", "W"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-name", default="stream_vth_search", help="results file stem")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args(argv)
    if not 2 <= args.tune_frames <= args.frames:
        p.error("--tune-frames must be in 2..--frames")
    result = search(args)
    write_json_and_markdown(args.out_dir / args.out_name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
