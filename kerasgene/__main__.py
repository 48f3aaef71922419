"""``python -m kerasgene``: the command line (:mod:`kerasgene.cli`)."""

import sys

from kerasgene.cli import main

sys.exit(main())
