"""One module per ``spikingunet`` subcommand (HELP, add_arguments, run)."""

from __future__ import annotations

import sys


def not_implemented(name: str) -> int:
    """Exit code and message for a subcommand whose stage is not built yet."""
    print(f"spikingunet {name}: not implemented yet", file=sys.stderr)
    return 3
