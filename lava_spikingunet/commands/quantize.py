"""Quantize a Spiking-UNet to fixed point for a hardware profile.

Every neuron layer gets an integer threshold unit 2^bits (``--theta-unit-bits``, default
the profile's state bits minus 16: 8 on Loihi 2) and integer biases in the profile's bias
format; every synaptic edge an 8-bit (profile) mantissa and the exponent that minimises
its squared error; the readout a power-of-two scale that keeps its accumulator inside
the state bits on the calibration frames (with 2 bits of margin) or, without them, under
a provable bound. The static input edge stays float (computed on the host). Prints the
per-layer headroom table (largest state and current against the profile's bounds).
"""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import nonneg_int

HELP = "quantize a Spiking-UNet to fixed point for a hardware profile"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="converted or fine-tuned Spiking-UNet (.pt)")
    p.add_argument("--out", required=True, help="fixed-point Spiking-UNet file (.pt)")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml (default loihi2)")
    p.add_argument(
        "--theta-unit-bits", type=nonneg_int, default=None,
        help="integer threshold unit 2^bits (default: state bits - 16, i.e. 8 on Loihi 2)",
    )  # fmt: skip
    p.add_argument(
        "--calib-data", default=None,
        help="calibration frames: an image, a folder of images, or a .npy/.pt array "
        "(B, C, H, W) in [0, 1]; default: the task's training patches if the datasets are "
        "present, else the provable bound (and random frames for the headroom table)",
    )  # fmt: skip
    p.add_argument("--calib-frames", type=nonneg_int, default=8, help="frames used (default 8)")
    p.add_argument("--data-root", default=None, help="datasets folder (default ../shared/datasets)")
    p.add_argument(
        "--T", dest="timesteps", type=nonneg_int, default=None,
        help="time steps the readout scale is chosen for (default: the model's)",
    )  # fmt: skip
    p.add_argument(
        "--readout-margin-bits", type=nonneg_int, default=2,
        help="bits of margin over the calibrated readout peak (default 2)",
    )  # fmt: skip
    p.add_argument("--json", default=None, help="also write the quantization report here")
    p.add_argument("--overwrite", action="store_true", help="replace --out / --json if they exist")


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from lava_spikingunet.errors import InputError
    from lava_spikingunet.fileio import check_writable, write_text_atomic
    from lava_spikingunet.graph.serialize import load_graph, save_graph
    from lava_spikingunet.limits import MAX_READOUT_MARGIN_BITS, check_timesteps
    from lava_spikingunet.pipeline.quantize import MAX_THETA_UNIT_BITS, quantize_with_report

    check_writable(args.out, args.overwrite)
    if args.json:
        check_writable(args.json, args.overwrite, what="--json")
    if args.readout_margin_bits > MAX_READOUT_MARGIN_BITS:
        raise InputError(
            f"--readout-margin-bits {args.readout_margin_bits}: at most "
            f"{MAX_READOUT_MARGIN_BITS} (each bit halves the readout's resolution)"
        )
    if args.theta_unit_bits is not None and args.theta_unit_bits > MAX_THETA_UNIT_BITS:
        raise InputError(f"--theta-unit-bits {args.theta_unit_bits}: at most {MAX_THETA_UNIT_BITS}")
    if args.timesteps is not None:
        if args.timesteps == 0:
            raise InputError("--T must be >= 1")
        check_timesteps(args.timesteps, "--T")
    graph = load_graph(args.model)
    res = quantize_with_report(
        graph,
        args.hw,
        theta_unit_bits=args.theta_unit_bits,
        calib=args.calib_data,
        calib_frames=args.calib_frames,
        data_root=args.data_root,
        timesteps=args.timesteps,
        margin_bits=args.readout_margin_bits,
    )
    q, info = res.graph, res.report["fixed_point"]
    print(
        f"quantized for {res.profile.name}: theta_unit_int = 2^{info['theta_unit_bits']}, "
        f"readout scale 2^{int(np.log2(q.node(q.readout_name).scale))} "
        f"(from {info['readout_scale_from']}), T = {res.timesteps}"
    )
    worst = max(res.report["edges"], key=lambda r: r["rel_rms_error"])
    print(
        f"largest relative RMS weight error {worst['rel_rms_error']:.2e} ({worst['edge']}, "
        f"exp {worst['exp']})"
    )
    print(
        f"headroom on {res.headroom.frames} frame(s) ({res.calib_source}), worst of the "
        "model's and balanced delays, every layer on every step:"
    )
    print(res.headroom.table())
    for w in res.warnings:
        print(f"warning: {w}")
    save_graph(args.out, q, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    if args.json:
        write_text_atomic(args.json, json.dumps(res.report, indent=2), overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0
