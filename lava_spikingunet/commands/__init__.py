"""One module per ``spikingunet`` subcommand (HELP, add_arguments, run).

A command parses its options, calls its stage in :mod:`lava_spikingunet.pipeline` (or
the library module it names) and prints. The option types shared by commands live here.
"""

from __future__ import annotations

import argparse


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def nonneg_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 0."""
    return _int_at_least(text, 0, "an integer >= 0")
