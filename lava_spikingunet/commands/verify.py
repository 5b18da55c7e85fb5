"""Run Lava and the integer reference on the same frame; report mismatches per layer and step."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "run Lava and the integer reference on one frame and compare bit for bit"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="netx HDF5 file")
    p.add_argument("--image", required=True, help="input image")


def run(args: argparse.Namespace) -> int:
    return not_implemented("verify")
