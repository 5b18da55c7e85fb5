"""U-Net checkpoint files: one dict of plain tensors, numbers, strings and lists.

Every file loads with ``torch.load(path, weights_only=True)``. Keys:

- ``format``: :data:`FORMAT`
- ``config``: the :class:`~lava_spikingunet.ann.unet.UNetConfig` as a dict
- ``state_dict``: the U-Net's parameters
- ``task``: ``denoise-grey``, ``denoise-colour``, ``drive``, ``isbi2012`` or ``camseq01``
- ``step``, ``epoch``: optimizer steps done, and passes over the training images (float-free:
  ``epoch`` is ``samples_seen // len(training images)``)
- ``optimizer``: Adam's state dict (resumable checkpoints only; ``{}`` in final models)
- ``metrics``: latest evaluation (``{name: float}``)
- ``data``: how the data was made (sets, patch size, noise, split)
- ``train``: options and bookkeeping (seed, steps, batch, lr, wall time, history)

Finished models the later stages use are committed as ``checkpoints/<task>.pt``
(see :func:`committed_checkpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lava_spikingunet.errors import InputError
from lava_spikingunet.fileio import atomic_path

FORMAT = "lava-spikingunet/unet-checkpoint/1"
REQUIRED = ("config", "state_dict", "task")


def repo_checkpoints_dir() -> Path:
    """The committed baseline models: ``<repo>/checkpoints`` in a checkout
    (:func:`lava_spikingunet.locations.checkpoints_dir`)."""
    from lava_spikingunet.locations import checkpoints_dir

    return checkpoints_dir()


def committed_checkpoint(task: str) -> Path:
    """Path of the committed baseline for ``task``; a InputError if it is missing."""
    path = repo_checkpoints_dir() / f"{task}.pt"
    if not path.is_file():
        raise InputError(
            f"no committed checkpoint for task {task!r} at {path}; "
            f"train one with `spikingunet train {task} --out runs/{task}`"
        )
    return path


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], overwrite: bool) -> Path:
    """Write ``payload`` (plus the format tag) atomically; refuses to clobber unless told."""
    import torch

    payload = {"format": FORMAT, **payload}
    with atomic_path(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a checkpoint written by :func:`save_checkpoint` (weights_only)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable U-Net checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or any(k not in payload for k in REQUIRED):
        raise InputError(f"{path} is not a U-Net checkpoint (needs keys {', '.join(REQUIRED)})")
    if payload.get("format", FORMAT) != FORMAT:
        raise InputError(f"{path} has format {payload['format']!r}, expected {FORMAT!r}")
    return payload


def load_unet(path: str | os.PathLike):
    """``(UNet in eval mode, meta)``; meta is the checkpoint without weights and optimizer."""
    from lava_spikingunet.ann.unet import UNet, UNetConfig

    payload = load_checkpoint(path)
    try:
        config = UNetConfig(**payload["config"])
        model = UNet(config)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: config and weights do not fit a U-Net: {exc}") from exc
    model.eval()
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "optimizer")}
    return model, meta
