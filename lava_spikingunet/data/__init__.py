"""Dataset loaders (torch Datasets) for the paper's image sets in their published layouts.

See ``docs/data.md`` for layouts, preprocessing, splits and noise protocol.
"""

from lava_spikingunet.data.paths import default_data_root, resolve_data_root

__all__ = ["default_data_root", "resolve_data_root"]
