"""Profile a model on an image: spikes, synaptic ops, energy and core mapping on a profile.

Runs the integer reference on the image (recording every layer's spike counts at every
step), counts synaptic ops exactly (spikes x fan-out, border effects included) in every
neuron form (graded, binary cascade, virtual steps) from the same counts, maps the network onto the
profile's cores and prints a per-layer table. ``--out DIR`` receives ``profile.json``
and the figures: ``layers.png`` (synops and firing rate per layer), ``raster_<layer>.png``
and ``activation_vs_rate.png`` (the paper's Figure 3; ``--compare`` adds a second model,
e.g. the other normalization). docs/profiling.md defines every number.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lava_spikingunet.neuron_forms import FORM_GROUPS, NEURON_FORMS

HELP = "count spikes, synaptic ops and energy per layer and frame"

FILES = ("profile.json", "layers.png", "activation_vs_rate.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="Spiking-UNet: netx .h5 (spikingunet export) or graph .pt")
    p.add_argument("--image", required=True, help="input image (PNG/JPG or a .npy (C, H, W))")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml path")
    p.add_argument(
        "--form", choices=(*NEURON_FORMS, *FORM_GROUPS, "sdnn"), default="all",
        help="neuron form(s) to map and tabulate: one form, both (graded and cascade) or "
        "all (default; counts are always made for every form); sdnn: synops of the "
        "sigma-delta form's graded deltas and its neurocores",
    )  # fmt: skip
    p.add_argument(
        "--tile", default=None, metavar="HxW",
        help="profile the network built for HxW tiles (on the image's first tile) and report "
        "tiles per frame and tiles per second",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="directory for profile.json and the PNG figures")
    p.add_argument("--overwrite", action="store_true", help="replace files in --out")
    p.add_argument("--layer", default=None, help="layer for the raster (default: busiest)")
    p.add_argument("--compare", default=None, help="second model for the activation/rate figure")
    p.add_argument(
        "--delays", choices=("graph", "native", "balanced", "zero"), default="graph",
        help="edge delays: the model's own (default), Lava's native, balanced or zero",
    )  # fmt: skip
    p.add_argument("--T", dest="timesteps", type=int, default=None, help="time steps")
    p.add_argument(
        "--weights-model", choices=("shared", "dense"), default="shared",
        help="synaptic memory model of the mapping (docs/profiling.md)",
    )  # fmt: skip
    p.add_argument(
        "--nonzero", action="store_true",
        help="count only synapses with a non-zero weight (default: every structural synapse)",
    )  # fmt: skip


def _title(path: str, graph, delays: str) -> str:
    conv = graph.meta.extra.get("conversion") or {}
    norm = conv.get("norm") or conv.get("normalization")
    what = [f"{norm} normalization"] if norm else []
    return f"{Path(path).name} ({', '.join([*what, f'{delays} delays'])})"


def _tile(args: argparse.Namespace):
    if not getattr(args, "tile", None):
        return None
    from lava_spikingunet.tiling import parse_tile

    return parse_tile(args.tile)


def _load(path: str, image: str):
    from lava_spikingunet.data.frames import load_input
    from lava_spikingunet.model_io import load_model

    graph = load_model(path)
    return graph, load_input(image, graph.node(graph.input_name).shape[0])


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.hw.profiles import load_profile
    from lava_spikingunet.pipeline.profile import profile, record
    from lava_spikingunet.profiling import figures
    from lava_spikingunet.profiling.record import ann_activations, spike_rates
    from lava_spikingunet.profiling.report import format_table, write_json

    hw = load_profile(args.hw)
    if args.timesteps is not None:
        from lava_spikingunet.limits import check_timesteps

        check_timesteps(args.timesteps, "--T")
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"--out {out_dir} exists and is not a directory")
        clash = [f for f in FILES if (out_dir / f).exists()]
        if clash and not args.overwrite:
            raise InputError(f"{out_dir} already holds {', '.join(clash)} (pass --overwrite)")
        from lava_spikingunet.fileio import check_writable

        check_writable(out_dir / "profile.json", overwrite=True, what="--out")
    if args.form == "sdnn":
        from lava_spikingunet.backends.sdnn.cli import run_profile

        return run_profile(args)
    graph, x = _load(args.model, args.image)
    # the second model too is read and run before anything is written
    second = _load(args.compare, args.image) if args.compare else None
    prof = profile(
        graph,
        x,
        hw,
        args.form,
        delays=args.delays,
        timesteps=args.timesteps,
        weights=args.weights_model,
        nonzero=args.nonzero,
        meta={"model": str(args.model), "image": str(args.image)},
        tile=_tile(args),
    )
    rec, report, forms = prof.recording, prof.report, prof.forms
    rec2 = record(*second, args.delays, args.timesteps) if second else None
    if args.layer is not None and args.layer not in rec.counts:
        raise InputError(
            f"no neuron layer {args.layer!r}; layers: {', '.join(rec.graph.neurons())}"
        )
    print(format_table(report, forms))
    if "tiling" in report:
        t = report["tiling"]
        print(
            f"tiles: {t['tiles']} of {t['tile'][0]}x{t['tile'][1]} (halo {t['halo'][0]}+"
            f"{t['halo'][1]}) per {t['frame'][0]}x{t['frame'][1]} frame; "
            f"{t['tiles_per_s']:.1f} tiles/s, {t['frame_s']:.3f} s per frame"
            + (" (estimated step time)" if t["step_time_estimated"] else "")
        )
    if not hw.supports_graded and "graded" in forms:
        print(f"  note: {hw.name} has no graded spikes; graded columns are for comparison")
    if out_dir is None:
        print("(pass --out DIR to write profile.json and the figures)")
        return 0

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(report, out_dir / "profile.json")
    written = [out_dir / "profile.json", figures.plot_layers(report, out_dir / "layers.png")]
    layer = args.layer or max(rec.counts, key=lambda n: int(rec.counts[n].sum()))
    written.append(
        figures.plot_raster(
            rec.counts[layer], layer, rec.start[layer], rec.timesteps,
            out_dir / f"raster_{layer}.png",
        )
    )  # fmt: skip
    panels = [
        (
            _title(args.model, rec.graph, args.delays),
            ann_activations(rec.graph, prof.frame),
            spike_rates(rec),
        )
    ]
    if rec2 is not None:
        r2, xp2 = rec2
        title = _title(args.compare, r2.graph, args.delays)
        panels.append((title, ann_activations(r2.graph, xp2), spike_rates(r2)))
    written.append(figures.plot_activation_vs_rate(panels, out_dir / "activation_vs_rate.png"))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
