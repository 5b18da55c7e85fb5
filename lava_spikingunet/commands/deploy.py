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
import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HELP = "validate a model against a Loihi profile and run it on the board"

#: Modules only Intel's lava-loihi extension provides: the neurocore compiler Lava's
#: Loihi2HwCfg needs (lava.magma.compiler.compiler imports it), and the module
#: ``lava.utils.loihi.is_installed`` checks.
LAVA_LOIHI_MODULES = (
    "lava.magma.compiler.subcompilers.nc.ncproc_compiler",
    "lava.utils.loihi2_profiler",
)


def lava_loihi_available() -> bool:
    """Whether Intel's lava-loihi extension is importable (no import is done)."""
    import lava_spikingunet  # noqa: F401  (compat hook before lava is looked up)

    for name in LAVA_LOIHI_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


NOT_INSTALLED = (
    "lava-loihi is not installed: running on Loihi needs Intel's lava-loihi extension "
    "(Loihi2HwCfg's neurocore compiler), which Intel distributes to INRC members only. "
    "The model passed every check above. To run the same model on the CPU simulator use "
    "`spikingunet simulate {model} --image IMG --backend lava`."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="quantized Spiking-UNet: netx .h5 or graph .pt")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml path")
    p.add_argument(
        "--form", choices=("graded", "cascade"), default=None,
        help="neuron form (default: the model's own)",
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


def hw_run_config(profile_name: str):
    """``Loihi1HwCfg`` for the loihi1 profile, else ``Loihi2HwCfg`` (fixed-point models)."""
    from lava.magma.core.run_configs import Loihi1HwCfg, Loihi2HwCfg

    cls = Loihi1HwCfg if profile_name == "loihi1" else Loihi2HwCfg
    return cls(select_tag="fixed_pt")


def run_on_loihi(graph, current, form: str, run_cfg) -> np.ndarray:
    """Build the Lava network, run ``current`` ``(F, C, H, W)`` frames with ``run_cfg``
    (a Loihi hardware config needs lava-loihi); returns the readout accumulator."""
    import tempfile

    import numpy as np
    from lava.magma.core.run_conditions import RunSteps

    from lava_spikingunet.backends.lava.runner import lava_session
    from lava_spikingunet.backends.lava_network import build
    from lava_spikingunet.graph.timing import frame_steps

    current = np.asarray(current, dtype=np.int64)
    ro = graph.node(graph.readout_name)
    with tempfile.TemporaryDirectory(prefix="spikingunet-deploy-") as probe_dir:
        built = build(graph, current, form, probe_dir=probe_dir)  # type: ignore[arg-type]
        with lava_session(built.root):
            built.root.run(
                condition=RunSteps(num_steps=current.shape[0] * frame_steps(graph)),
                run_cfg=run_cfg,
            )
        path = built.probes["__readout__"]
        return np.array(np.memmap(path, np.int64, "r", shape=(current.shape[0], *ro.shape)))


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.commands.simulate import load_input, load_model
    from lava_spikingunet.errors import UserError
    from lava_spikingunet.hw.mapping import check_deployable, latency
    from lava_spikingunet.hw.profiles import load_profile

    profile = load_profile(args.hw)
    graph = load_model(args.model)
    form = args.form or graph.meta.neuron_form
    mapping = check_deployable(graph, profile, form, args.weights_model)
    print(f"{args.model}: fits {profile.name} ({form} form): all formats and delays valid")
    print(format_mapping(mapping.summary(), latency(graph, profile)))
    if args.check_only:
        return 0
    if not lava_loihi_available():
        raise UserError(NOT_INSTALLED.format(model=args.model))
    if args.image is None:
        raise UserError("pass --image IMG: the input frame to run on the chip")
    from lava_spikingunet.reference.input_current import input_current

    x = load_input(args.image, graph.node(graph.input_name).shape[0])
    _, h, w = graph.node(graph.input_name).shape
    if x.shape[1:] != (h, w):
        raise UserError(f"the deployed network takes {h}x{w} frames, {args.image} is "
                        f"{x.shape[1]}x{x.shape[2]}")  # fmt: skip
    current = input_current(graph, x[None])
    try:
        acc = run_on_loihi(graph, current, form, hw_run_config(profile.name))
    except Exception as exc:  # noqa: BLE001 - report the board's failure, not a traceback
        raise UserError(f"the run on {profile.name} failed: {type(exc).__name__}: {exc}") from exc
    y = acc / (graph.meta.timesteps * graph.node(graph.readout_name).scale)
    print(f"ran on {profile.name}: readout y in [{y.min():.4g}, {y.max():.4g}]")
    return 0
