"""Where the package finds its files, from a checkout or from an installed wheel.

- hardware profiles: inside the package (``lava_spikingunet/hw_profiles``, a link to the
  checkout's top-level ``hw_profiles/`` folder, copied into the wheel);
- committed checkpoints: ``$SPIKINGUNET_CHECKPOINTS``, else the checkout's
  ``checkpoints/``, else ``./checkpoints``;
- shipped models (``netx_exports/``): ``$SPIKINGUNET_MODELS``, else the checkout's, else
  ``./netx_exports``;
- datasets: ``$SPIKINGUNET_DATA_ROOT``, else ``../shared/datasets`` beside the checkout
  (:mod:`lava_spikingunet.data.paths`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["checkpoints_dir", "models_dir", "package_dir", "profiles_dir", "source_root"]

#: Environment variables that override the defaults.
CHECKPOINTS_ENV = "SPIKINGUNET_CHECKPOINTS"
MODELS_ENV = "SPIKINGUNET_MODELS"


def package_dir() -> Path:
    """The installed ``lava_spikingunet`` folder."""
    return Path(__file__).resolve().parent


def source_root() -> Path | None:
    """The checkout the package runs from (it has ``pyproject.toml`` beside the package),
    or None for an installed wheel."""
    root = package_dir().parent
    return root if (root / "pyproject.toml").is_file() and (root / "hw_profiles").is_dir() else None


def profiles_dir() -> Path:
    """The shipped hardware profiles (``*.toml``)."""
    return package_dir() / "hw_profiles"


def _dir(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    root = source_root()
    return root / name if root is not None else Path.cwd() / name


def checkpoints_dir() -> Path:
    """Folder of the committed U-Net checkpoints (``<task>.pt``)."""
    return _dir(CHECKPOINTS_ENV, "checkpoints")


def models_dir() -> Path:
    """Folder of the shipped netx models (``<name>/model.h5``)."""
    return _dir(MODELS_ENV, "netx_exports")
