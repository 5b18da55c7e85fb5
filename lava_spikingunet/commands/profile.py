"""Profile a model on an image: spikes, synaptic ops, energy and core mapping for a hardware profile."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "count spikes, synaptic ops and energy per layer and frame"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="netx HDF5 file")
    p.add_argument("--image", required=True, help="input image")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml path")


def run(args: argparse.Namespace) -> int:
    return not_implemented("profile")
