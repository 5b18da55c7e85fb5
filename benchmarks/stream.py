"""Video streaming with the ``sdnn`` form: CamSeq01's 101 consecutive frames (issue #13).

The CamSeq01 U-Net (``checkpoints/camseq01.pt``), converted (``deploy``), quantized
(``loihi2``) and turned into the sigma-delta form, runs the 101 frames of the drive as one
stream through the sigma-delta reference: each frame is held ``hold`` steps (default: the
settle steps of a static frame), nothing is reset between frames, and only changes travel
(docs/semantics.md section 6). The same frames are also run one by one from a reset
network (the per-frame static result). Per ``vth`` (float units of the normalized activation;
per neuron ``round(vth * S / 2^state_exp)`` message units):

- ``miou``: mIoU of the stream's predictions against the labels (all 101 frames, void
  excluded); ``miou_static``: the same for the per-frame static runs;
  ``miou_vs_static``: the stream's predictions scored against the static ones;
- ``synops_per_mac_first`` / ``synops_per_mac_rest``: synaptic events per frame per dense
  ANN MAC of the same frame size, frame 1 versus the mean over frames 2..101;
- ``lava_bit_exact``: Lava (stock processes, ``Loihi2SimCfg`` fixed_pt) equals the
  reference at every step (readout) on a ``--lava-crop`` crop of the first
  ``--lava-frames`` frames of the stream.

The reference runs on one core: the frames are a central ``--crop`` (H W) window.

    .venv/bin/python -m benchmarks.stream                  # writes benchmarks/results/stream.*
    .venv/bin/python -m benchmarks.stream --frames 5 --vth 2 --lava-frames 0 --out-dir /tmp/s
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lava_spikingunet import metrics
from lava_spikingunet.fileio import write_text_atomic

CHECKPOINT = "camseq01"


def log(msg: str) -> None:
    print(msg, flush=True)


def load_frames(data_root, n: int, crop: tuple[int, int] | None):
    """``(x (F, 3, H, W) float, labels (F, H, W))``: the first ``n`` frames of the drive."""
    from lava_spikingunet.data.camseq import CamSeqSplit
    from lava_spikingunet.data.imageio import to_float

    split = CamSeqSplit.load(data_root, "all")
    x = np.stack([to_float(im) for im in split.images[:n]])
    y = np.stack(split.labels[:n])
    if crop:
        h, w = crop
        top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
        x = x[:, :, top : top + h, left : left + w]
        y = y[:, top : top + h, left : left + w]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def miou(preds: np.ndarray, target: np.ndarray) -> float:
    from lava_spikingunet.data.camseq import NUM_CLASSES, VOID

    pairs = zip(preds, target, strict=True)
    conf = sum(metrics.confusion_matrix(p, t, NUM_CLASSES, VOID) for p, t in pairs)
    return float(metrics.mean_iou_from_confusion(conf))


def miou_per_frame(preds: np.ndarray, target: np.ndarray) -> list[float]:
    return [miou(p[None], t[None]) for p, t in zip(preds, target, strict=True)]


def ann_macs(graph) -> int:
    from lava_spikingunet.profiling.synops import edge_macs

    return int(sum(edge_macs(e, graph.node(s).shape) for s, _, e in graph.edges()))


def build_graph(args):
    from lava_spikingunet.backends.sdnn.module import sdnn_from_unet
    from lava_spikingunet.checkpoints import load_unet, repo_checkpoints_dir
    from lava_spikingunet.conversion import calibrate
    from lava_spikingunet.conversion import tasks as T

    unet, meta = load_unet(repo_checkpoints_dir() / f"{CHECKPOINT}.pt")
    unet.eval()
    task = T.load_task(CHECKPOINT, args.data_root, (meta.get("train") or {}).get("options"))
    stats = calibrate(unet, T.training_batches(task, 16), max_batches=16)
    return unet, sdnn_from_unet(unet, stats, "loihi2", vth=0, delays=args.delays)


def lava_check(graph, x: np.ndarray, vth: int, crop: int, frames: int) -> dict:
    """Lava vs the reference on a ``crop x crop`` window of the first ``frames`` frames."""
    from lava_spikingunet.backends.sdnn.network import run_sdnn
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.sigma_delta import simulate_sdnn

    h, w = x.shape[2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    xc = x[:frames, :, top : top + crop, left : left + crop]
    g = graph.resized(crop, crop)
    cur = np.stack([input_current(g, f[None]) for f in xc])
    t0 = time.monotonic()
    ref = simulate_sdnn(g, cur, vth=vth, record=True, count_synops=False)
    res = run_sdnn(g, cur, vth=vth, record=False, timeout=120.0)
    same = bool(np.array_equal(res.readout_steps, ref.readout_steps[:, 0]))
    return {
        "frames": frames,
        "crop": crop,
        "steps": int(ref.steps),
        "bit_exact": same,
        "seconds": round(time.monotonic() - t0, 1),
    }


def run(args) -> dict:
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.sigma_delta import simulate_sdnn, vth_from_float

    unet, graph0 = build_graph(args)
    x, labels = load_frames(args.data_root, args.frames, tuple(args.crop) if args.crop else None)
    g = graph0.resized(*x.shape[2:])
    hold = int(args.hold or g.meta.extra["sdnn"]["steps"])
    cur = np.stack([input_current(g, f[None]) for f in x])  # (F, 1, C, H, W)
    macs = ann_macs(g)
    with torch.no_grad():
        ann = np.concatenate([unet(torch.from_numpy(f[None]).float()).numpy() for f in x])
    out = {
        "meta": {
            "frames": int(x.shape[0]),
            "frame_shape": list(x.shape[1:]),
            "crop": args.crop,
            "hold": hold,
            "delays": args.delays,
            "settle_steps": int(g.meta.extra["sdnn"]["steps"]),
            "ann_macs_per_frame": macs,
            "state_exp": sorted({v["state_exp"] for v in g.meta.extra["sdnn"]["nodes"].values()}),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
        },
        "unet": {"miou": miou(ann.argmax(1), labels)},
        "vth": [],
    }
    log(f"U-Net mIoU {out['unet']['miou']:.4f}; {x.shape[0]} frames {x.shape[2:]}, hold {hold}")
    for vth_f in args.vth:
        vth = vth_from_float(g, vth_f)
        t0 = time.monotonic()
        stream = simulate_sdnn(g, cur, hold, vth=vth)
        t_stream = time.monotonic() - t0
        pred = stream.y.argmax(axis=2)[:, 0]
        syn = stream.synops.reshape(-1, hold).sum(axis=1)
        static_pred, static_syn = [], []
        for f in range(0, x.shape[0], args.chunk):
            part = cur[f : f + args.chunk, 0][None]  # one frame per batch element
            r = simulate_sdnn(g, part, hold, vth=vth)
            static_pred.append(r.y[0].argmax(axis=1))
            static_syn.append(r.synops.sum() / part.shape[1])
        static_pred = np.concatenate(static_pred)
        row = {
            "vth": vth_f,
            "vth_message_units": vth,
            "miou": miou(pred, labels),
            "miou_static": miou(static_pred, labels),
            "miou_vs_static": miou(pred, static_pred),
            "synops_per_mac_first": float(syn[0] / macs),
            "synops_per_mac_rest": float(syn[1:].mean() / macs) if len(syn) > 1 else None,
            "synops_per_mac_static": float(np.mean(static_syn) / macs),
            "synops_per_mac_per_frame": [float(v / macs) for v in syn],
            "miou_per_frame": miou_per_frame(pred, labels),
            "miou_static_per_frame": miou_per_frame(static_pred, labels),
            "max_abs_sigma": int(max(s.max_abs_sigma for s in stream.stats.values())),
            "seconds_stream": round(t_stream, 1),
        }
        if args.lava_frames:
            row["lava"] = lava_check(g, x, vth, args.lava_crop, args.lava_frames)
            row["lava_bit_exact"] = row["lava"]["bit_exact"]
        else:
            row["lava_bit_exact"] = None
        out["vth"].append(row)
        log(
            f"vth={vth_f:g}: mIoU stream {row['miou']:.4f} static {row['miou_static']:.4f} "
            f"(stream vs static {row['miou_vs_static']:.4f}); synops/MAC first "
            f"{row['synops_per_mac_first']:.3f} rest {row['synops_per_mac_rest']} "
            f"lava_bit_exact={row['lava_bit_exact']} ({row['seconds_stream']} s)"
        )
        yield out


def markdown(result: dict) -> str:
    m = result["meta"]
    lines = [
        "# CamSeq01 as a video stream through the sdnn form",
        "",
        f"Generated by `python -m benchmarks.stream`: {m['frames']} consecutive frames "
        f"({m['frame_shape'][1]}x{m['frame_shape'][2]}"
        f"{' central crop' if m['crop'] else ''}), each held {m['hold']} steps "
        f"(a static frame settles in {m['settle_steps']}; {m.get('delays', 'native')} delays), "
        "nothing reset between frames; "
        "per-frame static = each frame alone from a reset network. vth in float units (the "
        "normalized activation; per neuron `round(vth * S / 2^state_exp)` message units). "
        f"Dense ANN MACs per frame: {m['ann_macs_per_frame']:,}. U-Net mIoU "
        f"{result['unet']['miou']:.4f}.",
        "",
        "| vth | mIoU stream | mIoU static | stream vs static | synops/MAC frame 1 "
        "| synops/MAC frames 2.. | synops/MAC static frame | Lava bit-exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["vth"]:
        rest = "-" if r["synops_per_mac_rest"] is None else f"{r['synops_per_mac_rest']:.4f}"
        lava = r.get("lava")
        exact = (
            "-"
            if lava is None
            else f"{r['lava_bit_exact']} ({lava['frames']} frames, "
            + (f"{lava['crop']}x{lava['crop']})")
        )
        lines.append(
            f"| {r['vth']:g} | {r['miou']:.4f} | {r['miou_static']:.4f} | "
            f"{r['miou_vs_static']:.4f} | {r['synops_per_mac_first']:.4f} | {rest} | "
            f"{r['synops_per_mac_static']:.4f} | {exact} |"
        )
    return "\n".join(lines) + "\n"


def figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    for r in result["vth"]:
        f = np.arange(1, len(r["synops_per_mac_per_frame"]) + 1)
        a.semilogy(f, r["synops_per_mac_per_frame"], label=f"vth={r['vth']:g}")
        b.plot(f, r["miou_per_frame"], label=f"stream vth={r['vth']:g}")
    if result["vth"]:
        r0 = result["vth"][0]
        b.plot(f, r0["miou_static_per_frame"], "k--", lw=1, label=f"static vth={r0['vth']:g}")
    a.axhline(0.1, color="grey", lw=0.8, ls=":")
    a.set_ylabel("synops / ANN MAC")
    b.set_ylabel("mIoU (frame)")
    b.set_xlabel("frame")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    a.set_title("CamSeq01 stream, sdnn form")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=101)
    p.add_argument("--crop", type=int, nargs=2, default=[64, 96], metavar=("H", "W"))
    p.add_argument("--hold", type=int, default=0, help="steps per frame (0: settle steps)")
    p.add_argument(
        "--vth",
        type=float,
        nargs="+",
        default=[1 / 1024, 1 / 256, 1 / 64],
        help="delta thresholds in float (normalized activation) units",
    )
    p.add_argument("--chunk", type=int, default=8, help="static frames per batch")
    p.add_argument("--delays", choices=("native", "balanced"), default="native")
    p.add_argument("--lava-frames", type=int, default=4)
    p.add_argument("--lava-crop", type=int, default=16)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", default=str(Path(__file__).parent / "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out_dir = Path(args.out_dir)
    result = None
    for result in run(args):
        write_text_atomic(
            out_dir / "stream.json", json.dumps(result, indent=1) + "\n", overwrite=True
        )
        write_text_atomic(out_dir / "stream.md", markdown(result), overwrite=True)
    if result is not None:
        figure(result, out_dir / "stream.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
