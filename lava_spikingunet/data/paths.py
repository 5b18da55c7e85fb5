"""Where the datasets live, and checks that a folder has the published layout."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lava_spikingunet.errors import InputError

#: Environment variable that overrides the default data root.
DATA_ROOT_ENV = "SPIKINGUNET_DATA_ROOT"


def default_data_root() -> Path | None:
    """``$SPIKINGUNET_DATA_ROOT`` if set, else ``../shared/datasets`` beside the checkout
    (or, for an installed package, the current folder) if it exists."""
    from lava_spikingunet.locations import source_root

    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env)
    candidate = (source_root() or Path.cwd()).parent / "shared" / "datasets"
    return candidate if candidate.is_dir() else None


def resolve_data_root(root: str | os.PathLike | None) -> Path:
    """``root`` if given, else :func:`default_data_root`; a InputError if neither exists."""
    path = Path(root) if root is not None else default_data_root()
    if path is None:
        raise InputError(
            "no data root given and ../shared/datasets does not exist; pass --data-root "
            f"(or set ${DATA_ROOT_ENV}) to the folder that holds denoising/ and segmentation/"
        )
    if not path.is_dir():
        raise InputError(f"data root {path} is not a folder")
    return path


def require_dir(path: Path, layout: str) -> Path:
    """``path`` if it is a folder, else a InputError that shows the expected ``layout``."""
    if not path.is_dir():
        raise InputError(f"missing folder {path}; expected layout:\n{layout}")
    return path


def natural_key(path: Path) -> list:
    """Sort key that orders ``2.png`` before ``10.png``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_files(folder: Path, suffixes: tuple[str, ...], layout: str) -> list[Path]:
    """Files in ``folder`` with one of ``suffixes`` (case-insensitive), naturally sorted."""
    require_dir(folder, layout)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes]
    if not files:
        raise InputError(f"no {'/'.join(suffixes)} files in {folder}; expected layout:\n{layout}")
    return sorted(files, key=natural_key)
