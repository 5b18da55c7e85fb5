"""Export: a quantized Spiking-UNet as a lava-dl netx HDF5 file (docs/netx_schema.md).

The file alone reproduces a run bit for bit: integer mantissas and exponents per
synaptic connection, thresholds, biases, delays, T, the neuron form and the hardware
profile. It is written atomically and never replaces an existing file unless asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from lava_spikingunet.errors import InputError, UnsupportedModelError

if TYPE_CHECKING:
    from lava_spikingunet.graph.ir import SpikingGraph

__all__ = ["NETX_SUFFIXES", "export"]

#: Suffixes of the files :func:`export` writes.
NETX_SUFFIXES = (".h5", ".hdf5")


def export(
    graph: SpikingGraph,
    path: str | Path,
    *,
    form: str | None = None,
    delays: Literal["graph", "balanced"] = "graph",
    include_float: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``graph`` to ``path`` as netx HDF5 and return the path.

    ``form``: the neuron form the file asks for (default the model's); ``delays``: keep
    the model's delays or balance the skips (on a copy); ``include_float``: also store
    the float weights. Raises InputError for an unquantized graph or an unwritable path,
    UnsupportedModelError for a model Lava cannot run.
    """
    import numpy as np

    from lava_spikingunet.backends.netx import export_netx
    from lava_spikingunet.fileio import check_free_space, check_writable
    from lava_spikingunet.graph.timing import balance_delays
    from lava_spikingunet.limits import check_lava_supported

    check_writable(path, overwrite, suffixes=NETX_SUFFIXES, what="netx file")
    if not graph.is_quantized:
        raise InputError("the model is not quantized: quantize it first")
    check_lava_supported(graph)
    arrays = sum(np.size(getattr(e, "mant", 0)) for _s, _d, e in graph.edges())
    check_free_space(path, (arrays * 8 * (2 if include_float else 1)) + (1 << 20))
    if delays == "balanced":
        graph = balance_delays(graph.copy())
    elif delays != "graph":
        raise InputError(f"delays must be graph or balanced, got {delays!r}")
    try:
        return export_netx(
            graph, path, overwrite=overwrite, neuron_form=form, include_float=include_float
        )
    except ValueError as exc:
        raise UnsupportedModelError(str(exc)) from exc
