"""Fixed point: quantization of a Spiking-UNet graph to a hardware profile, headroom.

The names below load on first use, so that the light modules (``formats``, ``state``,
``bounds``) can be imported by the reference without pulling in the quantizer.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "FixedPointFormat": "formats",
    "QuantState": "state",
    "dequantize_graph": "quantize",
    "quantize_bias": "quantize",
    "quantize_graph": "quantize",
    "quantize_weights": "quantize",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
