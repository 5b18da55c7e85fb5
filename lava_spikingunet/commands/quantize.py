"""Quantize a Spiking-UNet to fixed point (8-bit mantissa + exponent per edge, integer thresholds)."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "quantize a Spiking-UNet to fixed point for a hardware profile"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="converted or fine-tuned Spiking-UNet")
    p.add_argument("--out", required=True, help="fixed-point Spiking-UNet file")


def run(args: argparse.Namespace) -> int:
    return not_implemented("quantize")
