"""Issue #16 replayed: every fault gets a named error, no hang, no orphan, nothing lost.

Fast cases call ``cli.main`` in process. The slow ones (``slow`` and ``lava``: killed
workers, signals) run the CLI in a subprocess of its own session with a private TMPDIR,
so that leftover processes, ``pymp-*`` and probe folders and shared memory can be
checked without seeing other runs. Each is kept to a few seconds on a tiny model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lava_spikingunet import cli
from lava_spikingunet.ann.unet import UNet
from lava_spikingunet.errors import LavaRunError, UnsupportedModelError, UserError
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.serialize import graph_to_state, load_graph, save_graph

REPO = Path(__file__).resolve().parents[1]


def _graph(reset: str = "subtract", residual: bool = True, n: int = 4):
    torch.manual_seed(3)
    unet = UNet(in_channels=1, out_channels=1, base_width=3, depth=1, residual=residual)
    return unet_to_graph(unet, 8, 8, timesteps=4, n_thresholds=n, reset=reset)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    q = quantize_graph(_graph(), "loihi2", calib=torch.rand(2, 1, 8, 8))
    save_graph(tmp / "q.pt", q)
    assert cli.main(["export", str(tmp / "q.pt"), "--out", str(tmp / "q.h5")]) == 0
    np.save(tmp / "img.npy", np.random.default_rng(0).random((1, 8, 8)))
    return tmp


def _main(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def _clean(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def _resign(path: Path) -> None:
    from lava_spikingunet.backends.netx import schema as S

    with h5py.File(path, "r+") as f:
        f[S.META].attrs[S.CHECKSUM_ATTR] = S.bytes_scalar(S.checksum(f))


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


# --------------------------------------------------------------------------- wrong answers


def test_reset_zero_is_refused_by_name(model, tmp_path, capsys):
    from lava_spikingunet.backends import lava_network as LN
    from lava_spikingunet.backends.netx import export_netx
    from lava_spikingunet.backends.netx import schema as S

    zero = _graph(reset="zero")
    with pytest.raises(UnsupportedModelError, match="reset"):
        quantize_graph(zero, "loihi2", calib=torch.rand(2, 1, 8, 8))
    save_graph(tmp_path / "zero.pt", zero)
    code, err = _main(capsys, "quantize", tmp_path / "zero.pt", "--out", tmp_path / "z.pt")
    _clean(code, err, "reset")
    q = load_graph(model / "q.pt")
    for name in q.neurons():
        q.node(name).reset = "zero"
    with pytest.raises(UnsupportedModelError):
        export_netx(q, tmp_path / "z.h5")
    with pytest.raises(UnsupportedModelError):
        LN.build(q, np.zeros((1, 1, 8, 8)), probe_dir=str(tmp_path))
    # a re-signed file switched to reset-to-zero is refused on load
    bad = _copy(model / "q.h5", tmp_path / "zero.h5")
    with h5py.File(bad, "r+") as f:
        for key in f[S.LAYER]:
            g = f[S.LAYER][key]
            if "neuron" in g and "reset" in g["neuron"]:
                del g["neuron"]["reset"]
                g["neuron"].create_dataset("reset", data=S.bytes_array("zero"))
    _resign(bad)
    code, err = _main(capsys, "simulate", bad, "--image", model / "img.npy")
    _clean(code, err, "reset")


def test_n_above_8_is_one_rule(model, tmp_path, capsys):
    with pytest.raises(ValueError, match="1..8"):
        _graph(n=9)
    state = graph_to_state(load_graph(model / "q.pt"))
    for node in state["nodes"].values() if isinstance(state["nodes"], dict) else state["nodes"]:
        fields = node.get("fields", node)
        if "n_thresholds" in fields:
            fields["n_thresholds"] = 9
    torch.save(state, tmp_path / "n9.pt")
    code, err = _main(capsys, "simulate", tmp_path / "n9.pt", "--image", model / "img.npy")
    _clean(code, err, "1..8")


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path):
    from PIL import Image

    from lava_spikingunet.data.frames import read_frame

    arr = (np.linspace(0, 65535, 64).reshape(8, 8)).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "wide.png")
    with Image.open(tmp_path / "wide.png") as im:
        assert im.mode.startswith("I")
    x = read_frame(tmp_path / "wide.png", 1)
    assert x.shape == (1, 8, 8)
    np.testing.assert_allclose(x[0], arr / 65535.0, atol=1 / 255)


def test_uint8_npy_is_scaled(model, tmp_path):
    from lava_spikingunet.data.frames import load_input

    raw = np.random.default_rng(1).integers(0, 256, (1, 8, 8)).astype(np.uint8)
    np.save(tmp_path / "u8.npy", raw)
    np.testing.assert_allclose(load_input(tmp_path / "u8.npy", 1), raw / 255.0)


@pytest.mark.parametrize(
    "name, array, words",
    [
        ("huge", np.full((1, 8, 8), 1e30), ("1e+30",)),
        ("complex", np.ones((1, 8, 8), complex), ("complex",)),
        ("empty", np.zeros((1, 0, 0)), ("empty",)),
        ("int", np.full((1, 8, 8), 7, np.int32), ("integer",)),
    ],
)
def test_garbage_arrays_are_refused(model, tmp_path, capsys, name, array, words):
    np.save(tmp_path / f"{name}.npy", array)
    code, err = _main(capsys, "simulate", model / "q.h5", "--image", tmp_path / f"{name}.npy")
    _clean(code, err, *words)


def test_option_garbage_is_refused(model, tmp_path, capsys):
    code, err = _main(capsys, "export", model / "q.pt", "--out", tmp_path / "x.pt")
    _clean(code, err, ".h5")
    assert not (tmp_path / "x.pt").exists()
    code, err = _main(
        capsys, "quantize", model / "q.pt", "--out", tmp_path / "m.pt",
        "--readout-margin-bits", "64",
    )  # fmt: skip
    _clean(code, err, "margin")
    code, err = _main(capsys, "simulate", model / "q.h5", "--image", model / "img.npy",
                      "--T", "1000000000")  # fmt: skip
    _clean(code, err, "--T")
    with pytest.raises(SystemExit) as exc:
        cli.main(["convert", "x.pt", "--out", str(tmp_path / "c.pt"), "--frame", "100000x100000"])
    assert exc.value.code == 2
    assert "at most 8192" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_bytes(bytes(range(256)) * 4)
    code, err = _main(capsys, "quantize", model / "q.pt", "--out", tmp_path / "m.pt",
                      "--hw", tmp_path / "bad.toml")  # fmt: skip
    _clean(code, err, "TOML")
    code, err = _main(capsys, "train", "denoise-grey", "--out", tmp_path / "run", "--lr", "nan")
    _clean(code, err, "--lr")
    for args in (["--size", "0"], ["--size", "-8"], ["--sigma", "nan"]):
        code, err = _main(capsys, "demo", "--out", tmp_path / "demo", *args)
        _clean(code, err, args[0])


def test_demo_refuses_a_segmentation_model(tmp_path, capsys):
    q = quantize_graph(_graph(residual=False), "loihi2", calib=torch.rand(2, 1, 8, 8))
    save_graph(tmp_path / "seg.pt", q)
    assert cli.main(["export", str(tmp_path / "seg.pt"), "--out", str(tmp_path / "seg.h5")]) == 0
    capsys.readouterr()
    code, err = _main(capsys, "demo", "--model", tmp_path / "seg.h5", "--out", tmp_path / "d")
    _clean(code, err, "segment")
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- files and sizes


def test_outputs_are_checked_before_the_work(model, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile" / "r.json", Path("/proc/spikingunet-test.json")):
        code, err = _main(
            capsys, "simulate", model / "q.h5", "--image", model / "img.npy", "--out", out
        )
        _clean(code, err, "cannot write")


def test_huge_declared_hdf5_shape_is_refused_before_reading(model, tmp_path, capsys):
    bad = _copy(model / "q.h5", tmp_path / "huge.h5")
    with h5py.File(bad, "r+") as f:
        g = f["layer"]["1"]
        del g["weight"]
        g.create_dataset("weight", shape=(16, 16, 3400, 3400), dtype="i8", chunks=(1, 1, 64, 64))
    assert bad.stat().st_size < 2_000_000
    code, err = _main(capsys, "simulate", bad, "--image", model / "img.npy")
    _clean(code, err, "MiB")


@pytest.mark.parametrize("where", ["tSample", "timesteps", "delay"])
def test_resigned_huge_steps_and_delays_are_refused(model, tmp_path, capsys, where):
    from lava_spikingunet.backends.netx import schema as S

    bad = _copy(model / "q.h5", tmp_path / f"{where}.h5")
    with h5py.File(bad, "r+") as f:
        if where == "tSample":
            del f[S.SIMULATION]["tSample"]
            f[S.SIMULATION].create_dataset("tSample", data=np.int64(10**9))
        elif where == "timesteps":
            f[S.META].attrs["timesteps"] = np.int64(10**9)
        else:
            for key in sorted(f[S.LAYER], key=int):
                g = f[S.LAYER][key]
                if "delay" in g and key != "0":
                    d = np.array(g["delay"])
                    del g["delay"]
                    g.create_dataset("delay", data=np.full_like(d, 10**6))
                    break
    _resign(bad)
    code, err = _main(capsys, "simulate", bad, "--image", model / "img.npy")
    _clean(code, err, {"tSample": "tSample", "timesteps": "timesteps", "delay": "delay"}[where])
    assert "checksum" not in err


def test_memory_estimate_refuses_with_the_figure(model, tmp_path, capsys, monkeypatch):
    from lava_spikingunet import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 20)
    np.save(tmp_path / "big.npy", np.zeros((1, 512, 512)))
    code, err = _main(capsys, "simulate", model / "q.h5", "--image", tmp_path / "big.npy")
    _clean(code, err, "needs about", "smaller frame")


def test_image_size_and_bombs_are_refused(model, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from lava_spikingunet.data import imageio

    Image.new("L", (64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(imageio, "MAX_IMAGE_PIXELS", 1000)
    code, err = _main(capsys, "simulate", model / "q.h5", "--image", tmp_path / "big.png")
    _clean(code, err, "64x64")
    monkeypatch.undo()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    code, err = _main(capsys, "simulate", model / "q.h5", "--image", tmp_path / "big.png")
    _clean(code, err, "decompression bomb")


def test_train_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(tmp_path, capsys):
    run = tmp_path / "old"
    run.mkdir()
    for name in ("final.pt", "checkpoint.pt", "metrics.json"):
        (run / name).write_text(name)
    code, err = _main(
        capsys, "train", "denoise-grey", "--out", run, "--overwrite",
        "--data-root", tmp_path / "nonexistent", "--steps", "1",
    )  # fmt: skip
    assert code == 2, err
    for name in ("final.pt", "checkpoint.pt", "metrics.json"):
        assert (run / name).read_text() == name


def test_debug_shows_the_traceback(model, tmp_path, capsys):
    code = cli.main(["--debug", "export", str(model / "q.pt"), "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "error:" in err


# --------------------------------------------------------------------------- Lava runs


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _workers(pid: int) -> list[int]:
    """Children forked from ``pid`` (same command line), not the resource tracker."""

    def cmdline(p: int) -> bytes:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                return fh.read()
        except OSError:
            return b""

    own = cmdline(pid)
    return sorted(p for p in _children(pid) if cmdline(p) == own)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _shm_of(pids: list[int]) -> set[str]:
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as fh:
                names |= {line.split()[-1] for line in fh if "/dev/shm/" in line}
        except OSError:
            pass
    return names


def _start(tmp_path: Path, *argv, tmpdir: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmpdir or tmp_path / "t"), PYTHONUNBUFFERED="1")
    Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "lava_spikingunet", *map(str, argv)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _wait_for_workers(
    proc: subprocess.Popen, n: int = 6, timeout: float = 240, settle: bool = True
) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        first = _workers(proc.pid)
        if len(first) >= n:
            if not settle:
                return first
            time.sleep(0.5)
            # still forked copies half a second later: Lava workers, not a helper caught
            # between its fork and its exec (the resource tracker)
            return sorted(set(first) & set(_workers(proc.pid)))
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)  # never leave the run behind
        proc.communicate(timeout=60)
    raise AssertionError(f"no Lava workers appeared (rc {proc.poll()})")


def _finish(proc: subprocess.Popen, timeout: float = 90) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # the parent only: its workers follow it (PDEATHSIG) and the resource tracker,
        # left alive, unlinks their shared memory
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("the command hung") from None
    return proc.returncode, err


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the CLI ran as its leader)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[4]) == sid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _gone(pids: list[int], timeout: float = 10, sid: int | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and (
        any(_alive(p) for p in pids) or (sid is not None and _session(sid))
    ):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "Lava workers left running"
    assert sid is None or not _session(sid), "processes of the run left behind"


def _no_leftovers(tmpdir: Path, shm: set[str]) -> None:
    assert not list(tmpdir.glob("pymp-*")), list(tmpdir.iterdir())
    assert not list(tmpdir.glob("spikingunet-probe-*")), list(tmpdir.iterdir())
    time.sleep(0.5)
    assert not [s for s in shm if os.path.exists(s)], "shared memory left behind"


LONG_RUN = ("--backend", "lava", "--T", "3000")


@pytest.mark.lava
@pytest.mark.slow
def test_killed_worker_gives_a_named_error_quickly(model, tmp_path):
    proc = _start(tmp_path, "simulate", model / "q.h5", "--image", model / "img.npy", *LONG_RUN)
    workers = _wait_for_workers(proc)
    shm = _shm_of(workers)
    t0 = time.monotonic()
    os.kill(workers[0], signal.SIGKILL)  # the oldest: surely a Lava process
    code, err = _finish(proc)
    assert time.monotonic() - t0 < 30  # seconds, not a hang (even on a loaded machine)
    assert code == 2 and "Lava worker" in err and "Traceback" not in err, err
    _gone(workers, sid=proc.pid)
    _no_leftovers(tmp_path / "t", shm)


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "running"])
def test_ctrl_c_to_the_group_is_one_line_and_keeps_the_old_output(model, tmp_path, when):
    out = tmp_path / "old.json"
    out.write_text("old")
    proc = _start(
        tmp_path, "simulate", model / "q.h5", "--image", model / "img.npy", *LONG_RUN,
        "--out", out, "--overwrite",
    )  # fmt: skip
    workers = _wait_for_workers(proc, n=1 if when == "starting" else 6, settle=when == "running")
    shm = _shm_of(workers)
    os.killpg(proc.pid, signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    assert err.strip().splitlines() == ["spikingunet simulate: interrupted"], err
    assert out.read_text() == "old"
    _gone(workers, sid=proc.pid)
    _no_leftovers(tmp_path / "t", shm)


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_their_parent(model, tmp_path, sig):
    proc = _start(tmp_path, "simulate", model / "q.h5", "--image", model / "img.npy", *LONG_RUN)
    workers = _wait_for_workers(proc)
    shm = _shm_of(workers)
    os.kill(proc.pid, sig)
    code, err = _finish(proc)
    assert code == (143 if sig == signal.SIGTERM else -9), err
    _gone(workers, sid=proc.pid)
    if sig == signal.SIGTERM:
        assert "terminated" in err and "Traceback" not in err, err
        _no_leftovers(tmp_path / "t", shm)
    else:  # the resource tracker unlinks the segments once the workers are gone
        time.sleep(2)
        assert not [s for s in shm if os.path.exists(s)]
        # the socket folder of a SIGKILLed run goes with the next run's sweep
        from lava_spikingunet.backends.lava.runner import _sweep_stale

        where = [d for d in (tmp_path / "t", Path("/tmp")) if list(d.glob(f"pymp-su{proc.pid}-*"))]
        assert where  # under TMPDIR, or /tmp when TMPDIR is too long for a socket path
        _sweep_stale(str(where[0]))
        assert not list(where[0].glob(f"pymp-su{proc.pid}-*"))


@pytest.mark.lava
def test_long_tmpdir_and_padding(model, tmp_path):
    """A TMPDIR too long for a Unix socket still runs; verify pads like simulate."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    np.save(tmp_path / "img78.npy", np.random.default_rng(2).random((1, 7, 8)))
    proc = _start(
        tmp_path, "verify", model / "q.h5", "--image", tmp_path / "img78.npy",
        "--out", tmp_path / "v.json", tmpdir=deep,
    )  # fmt: skip
    code, err = _finish(proc, timeout=300)
    assert code == 0, err
    assert json.loads((tmp_path / "v.json").read_text())[0]["identical"]
    assert not list(deep.glob("spikingunet-probe-*"))


@pytest.mark.lava
def test_stop_timeout_kills_instead_of_crashing(model, no_leftover_processes):
    from lava_spikingunet.backends.lava_network import run_lava
    from lava_spikingunet.reference.input_current import input_current

    q = load_graph(model / "q.pt")
    cur = input_current(q, np.random.default_rng(0).random((1, 1, 8, 8)))
    with pytest.raises(LavaRunError, match="stop"):
        run_lava(q, cur, timeout=1e-6)
    assert isinstance(LavaRunError("x"), UserError)


_SWALLOW = r"""
import os, signal, sys, time
from lava_spikingunet import cli

cli.TERM_GRACE_S = float(sys.argv[1])

class Finalized:
    def __del__(self):  # a SIGTERM raised in a finalizer is printed and swallowed
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)

def run(args):
    obj = Finalized()
    del obj
    time.sleep(float(sys.argv[2]))  # the command goes on as if nothing happened
    return 0

parser = cli.build_parser
def patched():
    p = parser()
    for action in p._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(_run=run)
    return p
cli.build_parser = patched
sys.exit(cli.main(["export", "x.pt", "--out", "y.h5"]))
"""


@pytest.mark.parametrize("grace, work", [(1.0, 600.0), (600.0, 0.5)])
def test_sigterm_swallowed_in_a_finalizer_still_ends_the_command(tmp_path, grace, work):
    """A SIGTERM whose exception a finalizer swallows still ends the command with 143:
    by the grace timer while it works on, or when its work returns."""
    import subprocess
    import sys

    script = tmp_path / "swallow.py"
    script.write_text(_SWALLOW)
    out = subprocess.run(
        [sys.executable, str(script), str(grace), str(work)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 143, out.stderr
    assert "terminated" in out.stderr
