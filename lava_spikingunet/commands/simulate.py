"""Run a fixed-point Spiking-UNet on an image (PyTorch integer reference or Lava CPU simulator)."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "run a model on an image with the integer reference or Lava"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="netx HDF5 file")
    p.add_argument("--image", required=True, help="input image")
    p.add_argument("--backend", choices=["reference", "lava"], default="reference")


def run(args: argparse.Namespace) -> int:
    return not_implemented("simulate")
