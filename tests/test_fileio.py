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
