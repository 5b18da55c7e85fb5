"""Where a shipped T = 1 model loses accuracy: conversion, weights, or integer arithmetic.

For one shipped I-LIF model it evaluates, on the first ``--images`` test images:
the I-LIF U-Net (``benchmarks.ilif.CHECKPOINTS``), its exact float conversion at T = 1,
the shipped quantized network (``netx_exports/<task>-t1/model.h5``) with its weights
dequantized and run in float, and the same network run by the integer reference.
Writes ``benchmarks/results/ilif_quant_cost_<task>.{json,md}``.

    .venv/bin/python -m benchmarks.ilif_quant_cost --task denoise-grey --sigma 15 --images 6
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from lava_spikingunet.backends.netx import load_netx
from lava_spikingunet.checkpoints import load_unet
from lava_spikingunet.conversion import tasks as T
from lava_spikingunet.conversion.ilif import convert_ilif
from lava_spikingunet.fileio import write_text_atomic
from lava_spikingunet.fixed_point.quantize import dequantize_graph
from lava_spikingunet.reference.module import IntegerSpikingUNetModule
from lava_spikingunet.snn.module import SpikingUNetModule

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="denoise-grey")
    p.add_argument("--sigma", type=float, default=15.0, help="denoisers: the noise level")
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from benchmarks.ilif import CHECKPOINTS

    ilif, _ = load_unet(REPO / "checkpoints" / f"{CHECKPOINTS[args.task][1]}.pt")
    q = load_netx(REPO / "netx_exports" / f"{args.task}-t1" / "model.h5")
    _, h, w = q.node(q.input_name).shape
    models = {
        "I-LIF U-Net": ilif,
        "converted float graph, T = 1": SpikingUNetModule(convert_ilif(ilif, h, w), 1),
        "quantized graph, weights dequantized, float": SpikingUNetModule(dequantize_graph(q), 1),
        "integer reference (= Lava)": IntegerSpikingUNetModule(q, 1, delays="graph"),
    }
    task = T.load_task(args.task, None)
    kw = {"sigmas": (args.sigma,)} if args.task.startswith("denoise") else {}
    key = f"psnr_s{args.sigma:g}" if kw else T.primary_metric(task)
    rows = {}
    for name, model in models.items():
        rows[name] = T.evaluate(task, model, args.images, **kw)[key]
        print(f"{name}: {key} {rows[name]:.4f}", flush=True)
    base = REPO / "benchmarks" / "results" / f"ilif_quant_cost_{args.task}"
    out = {"task": args.task, "metric": key, "images": args.images, "rows": rows}
    write_text_atomic(base.with_suffix(".json"), json.dumps(out, indent=1) + "\n", True)
    lines = [
        f"# {args.task}-t1: where the accuracy goes (first {args.images} test images)",
        "",
        f"| network | {key} |",
        "|---|---|",
        *(f"| {n} | {v:.4f} |" for n, v in rows.items()),
    ]
    write_text_atomic(base.with_suffix(".md"), "\n".join(lines) + "\n", True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
