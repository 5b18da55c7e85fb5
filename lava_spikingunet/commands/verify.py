"""Run Lava and the integer reference on the same frame and compare them bit for bit.

Both get the same integer input current. Every neuron layer's spike counts at every
step and the readout accumulator are compared; mismatches are reported per layer and
step. Exit status 0 when the runs are identical, 1 when they differ.
"""

from __future__ import annotations

import argparse
import json

from lava_spikingunet.neuron_forms import FORM_GROUPS, NEURON_FORMS

HELP = "run Lava and the integer reference on one frame and compare bit for bit"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="netx HDF5 file (or a quantized .pt)")
    p.add_argument("--image", required=True, help="input image (PNG/JPG) or .npy (C, H, W)")
    p.add_argument(
        "--form",
        choices=(*NEURON_FORMS, *FORM_GROUPS, "sdnn"),
        default=None,
        help="neuron form to run on Lava: graded, cascade, virtual, both (graded and "
        "cascade), all, or sdnn (stock SigmaDelta processes; docs/semantics.md section 6) "
        "(default: the model's)",
    )
    p.add_argument(
        "--tile", default=None, metavar="HxW",
        help="compare on HxW tiles of the image (every tile a frame of one run; the tiles "
        "stitch into the whole frame's output exactly)",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="write the comparison as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Lava stop")


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.data.frames import load_input
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.fileio import check_writable, write_text_atomic
    from lava_spikingunet.model_io import load_model
    from lava_spikingunet.pipeline.verify import prepare_frame, verify

    if not args.timeout > 0 or args.timeout == float("inf"):
        raise InputError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.out:
        check_writable(args.out, args.overwrite, suffixes=(".json",))
    if args.form == "sdnn":
        from lava_spikingunet.backends.sdnn.cli import run_verify

        return run_verify(args)
    graph = load_model(args.model)
    if not graph.is_quantized:
        raise InputError(f"{args.model} is not quantized: run `spikingunet quantize` first")
    frame = load_input(args.image, graph.node(graph.input_name).shape[0])
    padded = prepare_frame(graph, frame)[1]
    if padded.shape != frame.shape:
        print(
            f"padded the {frame.shape[1]}x{frame.shape[2]} image to {padded.shape[1]}x"
            f"{padded.shape[2]} (multiple of 2^depth)"
        )
    tile = None
    if getattr(args, "tile", None):
        from lava_spikingunet.tiling import parse_tile

        tile = parse_tile(args.tile)
    reports = verify(
        graph,
        frame,
        args.form,
        timeout=args.timeout,
        progress=lambda s: print(f"running {s} ..."),
        tile=tile,
    )
    for rep in reports:
        print(
            f"\n{rep['form']} form: {'IDENTICAL' if rep['identical'] else 'MISMATCH'} "
            f"(Lava {rep['lava_wall_s']:.1f} s)"
        )
        print(f"{'layer':<12} {'steps':>5} {'neurons':>8} {'spikes':>9} {'mismatches':>10}")
        for r in rep["layers"]:
            print(
                f"{r['layer']:<12} {r['steps']:>5} {r['elements']:>8} {r['spikes']:>9} "
                f"{r['mismatches']:>10}"
                + (f"  steps {r['mismatch_steps']}" if r["mismatches"] else "")
            )
        print(f"{'readout':<12} {'':>5} {'':>8} {'':>9} {rep['readout_mismatches']:>10}")
    if args.out:
        write_text_atomic(args.out, json.dumps(reports, indent=2), args.overwrite)
    return 0 if all(r["identical"] for r in reports) else 1
