"""Atomic, non-clobbering file writes shared by every writer in the project."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lava_spikingunet.errors import InputError


def check_writable(
    path: str | os.PathLike,
    overwrite: bool = False,
    suffixes: tuple[str, ...] | None = None,
    what: str = "--out",
) -> Path:
    """Refuse, before any work, an output that could not be written.

    Refuses an existing file unless ``overwrite`` is set, a directory, a name whose
    suffix is not one of ``suffixes``, a parent that is a file, and a folder that does
    not take new files (read-only, another user's, ``/proc``): a test file is created
    and removed there.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{what} {path} must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, not a file")
    if path.exists() and not overwrite:
        raise InputError(
            f"{path} exists; refusing to overwrite it (pass --overwrite to replace it)"
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {what} {path}: {parent} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".spikingunet-probe-", dir=parent)
    except OSError as exc:
        raise InputError(
            f"cannot write {what} {path}: folder {parent} does not take new files "
            f"({exc.strerror or exc})"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return path


def check_free_space(path: str | os.PathLike, nbytes: int, what: str = "--out") -> None:
    """Refuse to start writing ``nbytes`` (an estimate) where the disk has less free."""
    import shutil

    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        free = shutil.disk_usage(parent).free
    except OSError:
        return
    if nbytes > free:
        raise InputError(
            f"cannot write {what} {path}: it needs about {nbytes / 2**20:.1f} MiB but "
            f"{parent} has {free / 2**20:.1f} MiB free"
        )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; use the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)
