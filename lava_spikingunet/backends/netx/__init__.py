"""netx HDF5 export and import of the fixed-point Spiking-UNet (``docs/netx_schema.md``)."""

from lava_spikingunet.backends.netx.export import export_netx
from lava_spikingunet.backends.netx.load import NetxInfo, load_netx, read_netx, read_netx_info
from lava_spikingunet.backends.netx.schema import FORMAT, VERSION

__all__ = [
    "FORMAT",
    "VERSION",
    "NetxInfo",
    "export_netx",
    "load_netx",
    "read_netx",
    "read_netx_info",
]
