"""Shared fixtures: the repo layout, the datasets folder, and a leftover-process guard."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import lava_spikingunet  # noqa: F401  (installs the Lava compat hook first)

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def datasets_root() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"datasets folder {DATASETS} is absent")
    return DATASETS


@pytest.fixture
def no_leftover_processes():
    """Fail a test that leaves child processes (e.g. Lava workers) running."""
    before = {p.pid for p in multiprocessing.active_children()}
    yield
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    for p in left:
        p.terminate()
    assert not left, f"{len(left)} child processes left running: {left}"
