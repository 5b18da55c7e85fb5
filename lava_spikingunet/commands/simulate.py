"""Run a fixed-point Spiking-UNet on an image (PyTorch integer reference or Lava CPU simulator).

The reference backend is the bit-exact PyTorch integer simulation of docs/semantics.md;
it runs any frame whose sides divide by 2^depth (other sizes are padded, reflect, and the
output cropped back). ``--delays`` picks the edge delays: the model's own (``graph``,
default), Lava's ``native`` ones (1 per synapse, 0 for the static input), ``balanced``
(every input of a node arrives together: step t + depth computes the zero-latency step
t) or ``zero`` (the paper's zero-latency simulation). A frame costs depth + T steps.
``--form`` picks the Lava backend's neuron form (graded, binary cascade or virtual
steps; default the model's); the reference computes the counts every form shares, so its
output does not depend on it. ``--backend float`` runs the same engine in float units
(the network before quantization; unquantized models too).

``--out`` writes the result: ``.png``/``.jpg`` the task output (denoised image or
segmentation mask), ``.json`` the integer readout accumulator, ``y`` and per-layer
headroom, ``.npz`` the same as arrays.
"""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import positive_int
from lava_spikingunet.neuron_forms import NEURON_FORMS
from lava_spikingunet.pipeline.simulate import BACKEND_NAMES, OUT_SUFFIXES

HELP = "run a model on an image with the integer reference or Lava"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="quantized Spiking-UNet: .pt (spikingunet quantize) or netx .h5")
    p.add_argument(
        "--image", required=True,
        help="input image (PNG/JPG, grey or colour as the model takes) or a .npy (C, H, W) "
        "float array in [0, 1]",
    )  # fmt: skip
    p.add_argument(
        "--backend", choices=BACKEND_NAMES, default="reference",
        help="integer reference (default), Lava, or the float network (before quantization)",
    )  # fmt: skip
    p.add_argument(
        "--delays", choices=("graph", "native", "balanced", "zero"), default="graph",
        help="edge delays: the model's own (default), Lava's native, balanced or zero",
    )  # fmt: skip
    p.add_argument(
        "--T", dest="timesteps", type=positive_int, default=None,
        help="time steps (default: the model's)",
    )  # fmt: skip
    p.add_argument(
        "--form", choices=NEURON_FORMS, default=None,
        help="neuron form of the Lava backend (default: the model's); every form gives the "
        "same output, bit for bit",
    )  # fmt: skip
    p.add_argument(
        "--tile", default=None, metavar="HxW",
        help="run the network on HxW tiles stitched exactly (bit-identical to the whole "
        "frame); Lava tiles automatically when the whole frame would not fit in memory",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="result file: .png/.jpg, .json or .npz")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--stream", action="store_true",
        help="video: --image is a folder of frames (or an (F, C, H, W) .npy) run back to back "
        "through the sigma-delta (sdnn) form, only changes travel (docs/semantics.md section 6)",
    )  # fmt: skip
    p.add_argument("--hold", type=positive_int, default=None, help="--stream: steps per frame")
    p.add_argument(
        "--vth", type=float, default=0.0,
        help="--stream: delta threshold in float units of the normalized activation",
    )  # fmt: skip
    p.add_argument(
        "--vth-counts", type=float, default=None, metavar="COUNTS",
        help="--stream, I-LIF models: delta threshold in I-LIF counts instead (e.g. 0.125)",
    )  # fmt: skip
    p.add_argument(
        "--layer-vth", default=None, metavar="JSON",
        help="--stream, I-LIF models: per-layer thresholds in counts (a {layer: counts} "
        "table or a benchmarks/stream_vth_search.py result), scaled by --vth-counts / the "
        "map's base (default: the map as found)",
    )  # fmt: skip
    p.add_argument(
        "--cum-error", action="store_true",
        help="--stream: neurons in SigmaDelta's cum_error mode (unsent changes accumulate "
        "into an error that sends once it reaches vth; docs/semantics.md section 6)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.data.frames import load_input
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.fileio import check_writable
    from lava_spikingunet.limits import check_timesteps
    from lava_spikingunet.model_io import load_model
    from lava_spikingunet.pipeline.simulate import simulate, write_result

    if getattr(args, "stream", False):
        from lava_spikingunet.backends.sdnn.stream import run_stream

        return run_stream(args)
    if args.out:
        check_writable(args.out, args.overwrite, suffixes=OUT_SUFFIXES)
    graph = load_model(args.model)
    if args.backend != "float" and not graph.is_quantized:
        raise InputError(f"{args.model} is not quantized; run `spikingunet quantize` first")
    x = load_input(args.image, graph.node(graph.input_name).shape[0])
    if args.timesteps is not None:
        check_timesteps(args.timesteps, "--T")
    tile = None
    if getattr(args, "tile", None):
        from lava_spikingunet.tiling import parse_tile

        tile = parse_tile(args.tile)
    out = simulate(
        graph,
        x,
        args.backend,
        form=args.form,
        delays=args.delays,
        timesteps=args.timesteps,
        tile=tile,
    )
    h, w = x.shape[1:]
    print(
        f"{args.backend}"
        + (f" ({out.form} form)" if args.backend == "lava" else "")
        + f": {h}x{w} frame, T={out.timesteps}, delays {args.delays}, pipeline "
        f"depth {out.pipeline_depth}, {out.total_steps} steps, {out.seconds:.2f} s"
        + (f", {out.tiles} tiles of {out.tile[0]}x{out.tile[1]}" if out.tiles > 1 else "")
    )
    print(f"readout y in [{out.y.min():.4g}, {out.y.max():.4g}] ({graph.meta.task})")
    if out.saturated:
        print(f"warning: saturated in {', '.join(out.saturated)}")
    if args.out:
        meta = {
            "model": str(args.model),
            "image": str(args.image),
            "backend": args.backend,
            "form": out.form,
            "delays": args.delays,
            "task": graph.meta.task,
            "seconds": out.seconds,
        }
        write_result(args.out, out, meta, args.overwrite)
        print(f"wrote {args.out}")
    return 0
