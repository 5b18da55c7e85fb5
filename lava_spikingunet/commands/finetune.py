"""Fine-tune a converted Spiking-UNet at short T (accumulated spiking flow, Algorithm 1)."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "fine-tune a converted Spiking-UNet with accumulated spiking flow"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="converted Spiking-UNet")
    p.add_argument("--out", required=True, help="fine-tuned Spiking-UNet file")


def run(args: argparse.Namespace) -> int:
    return not_implemented("finetune")
