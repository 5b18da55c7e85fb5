"""The quantization state of a graph: :class:`QuantState` (``graph.meta.quant``).

:func:`~lava_spikingunet.fixed_point.quantize.quantize_graph` sets it; the reference,
the exporters and the deployment checks read the format from it. It serializes as a
plain dict (:meth:`QuantState.to_dict`), the shape files wrote before it existed under
``meta.extra["fixed_point"]``: :func:`migrate_meta` moves such a dict into the field, so
old graph and netx files load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lava_spikingunet.fixed_point.formats import FixedPointFormat

__all__ = ["LEGACY_KEY", "QuantState", "ReadoutScaleFrom", "graph_format", "migrate_meta"]

#: Where files written before :class:`QuantState` keep it: ``meta.extra[LEGACY_KEY]``.
LEGACY_KEY = "fixed_point"

#: Where the readout scale came from: given, calibrated on frames, or a provable bound.
ReadoutScaleFrom = Literal["given", "calibration", "bound"]


_OPTIONAL = (
    "theta_unit_bits",
    "readout_scale_from",
    "readout_margin_bits",
    "timesteps",
    "headroom",
)


@dataclass(frozen=True)
class QuantState:
    """How a graph was quantized: the target format and the settings used.

    Only ``format`` is required (sigma-delta netx files record nothing else);
    ``headroom`` is the headroom report the quantize stage measured (plain data).
    """

    format: FixedPointFormat
    theta_unit_bits: int | None = None
    readout_scale_from: ReadoutScaleFrom | None = None
    readout_margin_bits: int | None = None
    timesteps: int | None = None
    headroom: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the format as :meth:`FixedPointFormat.to_dict`), for files."""
        out: dict[str, Any] = {"format": self.format.to_dict()}
        for key in _OPTIONAL:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantState:
        """Inverse of :meth:`to_dict`; ValueError on a dict without a format."""
        if not isinstance(data, dict) or "format" not in data:
            raise ValueError("quantization state must be a dict with a 'format'")
        fmt = data["format"]
        if not isinstance(fmt, FixedPointFormat):
            fmt = FixedPointFormat.from_dict(fmt)
        return cls(fmt, **{k: data[k] for k in _OPTIONAL if data.get(k) is not None})


def migrate_meta(meta: Any) -> Any:
    """Move a legacy ``meta.extra["fixed_point"]`` dict into ``meta.quant`` (in place)."""
    legacy = meta.extra.pop(LEGACY_KEY, None)
    if legacy is not None and meta.quant is None:
        meta.quant = QuantState.from_dict(legacy)
    return meta


def graph_format(graph: Any) -> FixedPointFormat:
    """The format a quantized graph was made for: ``meta.quant.format``, else a legacy
    ``meta.extra["fixed_point"]["format"]`` (set after loading, e.g. by the sdnn netx
    reader), else the profile named by ``meta.extra["hw_profile"]``."""
    meta = graph.meta
    if meta.quant is not None:
        return meta.quant.format
    legacy = meta.extra.get(LEGACY_KEY)
    if legacy:
        return QuantState.from_dict(legacy).format
    if meta.extra.get("hw_profile"):
        return FixedPointFormat.from_profile(str(meta.extra["hw_profile"]))
    raise ValueError("graph is not quantized (no meta.quant or meta.extra['hw_profile'])")
