"""``python -m daq.cli``: the same program as ``sevens``."""

import sys

from daq.cli.main import main

sys.exit(main())
