"""`pitbox` command line: dispatches to the subcommands (replay, probe, demo, plan, voice, setup); with no
subcommand it starts the tray app (`driver_app.qt.app.run_app`).

`pitbox --self-test` checks the installation (`driver_app.self_test`); `--version` names it.

Every subcommand module exposes `add_parser(subparsers)` and `run(args) -> int`. Errors a user can
cause (missing file, not an iRacing file) are reported as one line on stderr with a non-zero exit;
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from driver_app import cli_demo, cli_plan, cli_probe, cli_replay, cli_setup, cli_voice
from driver_app.win_console import attach_parent_console


def _version() -> str:
    try:
        return metadata.version("pitbox")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pitbox",
        description="PitBox: the open driver app for sim racing. With no command, the tray app starts.",
    )
    parser.add_argument("--version", action="version", version=f"pitbox {_version()}")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="what to log on stderr (default: WARNING)",
    )
    parser.add_argument(
        "--minimized",
        action="store_true",
        help="with no command: start the tray app without showing its window (as at log-on)",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (modules, Qt, speech, recogniser, video encoder, relay) and exit",
    )
    parser.add_argument(
        "--self-test-report", type=Path, metavar="FILE", help="with --self-test: also write the report to FILE"
    )
    parser.add_argument(
        "--self-test-only", metavar="CHECK,...", default="", help="with --self-test: run only these checks"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_replay.add_parser(subparsers)
    cli_probe.add_parser(subparsers)
    cli_demo.add_parser(subparsers)
    cli_plan.add_parser(subparsers)
    cli_voice.add_parser(subparsers)
    cli_setup.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    attach_parent_console()  # PitBox.exe is windowed: print into the terminal it was typed in, if any
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.self_test:
        return _self_test(args)
    if args.command is None:
        return _tray_app(parser, minimized=args.minimized)
    result: int = args.run(args)
    return result


def _self_test(args: argparse.Namespace) -> int:
    from driver_app import self_test

    only = [name.strip() for name in args.self_test_only.split(",") if name.strip()]
    try:
        return self_test.run(
            _version(), report=args.self_test_report, only=only, emit=lambda line: print(line, flush=True)
        )
    except (self_test.SelfTestError, OSError) as exc:  # an unknown check name, a report that cannot be written
        print(f"pitbox: {exc}", file=sys.stderr)
        return 2


def _tray_app(parser: argparse.ArgumentParser, *, minimized: bool = False) -> int:
    """`pitbox` alone: the tray app, where there is a desktop to show it on."""
    if not (os.environ.get("QT_QPA_PLATFORM") or cli_demo.has_display()):
        print("pitbox: no display here, so the tray app cannot start; choose a command:", file=sys.stderr)
        parser.print_help(sys.stderr)
        return 2
    from driver_app.qt.app import run_app

    return run_app(["--minimized"] if minimized else [])


if __name__ == "__main__":
    sys.exit(main())
