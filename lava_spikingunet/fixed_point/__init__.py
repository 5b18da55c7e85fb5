"""Fixed point: quantization of a Spiking-UNet graph to a hardware profile, headroom."""

from lava_spikingunet.fixed_point.formats import FixedPointFormat
from lava_spikingunet.fixed_point.quantize import (
    dequantize_graph,
    quantize_bias,
    quantize_graph,
    quantize_weights,
)

__all__ = [
    "FixedPointFormat",
    "dequantize_graph",
    "quantize_bias",
    "quantize_graph",
    "quantize_weights",
]
