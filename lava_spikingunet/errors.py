"""The one exception type the CLI turns into a clean message (never a traceback)."""


class UserError(Exception):
    """A problem with the user's input, files or environment, with a readable message."""
