"""``python -m nwb_dyn`` is the ``nwb-dyn`` command."""

import sys

from nwb_dyn.cli import main

sys.exit(main())
