"""The project's error types and the policy for them (docs/errors.md).

Library code raises a :class:`SpikingUNetError` subclass for anything the user can fix:
a bad argument or file (:class:`InputError`), a model option the fixed-point pipeline
cannot run (:class:`UnsupportedModelError`), a request beyond the project's limits
(:class:`ResourceLimitError`), a failed Lava run (:class:`LavaRunError`) or missing
hardware support (:class:`HardwareUnavailableError`). The CLI maps every one of them to
one line, ``spikingunet CMD: error: ...``, and exit status 2; ``--debug`` adds the
traceback. Any other exception is a bug (``internal error``, status 1). Ctrl-C or
SIGTERM ends a command with one line and status 130 / 143, after its Lava workers,
shared memory and temporary files are gone.
"""

__all__ = [
    "HardwareUnavailableError",
    "InputError",
    "LavaRunError",
    "ResourceLimitError",
    "SpikingUNetError",
    "Terminated",
    "UnsupportedModelError",
    "UserError",
]


class SpikingUNetError(Exception):
    """Base of the project's errors: a problem with the user's input, files or
    environment, with a readable one-line message."""


#: The name the CLI and older code use for the base class (exit status 2). New library
#: code raises one of the typed subclasses below.
UserError = SpikingUNetError


class InputError(SpikingUNetError):
    """A bad argument, or an input file that is missing, unreadable or of the wrong kind."""


class UnsupportedModelError(SpikingUNetError):
    """A model option the fixed-point pipeline or Lava cannot run bit-exactly."""


class ResourceLimitError(SpikingUNetError):
    """The request would need more memory, steps or pixels than the project allows."""


class LavaRunError(SpikingUNetError, RuntimeError):
    """A Lava run failed: a worker died or raised, or the run could not be stopped."""


class HardwareUnavailableError(SpikingUNetError):
    """The run needs software or hardware that is not installed (e.g. lava-loihi)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (exit status 143)."""
