"""Atomic writes that never clobber by accident."""

from __future__ import annotations

import pytest

from lava_spikingunet.errors import UserError
from lava_spikingunet.fileio import atomic_path, write_text_atomic


def test_refuses_to_overwrite(tmp_path):
    p = write_text_atomic(tmp_path / "a.txt", "one")
    with pytest.raises(UserError, match="--overwrite"):
        write_text_atomic(p, "two")
    assert p.read_text() == "one"
    write_text_atomic(p, "two", overwrite=True)
    assert p.read_text() == "two"


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "b.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_written_files_get_the_usual_mode(tmp_path):
    import os

    p = write_text_atomic(tmp_path / "c.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
