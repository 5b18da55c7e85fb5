"""The ``spikingunet`` command line: one subcommand per job of the pipeline.

Each subcommand lives in :mod:`lava_spikingunet.commands` as a module with
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Modules
import their heavy dependencies inside ``run`` so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import traceback

from lava_spikingunet.errors import SpikingUNetError, Terminated

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


#: Seconds the clean-up after a SIGTERM may take before the process exits anyway: the
#: :class:`Terminated` raised by the handler can be swallowed (a signal that lands in a
#: finalizer, or under a broad ``except``), and the command must still end.
TERM_GRACE_S = 30.0
_term = {"received": False, "timer": None}


def _exit_now() -> None:
    print("spikingunet: terminated (clean-up did not finish in time)", file=sys.stderr)
    sys.stderr.flush()
    os._exit(143)


def _raise_terminated(signum, frame) -> None:
    if not _term["received"]:
        _term["received"] = True
        timer = threading.Timer(TERM_GRACE_S, _exit_now)
        timer.daemon = True
        timer.start()
        _term["timer"] = timer
    raise Terminated()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Error policy (docs/errors.md): any project error (a
    :class:`~lava_spikingunet.errors.SpikingUNetError`: bad input, unsupported model,
    resource limit, failed Lava run, missing hardware) is one line and status 2; an
    OSError (unwritable folder, full disk) or MemoryError is one line and status 2;
    Ctrl-C is status 130 and SIGTERM 143, after clean-up; anything else is an
    ``internal error`` (status 1). ``--debug`` adds the traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    prog = f"spikingunet {args.command}"
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    _term["received"] = False
    try:
        status = int(args._run(args) or 0)
        if _term["received"]:  # the Terminated was swallowed on its way up
            raise Terminated()
        return status
    except SpikingUNetError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Terminated:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"{prog}: error: out of memory ({_one_line(exc)}); use a smaller frame or model",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"{prog}: error: {exc.strerror or _one_line(exc)}{where}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
        if args.debug:
            traceback.print_exc()
        print(
            f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)}"
            " (re-run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        if _term["timer"] is not None:
            _term["timer"].cancel()
            _term["timer"] = None
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
