"""The Python 3.11 compat hook for lava-nc / lava-dl (lava_spikingunet.lava_compat)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lava_spikingunet import lava_compat


def test_patch_rewrites_dataclass_instance_defaults():
    src = "class A:\n    x: ByteEncoder = ByteEncoder()\n    y: ByteEncoder=ByteEncoder()\n"
    out = lava_compat.patch_var_model_source(src)
    assert "= ByteEncoder()" not in out
    assert out.count("field(default_factory=ByteEncoder)") == 2


def test_patch_leaves_other_source_alone():
    src = "x = ByteEncoder()\nz: int = 3\n"
    assert lava_compat.patch_var_model_source(src) == src


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def test_netx_imports_after_package_import():
    res = _run(
        """
        import lava_spikingunet, lava.lib.dl.netx
        from lava.magma.compiler.var_model import CoreEncoder
        a, b = CoreEncoder(), CoreEncoder()
        assert a.x is not b.x  # a default factory, not a shared instance
        print("ok")
        """
    )
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_without_hook_lava_fails_on_311():
    """Guards that the hook is still needed (if upstream fixes it, drop the hook)."""
    res = _run("import lava.magma.compiler.var_model")
    if res.returncode == 0:
        pytest.skip("this Lava imports without the hook")
    assert "mutable default" in res.stderr


def test_object_detection_stub_explains_missing_torchvision():
    res = _run(
        """
        import importlib.util
        import lava_spikingunet
        from lava.lib.dl import slayer
        if importlib.util.find_spec("torchvision") is not None:
            print("has-torchvision")
        else:
            try:
                slayer.obd.YOLOBase
            except ImportError as exc:
                print("clear:", "torchvision" in str(exc))
        """
    )
    assert res.returncode == 0, res.stderr
    assert "clear: True" in res.stdout or "has-torchvision" in res.stdout


def test_require_lava_names_the_fix_when_missing(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lava" else real(name, *a)
    )
    with pytest.raises(lava_compat.LavaUnavailableError, match="make setup"):
        lava_compat.require_lava()


def test_patch_tolerates_an_already_set_start_method():
    src = "import platform\nif True:\n    mp.set_start_method('fork')\n"
    out = lava_compat.patch_start_method_source(src)
    assert "force=True" in out and "get_start_method(allow_none=True)" in out


def test_lava_imports_after_multiprocessing_was_used():
    res = _run(
        """
        import multiprocessing as mp
        mp.RLock()  # fixes the default context, as tqdm does
        import lava_spikingunet
        import lava.magma.runtime.message_infrastructure.multiprocessing
        print("ok", mp.get_start_method())
        """
    )
    assert res.returncode == 0, res.stderr
    assert "ok fork" in res.stdout
