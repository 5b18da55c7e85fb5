"""Throughput of the integer reference vs T float U-Net forward passes; quantization cost.

Every contender runs in the same process on the same number of torch threads
(``--threads``, default 1): a yardstick on more threads than the contender does not
compare like with like.

Throughput (:func:`throughput`): a U-Net of base width 16 and depth 4 (random weights,
activation scales calibrated on the frames as the conversion does) on 256x256 frames
(BSD68 size class), B = 1 and B = 4, T = 10 (the paper's BSD68 T). Timed in one run,
interleaved, best of ``--repeats`` (the machine is shared):

- ``unet_xT``: T float32 forward passes of the U-Net (the target: the reference at most
  3x slower);
- ``float_snn``: the float spiking simulator (zero delays: T steps per layer);
- ``reference``: the integer reference with balanced delays (each layer runs T steps;
  the output equals the zero-latency integer run) and with native Lava delays (frame =
  depth + T steps; every layer only on the steps that reach the readout window);
- ``reference_f64``: the same with every convolution in float64 (the exactness fallback),
  to document why float32 is used where provably exact.

Accuracy (:func:`accuracy_table`, ``--accuracy``; needs ``checkpoints/<task>.pt`` and the
datasets): U-Net vs float Spiking-UNet (zero delays) vs integer Spiking-UNet (Loihi 2
profile, balanced delays) per task, with the quantization cost in dB / F1 / mIoU.

Writes ``benchmarks/results/reference.json`` and ``.md``.

    .venv/bin/python -m benchmarks.bench_reference [--accuracy] [--quick]
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(REPO))

import lava_spikingunet  # noqa: E402,F401  (Lava compat hook first)

RESULTS = REPO / "benchmarks" / "results"
TASKS = ("denoise-grey", "denoise-colour", "drive", "isbi2012", "camseq01")


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- throughput


def build_model(width: int, depth: int, size: int, timesteps: int, seed: int = 0):
    """A random U-Net, its converted graph (scales calibrated on smooth random frames)
    and the Loihi 2 quantized graph, plus the calibration frames."""
    from lava_spikingunet.ann.unet import UNet
    from lava_spikingunet.conversion import ConversionConfig, calibrate, convert_unet
    from lava_spikingunet.fixed_point.quantize import quantize_graph

    torch.manual_seed(seed)
    unet = UNet(in_channels=1, out_channels=1, base_width=width, depth=depth, residual=True)
    unet.eval()
    frames = smooth_frames(4, size, seed)
    stats = calibrate(unet, [frames], max_batches=1, seed=seed)
    graph = convert_unet(unet, stats, size, size, ConversionConfig(timesteps=timesteps))
    q = quantize_graph(graph, "loihi2", calib=frames[:2].double().numpy(), timesteps=timesteps)
    return unet, graph, q, frames


def smooth_frames(b: int, size: int, seed: int) -> torch.Tensor:
    """Image-like frames: low-pass random fields plus noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(b, 1, size // 16, size // 16, generator=g)
    x = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear")
    x = x + 0.1 * torch.randn(b, 1, size, size, generator=g)
    return x.clamp(0, 1)


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def throughput(
    width: int = 16,
    depth: int = 4,
    size: int = 256,
    batches: tuple[int, ...] = (1, 4),
    timesteps: int = 10,
    repeats: int = 3,
) -> dict:
    """Frames per second of every contender, per batch size (see the module docstring)."""
    from lava_spikingunet.graph.timing import frame_steps
    from lava_spikingunet.reference.module import with_delays
    from lava_spikingunet.reference.simulator import simulate
    from lava_spikingunet.snn import float_sim

    unet, graph, q, frames = build_model(width, depth, size, timesteps)
    balanced, native = with_delays(q, "balanced"), with_delays(q, "native")
    out = {
        "model": {"base_width": width, "depth": depth, "frame": [size, size], "T": timesteps},
        "steps_per_frame": {"balanced": frame_steps(balanced), "native": frame_steps(native)},
        "macs_per_forward": unet.count_macs(size, size),
        "rows": [],
    }
    for b in batches:
        x = frames[:b] if b <= frames.shape[0] else frames.repeat(-(-b // 4), 1, 1, 1)[:b]
        xn = x.double().numpy()

        def unet_xt(x=x):
            with torch.no_grad():
                for _ in range(timesteps):
                    unet.forward_unpadded(x)

        def ref(g, xn=xn, **kw):
            return lambda: simulate(g, xn, timesteps=timesteps, **kw)

        contenders = {
            "unet_xT": unet_xt,
            "float_snn": lambda x=x: float_sim.simulate(graph, x, timesteps, delays="zero"),
            "reference_balanced": ref(balanced, track_state=False),
            "reference_balanced_stats": ref(balanced),
            "reference_native": ref(native, track_state=False),
            "reference_balanced_f64": ref(balanced, track_state=False, conv_precision="float64"),
        }
        for fn in contenders.values():  # warm up (allocators, oneDNN primitive caches)
            fn()
        best = {k: float("inf") for k in contenders}
        for _ in range(repeats):  # interleaved: load changes hit every contender alike
            for k, fn in contenders.items():
                best[k] = min(best[k], _best(fn, 1))
        for k, sec in best.items():
            row = {
                "contender": k,
                "batch": b,
                "seconds": sec,
                "frames_per_s": b / sec,
                "vs_unet_xT": sec / best["unet_xT"],
            }
            out["rows"].append(row)
            log(f"B={b} {k:<24} {sec:8.3f} s  {b / sec:7.3f} frames/s  x{row['vs_unet_xT']:.2f}")
        a = simulate(balanced, xn, timesteps=timesteps, track_state=False).acc
        z = simulate(with_delays(q, "zero"), xn, timesteps=timesteps).acc
        f = simulate(balanced, xn, timesteps=timesteps, conv_precision="float64").acc
        out.setdefault("checks", {})[f"B={b}"] = {
            "balanced_equals_zero_latency": bool(torch.equal(a, z)),
            "float32_equals_float64_convs": bool(torch.equal(a, f)),
        }
    return out


# --------------------------------------------------------------------------- accuracy


def accuracy_table(
    tasks: tuple[str, ...] = TASKS,
    data_root: str | None = None,
    limit: int | None = None,
    crop: int | None = None,
    profile: str = "loihi2",
) -> list[dict]:
    """U-Net vs float SNN vs integer SNN per task with a checkpoint (skips the others)."""
    from lava_spikingunet.checkpoints import load_unet, repo_checkpoints_dir
    from lava_spikingunet.conversion import ConversionConfig, calibrate, convert_unet
    from lava_spikingunet.conversion import tasks as T
    from lava_spikingunet.fixed_point.quantize import quantize_graph
    from lava_spikingunet.reference.module import IntegerSpikingUNetModule
    from lava_spikingunet.snn.module import SpikingUNetModule

    rows = []
    for name in tasks:
        ckpt = repo_checkpoints_dir() / f"{name}.pt"
        if not ckpt.is_file():
            log(f"{name}: no checkpoint {ckpt}, skipped")
            continue
        unet, meta = load_unet(ckpt)
        options = (meta.get("train") or {}).get("options")
        task = T.load_task(name, data_root, options)
        steps = T.PAPER_T[name]
        batches = T.training_batches(task, 16)
        stats = calibrate(unet, batches, max_batches=16)
        _, h, w = T.first_test_image(task).shape
        m = unet.size_multiple
        frame = (crop or h + (-h) % m, crop or w + (-w) % m)
        graph = convert_unet(unet, stats, *frame, ConversionConfig(timesteps=steps))
        calib = next(T.training_batches(task, 4))[0].double().numpy()
        q = quantize_graph(graph, profile, calib=calib, timesteps=steps)
        key = T.primary_metric(task)
        t0 = time.monotonic()
        res = {
            "unet": T.evaluate(task, unet, limit, crop=crop)[key],
            "float_snn": T.evaluate(task, SpikingUNetModule(graph, steps), limit, crop=crop)[key],
            "integer_snn": T.evaluate(
                task, IntegerSpikingUNetModule(q, steps, "balanced"), limit, crop=crop
            )[key],
        }
        row = {
            "task": name,
            "metric": key,
            "T": steps,
            **res,
            "conversion_cost": res["unet"] - res["float_snn"],
            "quantization_cost": res["float_snn"] - res["integer_snn"],
            "images": limit,
            "crop": crop,
            "seconds": time.monotonic() - t0,
        }
        rows.append(row)
        log(
            f"{name}: {key} U-Net {res['unet']:.4f}, float SNN {res['float_snn']:.4f}, "
            f"integer SNN {res['integer_snn']:.4f} (quantization cost "
            f"{row['quantization_cost']:+.4f})"
        )
    return rows


# --------------------------------------------------------------------------- report


def markdown(result: dict) -> str:
    lines = ["# Integer reference benchmark", ""]
    tp = result.get("throughput")
    if tp:
        m = tp["model"]
        lines += [
            f"U-Net width {m['base_width']}, depth {m['depth']}, {m['frame'][0]}x{m['frame'][1]} "
            f"frames, T = {m['T']}; steps per frame: balanced {tp['steps_per_frame']['balanced']}"
            f", native {tp['steps_per_frame']['native']}; every contender on "
            f"{result['machine']['threads']} torch thread(s) (`--threads`) on "
            f"{result['machine']['cpu']}, in one process. Best of {result['repeats']} "
            "interleaved runs on a shared machine.",
            "",
            "| contender | B | s / batch | frames/s | x (T U-Net passes) |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in tp["rows"]:
            lines.append(
                f"| {r['contender']} | {r['batch']} | {r['seconds']:.3f} | "
                f"{r['frames_per_s']:.3f} | {r['vs_unet_xT']:.2f} |"
            )
        lines += [
            "",
            "`unet_xT`: T float32 U-Net forward passes (the yardstick; target: reference <= 3x). "
            "`float_snn`: the float spiking simulator, zero delays. `reference_balanced`: the "
            "integer reference, balanced delays (every layer T steps; output = zero-latency "
            "integer run); `_stats`: with the per-step headroom statistics (the default). "
            "`reference_native`: Lava's native delays; only the steps that can reach the "
            "readout window run, so at small T most of the deep path is skipped. "
            "`reference_balanced_f64`: every convolution in float64 instead of float32 where "
            "provably exact.",
            "",
            "Checks: " + json.dumps(tp["checks"]),
            "",
        ]
    acc = result.get("accuracy")
    if acc is not None:
        lines += [
            "## Quantization cost",
            "",
            "| task | metric | T | U-Net | float SNN | integer SNN | quantization cost |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in acc:
            lines.append(
                f"| {r['task']} | {r['metric']} | {r['T']} | {r['unet']:.4f} | "
                f"{r['float_snn']:.4f} | {r['integer_snn']:.4f} | {r['quantization_cost']:+.4f} |"
            )
        if not acc:
            lines.append("| (no checkpoints yet) | | | | | | |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--T", dest="timesteps", type=int, default=10)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-throughput", action="store_true")
    p.add_argument("--accuracy", action="store_true", help="also the quantization-cost table")
    p.add_argument("--limit", type=int, default=None, help="test images per task (accuracy)")
    p.add_argument("--crop", type=int, default=None, help="central crop (accuracy)")
    p.add_argument("--quick", action="store_true", help="3 test images, 256x256 crops")
    p.add_argument("--data-root", default=None)
    p.add_argument(
        "--threads", type=int, default=1,
        help="torch threads for every contender alike (default 1: the U-Net yardstick on more "
        "threads than the reference would not compare like with like)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    result: dict = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "repeats": args.repeats,
    }
    old = RESULTS / "reference.json"
    if old.is_file():  # keep the other half of an earlier run
        prev = json.loads(old.read_text())
        result.update({k: prev[k] for k in ("throughput", "accuracy") if k in prev})
    if not args.no_throughput:
        result["throughput"] = throughput(
            args.width, args.depth, args.size, tuple(args.batches), args.timesteps, args.repeats
        )
    if args.accuracy:
        limit, crop = (3, 256) if args.quick else (args.limit, args.crop)
        result["accuracy"] = accuracy_table(data_root=args.data_root, limit=limit, crop=crop)
    from lava_spikingunet.fileio import write_text_atomic

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text_atomic(RESULTS / "reference.json", json.dumps(result, indent=2), overwrite=True)
    write_text_atomic(RESULTS / "reference.md", markdown(result), overwrite=True)
    log(f"wrote {RESULTS / 'reference.json'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
