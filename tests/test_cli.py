"""The spikingunet command line: real --help, clean errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lava_spikingunet import cli


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_each_subcommand_has_real_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: spikingunet " + name in capsys.readouterr().out


def test_user_error_is_one_line_not_a_traceback(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "lava_spikingunet.cli",
            "simulate",
            str(tmp_path / "missing.h5"),
            "--image",
            str(tmp_path / "missing.png"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().startswith("spikingunet simulate:")


def test_console_script_installed(repo_root):
    exe = repo_root / ".venv" / "bin" / "spikingunet"
    if not exe.exists():
        pytest.skip("not running from the project's .venv")
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "deploy" in res.stdout
