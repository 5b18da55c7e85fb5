"""Lava processes and process models of the integer Spiking-UNet.

Processes (each with a ``fixed_pt`` model, bit-exact with docs/semantics.md, and a
``floating_pt`` model; run with ``Loihi2SimCfg(select_tag="fixed_pt")``):

- synapses: :class:`ConvSynapse`, :class:`AvgPoolSynapse`, :class:`ConvTransposeSynapse`
- neurons: :class:`MTNeuron` (graded), :class:`MTCascadeNeuron` (hierarchical binary cascade:
  one :class:`MTCascadeLayer` process runs a layer's N stages), :class:`MTVirtualNeuron`
  (binary spikes on ``2^N - 1`` virtual sub-steps per step, thermometer-coded)
- I/O: :class:`StaticInputEncoder`, :class:`Readout`

See docs/lava_backend.md for ports, Vars and timing. Import :mod:`lava_spikingunet` first
(the package does) so that Lava imports on Python 3.11.
"""

import lava_spikingunet  # noqa: F401  (installs the Lava compat hook before lava is imported)
from lava_spikingunet.backends.lava._common import MAX_STAGES, frame_index, frame_step
from lava_spikingunet.backends.lava.io import Readout, StaticInputEncoder
from lava_spikingunet.backends.lava.neurons import (
    MTCascadeLayer,
    MTCascadeNeuron,
    MTNeuron,
    MTVirtualNeuron,
)
from lava_spikingunet.backends.lava.synapses import (
    AbstractSynapse,
    AvgPoolSynapse,
    ConvSynapse,
    ConvTransposeSynapse,
    connect_source,
)

__all__ = [
    "MAX_STAGES",
    "AbstractSynapse",
    "AvgPoolSynapse",
    "ConvSynapse",
    "ConvTransposeSynapse",
    "MTCascadeLayer",
    "MTCascadeNeuron",
    "MTNeuron",
    "MTVirtualNeuron",
    "Readout",
    "StaticInputEncoder",
    "connect_source",
    "frame_index",
    "frame_step",
]
