"""Calibrate activations and convert a U-Net checkpoint into a Spiking-UNet graph."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "convert a trained U-Net into a multi-threshold Spiking-UNet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="trained U-Net checkpoint (.pt)")
    p.add_argument("--out", required=True, help="converted Spiking-UNet file")


def run(args: argparse.Namespace) -> int:
    return not_implemented("convert")
