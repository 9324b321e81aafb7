"""`python -m driver_app`: the `pitbox` command (also the packaged app's entry script, see build.spec)."""

import sys

from driver_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
