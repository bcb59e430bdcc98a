"""``python bench/loadgen.py``: the load generator and benchmark, whose code is in bench/load/."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.load.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
