"""The main job on the shipped default: denoise a bundled image on the Lava CPU simulator.

Loads the shipped grey denoiser (netx_exports/denoise-grey/model.h5), adds Gaussian
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
    from lava_spikingunet.demo import DEFAULT_MODEL

    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="netx HDF5 denoiser")
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="output folder")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--sigma", type=float, default=25.0, help="noise sigma on the 0-255 scale")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--form", choices=("graded", "cascade"), default=None,
                   help="neuron form on Lava (default: the model's)")  # fmt: skip
    p.add_argument("--hw", default="loihi2", help="profile for the energy estimate")
    p.add_argument("--overwrite", action="store_true", help="replace earlier demo outputs")


def run(args: argparse.Namespace) -> int:
    from lava_spikingunet.demo import DemoConfig, format_summary, run_demo

    cfg = DemoConfig(
        model=args.model, out=args.out, size=args.size, sigma=args.sigma, seed=args.seed,
        hw=args.hw, form=args.form, overwrite=args.overwrite,
    )  # fmt: skip
    summary = run_demo(cfg)
    print(format_summary(summary))
    return 0 if summary["bit_exact"] else 1
