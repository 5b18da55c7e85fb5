"""Make lava-nc 0.10.0 and lava-dl 0.6.0 import on Python 3.11, in one place.

Both releases declare ``Requires-Python <3.11`` and have two breakages on 3.11:

1. ``lava/magma/compiler/var_model.py`` uses a dataclass *instance* as a field
   default (``x: ByteEncoder = ByteEncoder()``), which Python 3.11 rejects with
   ``ValueError: mutable default``. We compile that module from its source with
   the defaults rewritten to ``field(default_factory=ByteEncoder)``.
   In the same way, Lava's ``message_infrastructure/multiprocessing.py`` calls
   ``multiprocessing.set_start_method('fork')`` at import, which raises
   ``RuntimeError: context has already been set`` once anything in the process has
   used multiprocessing (tqdm's lock does): it becomes a no-op when the start method
   already is ``fork``.
2. ``lava.lib.dl.slayer`` (imported by ``lava.lib.dl.netx``) imports its object
   detection helpers, which import ``torchvision`` at module level; no CPU build
   of torchvision exists for torch 2.13. When torchvision is absent, that one
   sub-package is replaced by a stub that raises a clear ``ImportError`` on use.

Both fixes are an import hook (a ``sys.meta_path`` finder): no file in
site-packages is edited, a plain ``pip install`` of Lava works, and Lava's
forked worker processes inherit the hook. ``install()`` is idempotent and runs
when ``lava_spikingunet`` is imported, so ``import lava_spikingunet`` is enough
to make ``lava.lib.dl.netx`` importable.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types

VAR_MODEL = "lava.magma.compiler.var_model"
MP_INFRA = "lava.magma.runtime.message_infrastructure.multiprocessing"
OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"

SETUP_HINT = (
    "run `make setup` in the lava-spikingunet checkout (it creates .venv), or install "
    "Lava by hand: `pip install --no-deps --ignore-requires-python lava-nc==0.10.0 "
    "lava-dl==0.6.0` after the pinned runtime requirements in requirements/runtime.txt"
)

_DATACLASS_DEFAULT = re.compile(r"(:\s*ByteEncoder\s*=\s*)ByteEncoder\(\)")


class LavaUnavailableError(ImportError):
    """Lava (lava-nc / lava-dl) is not installed or cannot be imported."""


def patch_var_model_source(source: str) -> str:
    """Rewrite ``ByteEncoder()`` dataclass defaults into default factories."""
    return _DATACLASS_DEFAULT.sub(
        r"\1__import__('dataclasses').field(default_factory=ByteEncoder)", source
    )


def patch_start_method_source(source: str) -> str:
    """Make Lava's ``mp.set_start_method('fork')`` tolerate an already-set context."""
    return source.replace(
        "mp.set_start_method('fork')",
        "mp.get_start_method(allow_none=True) == 'fork' or mp.set_start_method('fork', force=True)",
    )


#: Module -> source patch applied when it is imported.
SOURCE_PATCHES = {VAR_MODEL: patch_var_model_source, MP_INFRA: patch_start_method_source}


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Compile the module from patched source (never from a stale .pyc)."""

    def get_code(self, fullname: str) -> types.CodeType:
        source = self.get_data(self.path).decode("utf-8")
        patched = SOURCE_PATCHES[fullname](source)
        return compile(patched, self.path, "exec", dont_inherit=True)


class _MissingTorchvisionStub(types.ModuleType):
    """Stand-in for slayer's object-detection helpers when torchvision is absent."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"{OBJECT_DETECTION}.{name} needs torchvision, which has no CPU build for "
            "torch 2.13; lava-spikingunet does not use slayer's object detection."
        )


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _MissingTorchvisionStub(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class LavaCompatFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder applying the Python 3.11 fixes."""

    def find_spec(self, fullname, path, target=None):
        if fullname in SOURCE_PATCHES:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or spec.origin is None:
                return None
            spec.loader = _PatchedSourceLoader(fullname, spec.origin)
            return spec
        if fullname == OBJECT_DETECTION and not _torchvision_available():
            return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)
        return None


def _torchvision_available() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def install() -> None:
    """Put the compat finder first on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, LavaCompatFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LavaCompatFinder())


def require_lava() -> None:
    """Import Lava's core and netx, or raise an error that says what to run."""
    install()
    for name in ("lava", "lava.lib.dl"):
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            raise LavaUnavailableError(f"`{name}` is not installed: {SETUP_HINT}")
    try:
        import lava.lib.dl.netx  # noqa: F401
        import lava.magma.core.run_configs  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the environment
        raise LavaUnavailableError(f"Lava failed to import ({exc!r}): {SETUP_HINT}") from exc
