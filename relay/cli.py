"""`pitbox-relay`: the relay's command line.

Only `--version` and `--help` exist so far; the subcommands (serving, handoffs, team messages,
stint plans) arrive with the relay itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

PROG = "pitbox-relay"


def _version() -> str:
    try:
        return version("pitbox")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="PitBox team relay: receives the drivers' telemetry and serves it to the team.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay command line; returns the process exit status."""
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    # No subcommand exists yet, so there is nothing to run: show what there is.
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
