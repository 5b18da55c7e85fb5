"""Ship an I-LIF U-Net in the ``sdnn`` form: ``netx_exports/<task>-sdnn/`` (issue #13).

For each task: the one-timestep I-LIF U-Net (``checkpoints/<task>-ilif.pt``) converted
exactly at ``T = 1``, quantized for ``loihi2`` and turned into the ``sdnn`` form with its
weight mantissas kept (:func:`lava_spikingunet.backends.sdnn.module.sdnn_from_ilif`),
exported in netx's own SDNN terms (:func:`~lava_spikingunet.backends.sdnn.netx.
export_sdnn_netx`, docs/netx_schema.md), then read back from the file for everything
below, so every number on the card is the shipped file's:

- ``verify``: Lava (stock processes, ``Loihi2SimCfg`` fixed_pt) against the sigma-delta
  reference on a ``--verify-crop`` crop of the first test input, two frames as a stream
  (:func:`~lava_spikingunet.backends.sdnn.stages.verify_sdnn`);
- ``profile``: synops of the graded deltas per ANN MAC on the first test input's centre
  ``--profile-crop`` crop, from the resting state (and from reset), and the neurocores
  of the mapping model (:func:`~lava_spikingunet.backends.sdnn.stages.profile_sdnn`);
- test metrics of the U-Net, the I-LIF U-Net and the shipped file (sigma-delta reference
  = Lava) on the first ``--images`` test images (central ``--crop`` window; the reference
  runs on one core).

    .venv/bin/python -m benchmarks.ship_sdnn drive isbi2012 camseq01
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lava_spikingunet.checkpoints import load_unet
from lava_spikingunet.conversion import tasks as T
from lava_spikingunet.fileio import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
TASKS = ("denoise-grey", "denoise-colour", "drive", "isbi2012", "camseq01")


def log(msg: str) -> None:
    print(msg, flush=True)


def first_input(task, crop: int, multiple: int) -> np.ndarray:
    """The first test input's central ``crop`` window (C, H, W), sides a multiple."""
    item = T.center_crop(T.test_items(task, 1)[0], crop)
    x = item[0].float().numpy().astype(np.float64)
    h, w = (s - s % multiple for s in x.shape[1:])
    return x[:, :h, :w]


def ship(name: str, args: argparse.Namespace) -> dict:
    from benchmarks.sdnn_static import calib_frame, checkpoint_paths, sha256
    from lava_spikingunet.backends.sdnn.module import SDNNModule, sdnn_from_ilif
    from lava_spikingunet.backends.sdnn.netx import export_sdnn_netx, load_sdnn_netx
    from lava_spikingunet.backends.sdnn.stages import profile_sdnn, sdnn_problems, verify_sdnn

    ck = checkpoint_paths(name, args.ilif_checkpoint)
    unet, meta = load_unet(ck["unet"])
    ilif, ilif_meta = load_unet(ck["ilif"])
    task = T.load_task(name, args.data_root, (meta.get("train") or {}).get("options"))
    key = T.primary_metric(task)
    out_dir = REPO / "netx_exports" / f"{name}{'-' + args.variant if args.variant else ''}-sdnn"
    out_dir.mkdir(parents=True, exist_ok=True)
    x = calib_frame(task, ilif.size_multiple)
    g = sdnn_from_ilif(ilif, x, extra_fine_bits=args.extra_fine_bits)
    path = export_sdnn_netx(g, out_dir / "model.h5")
    shipped = load_sdnn_netx(path)
    problems = sdnn_problems(shipped, "loihi2")
    log(f"[{name}] wrote {path} ({path.stat().st_size / 1e6:.2f} MB); problems: {problems}")
    layer_vth = None
    if args.layer_vth:  # the stream's per-layer thresholds, beside the model
        from lava_spikingunet.backends.sdnn.stream import read_layer_vth

        table, base = read_layer_vth(args.layer_vth, shipped)
        layer_vth = {"meta": {"base": base, "source": str(args.layer_vth)}, "layer_vth": table}
        write_text_atomic(out_dir / "layer_vth.json", json.dumps(layer_vth, indent=1) + "\n", True)
    m = ilif.size_multiple
    t0 = time.monotonic()
    v_in = first_input(task, args.verify_crop, m)
    ver = verify_sdnn(shipped, np.stack([v_in, v_in[:, ::-1].copy()]), timeout=600.0)
    ver["seconds"] = round(time.monotonic() - t0, 1)
    log(f"[{name}] verify: {ver['mismatches']} mismatches ({ver['seconds']} s)")
    prof = profile_sdnn(shipped, first_input(task, args.profile_crop, m), "loihi2")
    log(
        f"[{name}] profile: {prof['synops_per_mac'][0]:.4f} synops/MAC from rest "
        f"({prof['from_reset']['synops_per_mac'][0]:.4f} from reset), {prof['cores']} cores"
    )
    nets = {"unet": unet, "ilif_unet": ilif, "sdnn": SDNNModule(shipped)}
    metrics = {}
    for label, net in nets.items():
        t0 = time.monotonic()
        metrics[label] = T.evaluate(task, net, args.images, crop=args.crop or None)
        log(f"[{name}] {label}: {key}={metrics[label][key]:.4f} ({time.monotonic() - t0:.0f} s)")
    info = shipped.meta.extra["sdnn"]
    record = {
        "task": name,
        "metric": key,
        "checkpoints": {k: {"path": p.name, "sha256": sha256(p)} for k, p in ck.items()},
        "levels": int(ilif.config.levels),
        "train": (ilif_meta.get("train") or {}).get("options"),
        "steps_per_frame": int(info["steps"]),
        "state_exp": sorted({v["state_exp"] for v in info["nodes"].values()}),
        "vth": sorted({v["vth"] for v in info["nodes"].values()}),
        "export_frame": list(x.shape[-2:]),
        "extra_fine_bits": args.extra_fine_bits,
        "variant": args.variant,
        "layer_vth": layer_vth,
        "file_mb": round(path.stat().st_size / 1e6, 3),
        "problems": problems,
        "verify": ver,
        "profile": {k: v for k, v in prof.items() if k != "layers"},
        "eval": {"images": args.images, "crop": args.crop},
        "metrics": metrics,
    }
    write_text_atomic(out_dir / "metrics.json", json.dumps(record, indent=1) + "\n", True)
    write_text_atomic(out_dir / "MODEL_CARD.md", card(record, args), True)
    return record


def card(r: dict, args: argparse.Namespace) -> str:
    name, key = r["task"], r["metric"]
    m = r["metrics"]
    ver, prof = r["verify"], r["profile"]
    crop = f"central {args.crop}x{args.crop} crops" if args.crop else "full images"
    keys = [k for k in m["sdnn"] if isinstance(m["sdnn"][k], int | float)]
    variant = r.get("variant") or ""
    title = f"{name}-{variant}-sdnn" if variant else f"{name}-sdnn"
    fine = r.get("extra_fine_bits") or 0
    video = []
    if r.get("layer_vth"):
        lv = r["layer_vth"]
        video = [
            "## Video",
            "",
            "Stream frames through it one step each (a pipeline), only changes sent, with the "
            "per-layer thresholds found for it (`layer_vth.json`, from "
            f"`{lv['meta']['source']}`, in I-LIF counts at base {lv['meta']['base']:g}) and "
            "the stock `SigmaDelta`'s `cum_error` mode:",
            "",
            "```bash",
            f"spikingunet simulate netx_exports/{title}/model.h5 --image frames/ --stream "
            f"--hold 1 --cum-error --layer-vth netx_exports/{title}/layer_vth.json",
            "```",
            "",
            "`--vth-counts V` scales the map by V / base. The measured stream (CamSeq01's 101 "
            "frames, synops per ANN MAC, mIoU against the frames run alone, Lava bit-exact "
            "on a crop): `benchmarks/results/stream.md` (docs/ilif.md section 7).",
            "",
        ]
    rows = [f"| {k} | {m['unet'][k]:.4f} | {m['ilif_unet'][k]:.4f} | {m['sdnn'][k]:.4f} |"
            for k in keys if k in m["unet"] and k in m["ilif_unet"]]  # fmt: skip
    return "\n".join(
        [
            f"# {title}: the one-timestep I-LIF U-Net on stock Lava processes (sdnn form)",
            "",
            f"- **Source**: `checkpoints/{r['checkpoints']['ilif']['path']}` (I-LIF, D = "
            f"{r['levels']} levels; SHA-256 {r['checkpoints']['ilif']['sha256']}), exact "
            "conversion at T = 1, `loihi2` quantization (docs/ilif.md)",
            "- **Form**: `sdnn` (docs/semantics.md section 6): every neuron a stock "
            "`SigmaDelta` (ReLU; the readout UNIT), synapses stock `Conv` / `Sparse` / "
            "`DelaySparse`; the quantized weight mantissas kept, messages finer than an "
            f"I-LIF count (state_exp {r['state_exp']}"
            + (f"; {fine} bits finer than the exact-weight choice" if fine else "")
            + f"), vth {r['vth']} message unit(s), "
            f"balanced delays, **{r['steps_per_frame']} steps per static frame** (1 per "
            "frame when streaming as a pipeline)",
            f"- **File**: `model.h5` ({r['file_mb']} MB, netx HDF5 in netx's own SDNN terms, "
            f"docs/netx_schema.md; built for {r['export_frame'][0]}x{r['export_frame'][1]}, "
            "any size that divides by 8 runs). Profile check against loihi2: "
            + ("passes" if not r["problems"] else "; ".join(r["problems"])),
            "",
            f"## Test metrics: first {r['eval']['images']} test images, {crop}",
            "",
            "| metric | U-Net | I-LIF U-Net | sdnn (this file; reference = Lava) |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Gap to the U-Net on `{key}`: {m['sdnn'][key] - m['unet'][key]:+.4f} (target "
            "0.1 dB / 0.01 F1 / 0.02 mIoU).",
            "",
            "## Lava and cost",
            "",
            f"- Lava (`Loihi2SimCfg`, fixed_pt, stock processes) against the reference on "
            f"{ver['frame'][0]}x{ver['frame'][1]}, {ver['frames']} frames as a stream "
            f"({ver['steps']} steps, the first {ver.get('rest_steps', 0)} settling to the "
            f"resting state): **{ver['mismatches']} mismatching values** over every "
            f"neuron's messages at every step and the readout ({ver['messages']} messages).",
            f"- Synops of the graded deltas on the first test input "
            f"({prof['frame'][0]}x{prof['frame'][1]}), from the resting state "
            f"(docs/semantics.md section 6): **{prof['synops_per_mac'][0]:.4f} per "
            f"ANN MAC** ({prof['synops_per_frame'][0]:,} synops, "
            f"{prof['ann_macs_per_frame']:,} MACs); settling to rest costs "
            f"{prof['rest']['synops_per_mac']:.4f} per ANN MAC once, when the network is "
            f"loaded; from a reset network the frame would cost "
            f"{prof['from_reset']['synops_per_mac'][0]:.4f}. Neurocores (graded mapping "
            f"model): {prof['cores']} on {prof['chips']} chip(s).",
            "",
            *video,
            "## Reproduce",
            "",
            f"`.venv/bin/python -m benchmarks.ship_sdnn {name} --images {args.images} "
            f"--crop {args.crop}"
            + (
                f" --ilif-checkpoint {name}={r['checkpoints']['ilif']['path'][:-3]}"
                if name in dict(args.ilif_checkpoint)
                else ""
            )
            + (f" --extra-fine-bits {fine}" if fine else "")
            + (f" --variant {variant}" if variant else "")
            + (f" --layer-vth {r['layer_vth']['meta']['source']}" if r.get("layer_vth") else "")
            + "`; raw numbers: `metrics.json`.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    from benchmarks.sdnn_static import add_ilif_checkpoint_arg

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tasks", nargs="+", choices=TASKS)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="central crop (0: full images)")
    p.add_argument("--verify-crop", type=int, default=16)
    p.add_argument("--profile-crop", type=int, default=128)
    add_ilif_checkpoint_arg(p)
    p.add_argument(
        "--extra-fine-bits", type=int, default=0,
        help="messages this many bits finer than the exact-weight choice (what a stream "
        "needs to hold its static result; docs/semantics.md section 6)",
    )  # fmt: skip
    p.add_argument(
        "--variant", default="", help="ship as netx_exports/TASK-VARIANT-sdnn (e.g. video)"
    )
    p.add_argument(
        "--layer-vth", default=None, metavar="JSON",
        help="a benchmarks/stream_vth_search.py result shipped beside the model as "
        "layer_vth.json (the stream's per-layer thresholds, for simulate --stream)",
    )  # fmt: skip
    p.add_argument("--data-root", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.tasks:
        ship(name, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
