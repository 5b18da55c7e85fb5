"""The project's error types and the policy for them (docs/errors.md).

Library code raises a :class:`UserError` (or a subclass) for anything the user can fix:
a bad option, an unreadable or unsupported file, a frame too large for memory, a dead
Lava worker. The CLI prints its message as one line, ``spikingunet CMD: error: ...``,
and exits with status 2; ``--debug`` adds the traceback. Any other exception is a bug
(``internal error``, status 1). Ctrl-C or SIGTERM ends a command with one line and
status 130 / 143, after its Lava workers, shared memory and temporary files are gone.
"""


class UserError(Exception):
    """A problem with the user's input, files or environment, with a readable message."""


class UnsupportedModelError(UserError):
    """A model option the fixed-point pipeline or Lava cannot run bit-exactly."""


class ResourceLimitError(UserError):
    """The request would need more memory, steps or pixels than the project allows."""


class LavaRunError(UserError, RuntimeError):
    """A Lava run failed: a worker died or raised, or the run could not be stopped."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (exit status 143)."""
