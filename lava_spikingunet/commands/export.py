"""Export a quantized Spiking-UNet as a lava-dl netx HDF5 file (docs/netx_schema.md).

The file alone reproduces a run bit for bit: integer mantissas and exponents per
synaptic connection, thresholds, biases, delays, T, the neuron form and the hardware
profile. It is written atomically and never replaces an existing file unless asked.
"""

from __future__ import annotations

import argparse

from lava_spikingunet.neuron_forms import NEURON_FORMS

HELP = "export a fixed-point Spiking-UNet to netx HDF5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="quantized Spiking-UNet (.pt from `spikingunet quantize`)")
    p.add_argument("--out", required=True, help="netx HDF5 file to write (.h5)")
    p.add_argument(
        "--form",
        choices=NEURON_FORMS,
        default=None,
        help="neuron form the file asks for: graded spikes (Loihi 2), the binary "
        "cascade of threshold stages, or virtual (2^N - 1 binary sub-steps per step, "
        "SpikeYOLO) (default: the model's)",
    )
    p.add_argument(
        "--delays",
        choices=("graph", "balanced"),
        default="graph",
        help="keep the model's delays or balance the skips (default: keep)",
    )
    p.add_argument("--include-float", action="store_true", help="also store float weights")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.backends.netx import read_netx_info
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.fileio import check_writable
    from lava_spikingunet.limits import check_lava_supported
    from lava_spikingunet.model_io import load_model
    from lava_spikingunet.pipeline.export import NETX_SUFFIXES, export

    check_writable(args.out, args.overwrite, suffixes=NETX_SUFFIXES)
    graph = load_model(args.model)
    if not graph.is_quantized:
        raise InputError(f"{args.model} is not quantized: run `spikingunet quantize` first")
    check_lava_supported(graph, str(args.model))
    path = export(
        graph,
        args.out,
        form=args.form,
        delays=args.delays,
        include_float=args.include_float,
        overwrite=args.overwrite,
    )
    info = read_netx_info(path)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): T={info.timesteps}, "
        f"form={info.neuron_form}, pipeline depth={info.pipeline_depth}, "
        f"{info.frame_steps} steps per frame, profile={info.hw_profile}"
    )
    return 0
