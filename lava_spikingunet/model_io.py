"""Model files: a U-Net checkpoint, and a Spiking-UNet graph as ``.pt`` or netx HDF5 (``.h5``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lava_spikingunet.errors import InputError

if TYPE_CHECKING:
    from lava_spikingunet.ann.unet import UNet
    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = ["NETX_SUFFIXES", "load_model", "load_unet"]

#: Suffixes read as netx HDF5; anything else is read as a ``.pt`` graph.
NETX_SUFFIXES = (".h5", ".hdf5")


def load_model(path: str | Path) -> SpikingGraph:
    """A graph from a ``.pt`` (save_graph) or netx ``.h5`` file; InputError if unreadable."""
    path = Path(path)
    if path.suffix.lower() in NETX_SUFFIXES:
        try:
            from lava_spikingunet.backends.netx import load_netx
        except ImportError as exc:
            raise InputError(f"{path}: netx files need the netx backend ({exc})") from exc
        return load_netx(path)
    from lava_spikingunet.graph.serialize import load_graph

    return load_graph(path)


def load_unet(source: str | Path) -> UNet:
    """A trained U-Net (eval mode) from a checkpoint file, or the committed baseline of a
    task name (``"denoise-grey"``, ``"drive"``, ...); the checkpoint's task, metrics,
    training options and path are in ``unet.checkpoint_meta``."""
    from lava_spikingunet.checkpoints import committed_checkpoint
    from lava_spikingunet.checkpoints import load_unet as load_checkpoint_unet

    path = Path(source)
    if not path.suffix and not path.exists() and "/" not in str(source):
        path = committed_checkpoint(str(source))
    unet, meta = load_checkpoint_unet(path)
    unet.checkpoint_meta = {**meta, "path": str(path)}
    return unet
