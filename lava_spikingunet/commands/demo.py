"""The main job on the shipped default: denoise a bundled image on the Lava CPU simulator.

Loads the shipped one-timestep I-LIF blind grey denoiser
(netx_exports/denoise-grey-t1/model.h5) and, beside it, the T = 10 MT denoiser
(netx_exports/denoise-grey/model.h5), adds Gaussian
noise to scikit-image's bundled `camera` photograph, runs the Spiking-UNet on Lava
(Loihi2SimCfg, fixed_pt), verifies it bit-exact against the PyTorch integer reference,
and prints PSNR/SSIM, steps per frame, synaptic operations and the Loihi 2 energy
estimate. Writes a figure (noisy / denoised / clean, firing rate per layer) and a JSON
summary. Exit status 1 if Lava and the reference differ.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "denoise a bundled image with the shipped model on Lava, verified bit-exact"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from lava_spikingunet.demo import COMPARE_MODEL, DEFAULT_MODEL

    p.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL,
        help="netx HDF5 denoiser (default: the shipped one-timestep I-LIF blind grey denoiser)",
    )  # fmt: skip
    p.add_argument(
        "--compare", type=Path, default=COMPARE_MODEL,
        help="second denoiser run beside it (default: the shipped T = 10 MT model)",
    )  # fmt: skip
    p.add_argument("--no-compare", action="store_true", help="run the --model only")
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="output folder")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--sigma", type=float, default=25.0, help="noise sigma on the 0-255 scale")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--form", choices=("graded", "cascade", "virtual"), default=None,
                   help="neuron form on Lava (default: the model's)")  # fmt: skip
    p.add_argument("--hw", default="loihi2", help="profile for the energy estimate")
    p.add_argument("--overwrite", action="store_true", help="replace earlier demo outputs")


def run(args: argparse.Namespace) -> int:
    import math

    from lava_spikingunet.demo import DemoConfig, format_summary, run_demo
    from lava_spikingunet.errors import InputError
    from lava_spikingunet.hw import load_profile

    if not 1 <= args.size <= 2048:
        raise InputError(f"--size must be in 1..2048 pixels, got {args.size}")
    if not (math.isfinite(args.sigma) and 0 <= args.sigma <= 255):
        raise InputError(f"--sigma must be in 0..255 (the 0-255 scale), got {args.sigma}")
    load_profile(args.hw)  # a bad profile fails now, not after the Lava run
    if args.model.suffix.lower() in (".h5", ".hdf5") and args.model.is_file():
        from lava_spikingunet.backends.netx import read_netx_info

        task = read_netx_info(args.model).task
        if task != "denoise":
            raise InputError(
                f"{args.model} is a {task!r} model; the demo denoises an image and needs a "
                "denoising model (use `spikingunet simulate` for other tasks)"
            )
    cfg = DemoConfig(
        model=args.model, out=args.out, size=args.size, sigma=args.sigma, seed=args.seed,
        hw=args.hw, form=args.form, overwrite=args.overwrite,
        compare=None if args.no_compare else args.compare,
    )  # fmt: skip
    summary = run_demo(cfg)
    print(format_summary(summary))
    return 0 if summary["bit_exact"] else 1
