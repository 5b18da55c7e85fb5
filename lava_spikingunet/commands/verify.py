"""Run Lava and the integer reference on the same frame and compare them bit for bit.

Both get the same integer input current. Every neuron layer's spike counts at every
step and the readout accumulator are compared; mismatches are reported per layer and
step. Exit status 0 when the runs are identical, 1 when they differ.
"""

from __future__ import annotations

import argparse
import json

from lava_spikingunet.neuron_forms import FORM_GROUPS, NEURON_FORMS, resolve_forms

HELP = "run Lava and the integer reference on one frame and compare bit for bit"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="netx HDF5 file (or a quantized .pt)")
    p.add_argument("--image", required=True, help="input image (PNG/JPG) or .npy (C, H, W)")
    p.add_argument(
        "--form",
        choices=(*NEURON_FORMS, *FORM_GROUPS),
        default=None,
        help="neuron form to run on Lava: graded, cascade, virtual, both (graded and "
        "cascade) or all (default: the model's)",
    )
    p.add_argument("--out", default=None, help="write the comparison as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Lava stop")


def compare(graph, ref, lava) -> dict:
    """Per-layer comparison of a reference result and a Lava result (one frame)."""
    import numpy as np

    layers = []
    for name in graph.neurons():
        want = ref.spikes[name].numpy()[:, 0]
        got = lava.spikes[name][: want.shape[0]]
        diff = got != want
        steps = np.flatnonzero(diff.reshape(diff.shape[0], -1).any(1))
        layers.append(
            {
                "layer": name,
                "steps": int(want.shape[0]),
                "elements": int(want[0].size),
                "spikes": int(want.sum()),
                "mismatches": int(diff.sum()),
                "mismatch_steps": steps.tolist()[:20],
            }
        )
    acc_diff = int((lava.acc[0] != ref.acc.numpy()[0]).sum())
    return {
        "form": lava.form,
        "identical": acc_diff == 0 and all(r["mismatches"] == 0 for r in layers),
        "readout_mismatches": acc_diff,
        "layers": layers,
        "lava_wall_s": round(lava.wall_s, 3),
    }


def verify_frame(graph, frame, forms, timeout: float = 120.0, progress=None) -> list[dict]:
    """Run the reference and Lava (each form) on ``frame`` ``(C, H, W)``; compare."""
    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.reference.input_current import input_current
    from lava_spikingunet.reference.simulator import simulate

    current = input_current(graph, frame[None])
    ref = simulate(graph, current=current, record_spikes=True)
    reports = []
    for form in forms:
        if progress:
            progress(f"Lava ({form} form)")
        lava = run_lava(graph, current, form=form, record=True, timeout=timeout)
        reports.append(compare(graph, ref, lava))
    return reports


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.commands.simulate import load_input, load_model
    from lava_spikingunet.errors import UserError
    from lava_spikingunet.fileio import check_writable, write_text_atomic
    from lava_spikingunet.graph.timing import frame_steps
    from lava_spikingunet.limits import check_lava_memory, check_reference_memory
    from lava_spikingunet.reference.input_current import size_multiple

    if not args.timeout > 0 or args.timeout == float("inf"):
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.out:
        check_writable(args.out, args.overwrite, suffixes=(".json",))
    graph = load_model(args.model)
    if not graph.is_quantized:
        raise UserError(f"{args.model} is not quantized: run `spikingunet quantize` first")
    c, h, w = graph.node(graph.input_name).shape
    frame = load_input(args.image, c)
    m = size_multiple(graph)
    if frame.shape[1] % m or frame.shape[2] % m:
        # like simulate: pad (reflect) to the next multiple of 2^depth; both runs see it
        import torch

        from lava_spikingunet.reference.module import pad_frames

        fh, fw = frame.shape[1:]
        frame = pad_frames(torch.as_tensor(frame)[None], m)[0][0].numpy()
        print(f"padded the {fh}x{fw} image to {frame.shape[1]}x{frame.shape[2]} (multiple of {m})")
    if frame.shape[1:] != (h, w):
        graph = graph.resized(frame.shape[1], frame.shape[2])
    forms = resolve_forms(args.form or graph.meta.neuron_form)
    check_reference_memory(graph, record_steps=frame_steps(graph))
    for form in forms:
        check_lava_memory(graph, form)
    reports = verify_frame(
        graph, frame, forms, args.timeout, progress=lambda s: print(f"running {s} ...")
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
