"""The ``spikingunet`` command line: one subcommand per job of the pipeline.

Each subcommand lives in :mod:`lava_spikingunet.commands` as a module with
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Modules
import their heavy dependencies inside ``run`` so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from lava_spikingunet.errors import UserError

#: Subcommands in pipeline order.
COMMANDS = (
    "train",
    "convert",
    "finetune",
    "quantize",
    "export",
    "simulate",
    "verify",
    "profile",
    "deploy",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikingunet",
        description=(
            "Spiking U-Nets on Lava: train a U-Net, convert it to a multi-threshold "
            "Spiking-UNet, quantize it, export it to netx HDF5, run it on the Lava "
            "simulator or Loihi 2, verify it bit-exact and profile it."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"lava_spikingunet.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"spikingunet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikingunet {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
        if args.debug:
            traceback.print_exc()
        print(
            f"spikingunet {args.command}: internal error: {type(exc).__name__}: {exc}"
            " (re-run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
