"""Train the float U-Net baseline for denoising or segmentation."""

from __future__ import annotations

import argparse

from lava_spikingunet.commands import not_implemented

HELP = "train a float U-Net on a dataset (CPU, seeded, resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="denoise-grey, denoise-colour, drive, isbi2012 or camseq01")
    p.add_argument("--out", required=True, help="run folder for checkpoints and metrics")


def run(args: argparse.Namespace) -> int:
    return not_implemented("train")
