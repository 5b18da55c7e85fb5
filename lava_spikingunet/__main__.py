"""``python -m lava_spikingunet ...`` is the ``spikingunet`` command."""

import sys

from lava_spikingunet.cli import main

sys.exit(main())
