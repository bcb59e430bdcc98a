"""``python -m bench.load``: the same as ``python bench/loadgen.py``."""

import sys

from bench.load.cli import main

sys.exit(main())
