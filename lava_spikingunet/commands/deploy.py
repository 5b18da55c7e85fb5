"""Validate a model against a hardware profile and run it with Loihi2HwCfg (needs lava-loihi)."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "validate a model against a Loihi profile and run it on the board"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="netx HDF5 file")
    p.add_argument("--hw", default="loihi2", help="hardware profile name or .toml path")


def run(args: argparse.Namespace) -> int:
    return not_implemented("deploy")
