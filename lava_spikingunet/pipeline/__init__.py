"""The pipeline's stages, one module each, in order: convert, finetune, quantize, export,
simulate, verify, profile, deploy (training lives in :mod:`lava_spikingunet.training`).

Each stage takes and returns Python objects (graphs, arrays, reports), checks its inputs
and raises :mod:`lava_spikingunet.errors` types; the ``spikingunet`` commands parse
options, call a stage and print. :mod:`lava_spikingunet` re-exports the stages lazily.
"""

from __future__ import annotations

from typing import Any


def as_profile(hw: Any) -> Any:
    """A :class:`~lava_spikingunet.hw.profiles.HardwareProfile` from itself, a shipped
    name (``"loihi2"``) or a ``.toml`` path."""
    from lava_spikingunet.hw.profiles import HardwareProfile, load_profile

    return hw if isinstance(hw, HardwareProfile) else load_profile(hw)
