"""The main job on the shipped default: denoise a bundled noisy image on the Lava CPU simulator."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "denoise a bundled image with the shipped model on Lava, verified bit-exact"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="results/demo", help="folder for the demo figure and JSON")


def run(args: argparse.Namespace) -> int:
    return not_implemented("demo")
