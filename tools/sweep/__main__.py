"""`python -m tools.sweep ...`: the sweep's command line (tools/sweep/cli.py)."""

import sys

from tools.sweep.cli import main

if __name__ == "__main__":
    sys.exit(main())
