"""The ``sdnn`` form: the integer U-Net on stock Lava processes (docs/semantics.md section 6).

- :mod:`.convert`: quantized graph -> ``sdnn`` graph (:func:`to_sdnn`), settling steps.
- :mod:`.models`: the project's CPU model of the stock ``lava.proc.conv.process.Conv``.
- :mod:`.network`: build and run the network from stock process classes only.

The integer reference is :mod:`lava_spikingunet.reference.sigma_delta`.
"""

from lava_spikingunet.backends.sdnn.convert import is_sdnn, longest_path, settle_steps, to_sdnn

__all__ = ["is_sdnn", "longest_path", "settle_steps", "to_sdnn"]
