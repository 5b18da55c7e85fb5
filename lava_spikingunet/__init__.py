"""lava-spikingunet: spiking U-Nets on Lava and Loihi.

The pipeline as functions (docs/api.md), imported on first use so that
``import lava_spikingunet`` stays fast (no torch, no Lava):

- :func:`load_unet`: a trained U-Net from a checkpoint or a task's committed baseline;
- :func:`convert`: U-Net -> multi-threshold Spiking-UNet graph;
- :func:`finetune`: spiking-flow fine-tuning of a converted graph;
- :func:`quantize`: fixed point for a hardware profile;
- :func:`export` / :func:`load`: netx HDF5 file (``load`` also reads ``.pt`` graphs);
- :func:`simulate`: one frame on the integer reference, Lava or the float network;
- :func:`verify`: Lava against the integer reference, bit for bit;
- :func:`profile`: spikes, synaptic ops, energy and core mapping;
- :func:`deploy`: validate for a Loihi profile and run on the board (lava-loihi);
- :func:`load_profile`: a hardware profile (``"loihi1"``, ``"loihi2"`` or a ``.toml``).

Errors are :class:`~lava_spikingunet.errors.SpikingUNetError` subclasses.

Importing the package installs the Python 3.11 compatibility hook for Lava
(see :mod:`lava_spikingunet.lava_compat`), so ``import lava.lib.dl.netx`` works
afterwards.
"""

from __future__ import annotations

import importlib
from typing import Any

from lava_spikingunet import lava_compat as _lava_compat
from lava_spikingunet.errors import SpikingUNetError

_lava_compat.install()

__version__ = "0.1.0"

#: Public name -> (module, attribute), imported on first access.
_API: dict[str, tuple[str, str]] = {
    "load_unet": ("lava_spikingunet.model_io", "load_unet"),
    "convert": ("lava_spikingunet.pipeline.convert", "convert"),
    "finetune": ("lava_spikingunet.pipeline.finetune", "finetune"),
    "quantize": ("lava_spikingunet.pipeline.quantize", "quantize"),
    "export": ("lava_spikingunet.pipeline.export", "export"),
    "load": ("lava_spikingunet.model_io", "load_model"),
    "simulate": ("lava_spikingunet.pipeline.simulate", "simulate"),
    "verify": ("lava_spikingunet.pipeline.verify", "verify"),
    "profile": ("lava_spikingunet.pipeline.profile", "profile"),
    "deploy": ("lava_spikingunet.pipeline.deploy", "deploy"),
    "load_profile": ("lava_spikingunet.hw.profiles", "load_profile"),
}

__all__ = ["SpikingUNetError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    """Import a pipeline function on first access (PEP 562)."""
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
