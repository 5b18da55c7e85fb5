"""lava-spikingunet: spiking U-Nets on Lava and Loihi.

Importing the package installs the Python 3.11 compatibility hook for Lava
(see :mod:`lava_spikingunet.lava_compat`), so ``import lava.lib.dl.netx`` works
afterwards. Heavy modules (torch, Lava) are imported only where they are used.
"""

from lava_spikingunet import lava_compat as _lava_compat

_lava_compat.install()

__version__ = "0.1.0"
