"""Validate a model against a Loihi profile, map it onto cores, and run it with Loihi2HwCfg.

Checks every fixed-point field against the profile (weight mantissas and exponents,
biases, thresholds, graded payload, state width, delays <= the profile's max delay,
graded spikes only where the chip has them), maps the network onto cores and chips
(docs/profiling.md) and prints the mapping. Running on the chip needs Intel's
lava-loihi extension (for INRC members); without it the command stops after the
checks with a non-zero exit code. ``--check-only`` stops there with exit code 0.
"""

from __future__ import annotations

import argparse

# imported by name: run() looks them up here, so a test can stand in for the board
from lava_spikingunet.pipeline.deploy import hw_run_config, require_board

HELP = "validate a model against a Loihi profile and run it on the board"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="quantized Spiking-UNet: netx .h5 or graph .pt")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml path")
    p.add_argument(
        "--form", choices=("graded", "cascade", "sdnn"), default=None,
        help="neuron form (default: the model's own); sdnn: the sigma-delta form on stock "
        "Lava processes (docs/semantics.md section 6)",
    )  # fmt: skip
    p.add_argument(
        "--weights-model", choices=("shared", "dense"), default="shared",
        help="synaptic memory model of the mapping (docs/profiling.md)",
    )  # fmt: skip
    p.add_argument("--image", default=None, help="input image for the run on the chip")
    p.add_argument("--check-only", action="store_true", help="validate and map, do not run")


def format_mapping(summary: dict, latency: dict) -> str:
    """The mapping summary as a table plus totals."""
    head = ["layer", "neurons", "compartments", "cores", "synapses", "syn. KiB", "axons/core"]
    rows = [head]
    for lay in summary["layers"]:
        rows.append(
            [
                lay["layer"],
                str(lay["neurons"]),
                str(lay["compartments"]),
                str(lay["cores"]),
                str(lay["synapses"]),
                f"{lay['synaptic_bytes'] / 1024:.1f}",
                str(lay["fanin_axons_max"]),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    s = summary
    lines += [
        "",
        f"{s['profile']}, {s['form']} form, {s['weight_model']} weights: {s['cores']} cores on "
        f"{s['chips']} chip(s) ({s['cores_per_chip']} cores each); compartments "
        f"{s['compartment_util']:.1%} and synaptic memory {s['memory_util']:.1%} of the used "
        "cores",
        f"latency: pipeline depth {latency['pipeline_depth']} + T {latency['timesteps']} = "
        f"{latency['steps_per_frame']} steps per frame, about {latency['frame_us']:.4g} us at "
        f"{latency['step_us']:g} us per step" + (" (estimate)" if latency["estimated"] else ""),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.data.frames import load_input
    from lava_spikingunet.hw.mapping import latency
    from lava_spikingunet.hw.profiles import load_profile
    from lava_spikingunet.model_io import load_model
    from lava_spikingunet.pipeline.deploy import check, run_on_board

    if args.form == "sdnn":
        from lava_spikingunet.backends.sdnn.cli import run_deploy

        return run_deploy(args)
    profile = load_profile(args.hw)
    graph = load_model(args.model)
    form = args.form or graph.meta.neuron_form
    mapping = check(graph, profile, form, args.weights_model)
    print(f"{args.model}: fits {profile.name} ({form} form): all formats and delays valid")
    print(format_mapping(mapping.summary(), latency(graph, profile, mapping=mapping)))
    if args.check_only:
        return 0
    require_board(args.model, args.image)
    x = load_input(args.image, graph.node(graph.input_name).shape[0])
    acc = run_on_board(graph, x, form, hw_run_config(profile.name), profile.name)
    y = acc / (graph.meta.timesteps * graph.node(graph.readout_name).scale)
    print(f"ran on {profile.name}: readout y in [{y.min():.4g}, {y.max():.4g}]")
    return 0
