"""Export a fixed-point Spiking-UNet as a lava-dl netx HDF5 file."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "export a fixed-point Spiking-UNet to netx HDF5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="fixed-point Spiking-UNet")
    p.add_argument("--out", required=True, help="netx HDF5 file (.h5)")


def run(args: argparse.Namespace) -> int:
    return not_implemented("export")
