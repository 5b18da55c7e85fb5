"""The package installs from a wheel and works without the source tree.

Builds the wheel from a copy of the project's sources (pip, no build isolation, no
network), installs it with pip into a throwaway virtual environment whose only other
packages are the project's own (a ``.pth`` file points at this venv's site-packages, so
nothing is downloaded), and from a folder outside the repository loads the ``loihi2``
profile (package data), runs one small simulation and the command line's ``--help``.
The environment is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "hw_profiles", "lava_spikingunet")

SCRIPT = """
import sys
from pathlib import Path

import numpy as np
import torch

import lava_spikingunet as lsu

where = Path(lsu.__file__).resolve()
assert str(where).startswith(sys.argv[1]), where  # the installed copy, not the checkout
profile = lsu.load_profile("loihi2")
assert profile.name == "loihi2", profile.name
from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.locations import source_root

assert source_root() is None
torch.manual_seed(0)
unet = UNet(UNetConfig(in_channels=1, out_channels=1, base_width=4, depth=2))
frames = np.random.default_rng(0).random((2, 1, 8, 8))
graph = lsu.quantize(lsu.convert(unet, (8, 8), calib=frames, timesteps=2), profile, calib=frames)
out = lsu.simulate(graph, frames[0])
print("ok", profile.name, out.y.shape, out.total_steps)
"""


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, src / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    assert (src / "lava_spikingunet" / "hw_profiles").is_symlink()
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)])
    (wheel,) = dist.glob("lava_spikingunet-*.whl")

    env_dir = tmp_path / "venv"
    try:
        _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
        python = env_dir / "bin" / "python"
        site = Path(
            _run(
                [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
            ).stdout.strip()
        )
        (site / "project-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        _run([*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)])
        assert (site / "lava_spikingunet" / "hw_profiles" / "loihi2.toml").is_file()

        work = tmp_path / "elsewhere"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKINGUNET_")}
        env.pop("PYTHONPATH", None)
        env["OMP_NUM_THREADS"] = "1"
        res = _run([python, "-c", SCRIPT, str(site)], cwd=work, env=env)
        assert res.stdout.split()[:2] == ["ok", "loihi2"], res.stdout
        res = _run([python, "-m", "lava_spikingunet", "simulate", "--help"], cwd=work, env=env)
        assert "--backend" in res.stdout
    finally:
        shutil.rmtree(env_dir, ignore_errors=True)
    assert not env_dir.exists()
