"""`pitbox probe [--test-file PATH] [--json]`: attach to iRacing once and show what it publishes.

(`pitbox probe --sim f1 --listen HOST:PORT` listens for EA SPORTS F1 UDP telemetry instead: see
`driver_app.cli_probe_f1`.)

Connects through the live iRacing adapter (to the running sim on Windows, or to a memory image
file with `--test-file`, which is how it runs elsewhere), reads the newest tick, and prints the
session (track, car, session type, drivers with class and team, classes) and that frame in model
units, with rich tables or, with `--json`, as one JSON object:
`{"source", "session": SessionInfo.to_dict(), "frame": TelemetryFrame.as_dict(), "on_track": bool}`
(NaN written as null; `session` or `frame` null when the sim published none).

A missing, truncated or foreign file, or no running sim, is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.errors import AdapterError
from adapters.iracing import IRacingAdapter
from adapters.model import CHANNELS, SessionInfo, TelemetryFrame, json_ready
from driver_app.cli_args import at_least_one, non_negative

PROG = "pitbox probe"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one attach saw: the session and the newest frame (either may be missing)."""

    source: str
    session: SessionInfo | None
    frame: TelemetryFrame | None

    @property
    def on_track(self) -> bool:
        """The player is in the car, in the world, with physics running."""
        return self.frame is not None and self.frame.in_world and self.frame.is_on_track

    def to_dict(self) -> dict[str, Any]:
        """The JSON document `pitbox probe --json` prints (NaN still present; see `json_ready`)."""
        return {
            "source": self.source,
            "session": self.session.to_dict() if self.session is not None else None,
            "frame": self.frame.as_dict() if self.frame is not None else None,
            "on_track": self.on_track,
        }


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--test-file",
        type=Path,
        metavar="PATH",
        help="read this iRacing memory image instead of the running sim (how probe runs off Windows)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    f1 = parser.add_argument_group("EA SPORTS F1 (--sim f1)")
    parser.add_argument(
        "--sim", choices=["iracing", "f1"], default="iracing", help="which sim to probe (default: iracing)"
    )
    f1.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="UDP address to listen on (default 0.0.0.0:20777; port 0 picks a free one)",
    )
    f1.add_argument(
        "--duration",
        metavar="S",
        type=non_negative,
        default=5.0,
        help="seconds to listen (default 5; 0: until Ctrl+C)",
    )
    f1.add_argument("--count", metavar="N", type=at_least_one, help="stop after N datagrams")
    f1.add_argument("--record", metavar="FILE", help="also write every datagram to FILE (read it with pitbox replay)")


def add_parser(subparsers: Any) -> None:
    """Register `probe` on the `pitbox` command's subparsers."""
    parser = subparsers.add_parser(
        "probe",
        help="attach to iRacing once (or listen for F1 telemetry): session, drivers and the newest frame",
        description="Attach to iRacing (or a memory image) once and print the session and the newest frame; "
        "with --sim f1, listen for EA SPORTS F1 UDP telemetry and print what arrives.",
    )
    _add_arguments(parser)
    parser.set_defaults(run=run)


def probe(test_file: Path | None) -> ProbeResult | None:
    """Attach once and read every tick waiting; None when the sim is not publishing."""
    adapter = IRacingAdapter(test_file)
    try:
        now_s = time.monotonic()
        if not adapter.connect(now_s):
            return None
        newest = None
        while (frame := adapter.read(now_s)) is not None:
            newest = frame
        source = str(test_file) if test_file is not None else "iracing (live)"
        return ProbeResult(source, adapter.session_info, newest)
    finally:
        adapter.close()


def run(args: argparse.Namespace) -> int:
    f1_only = [flag for flag, given in (("--listen", args.listen), ("--record", args.record), ("--count", args.count))
               if given is not None]  # fmt: skip
    if args.sim == "f1":
        if args.test_file is not None:
            print(f"{PROG}: --test-file is for iRacing memory images, not --sim f1", file=sys.stderr)
            return 1
        from driver_app.cli_probe_f1 import run_f1  # here, not at the top: it imports this module

        return run_f1(args)
    if f1_only:
        print(f"{PROG}: {', '.join(f1_only)}: only with --sim f1", file=sys.stderr)
        return 1
    test_file: Path | None = args.test_file
    try:
        result = probe(test_file)
    except AdapterError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if result is None:
        if test_file is not None:
            reason = f"{test_file} holds no live telemetry (the sim was not publishing when it was written)"
        elif sys.platform != "win32":
            reason = "iRacing runs only on Windows; pass --test-file PATH to read a memory image"
        else:
            reason = "iRacing is not running (or not in a session)"
        print(f"{PROG}: {reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(json_ready(result.to_dict()), allow_nan=False))
    else:
        print_tables(Console(), result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run `probe` on its own (`python -m driver_app.cli_probe --test-file PATH`)."""
    from driver_app import cli  # here, not at the top: cli imports this module

    return cli.main(["probe", *(sys.argv[1:] if argv is None else argv)])


# --------------------------------------------------------------------------- tables


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list):
        return "  ".join(_value_text(v) for v in value)
    return str(value)


def _print_session(console: Console, info: SessionInfo) -> None:
    track, player = info.track, info.player
    limits = []
    if info.laps is not None:
        limits.append(f"{info.laps} laps")
    if info.time_limit_s is not None:
        limits.append(f"{info.time_limit_s / 60:.0f} min")
    table = Table(title="Session", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    table.add_row("track", f"{track.display_name} {track.config}".rstrip() + f" ({track.name})")
    table.add_row("length", f"{track.length_m / 1000:.3f} km, {len(track.sector_starts_frac)} sectors")
    table.add_row(
        "session", f"{info.session_name} ({info.session_type.value}){'  ' if limits else ''}{', '.join(limits)}"
    )
    table.add_row("car", f"{player.car_name} ({player.car_path})" if player else "-")
    table.add_row("driver", f"{player.driver_name}, team {player.team_name}" if player else "-")
    table.add_row("team racing", "yes" if info.team_racing else "no")
    table.add_row("classes", ", ".join(f"{c.name} (#{c.class_id})" for c in info.classes) or "-")
    console.print(table)

    drivers = Table(title="Drivers")
    for column in ("car", "#", "driver", "class", "team"):
        drivers.add_column(column)
    for entry in info.drivers:
        if entry.is_pace_car or entry.is_spectator:
            continue
        name = f"[bold]{entry.driver_name}[/bold]" if entry.car_idx == info.player_car_idx else entry.driver_name
        drivers.add_row(str(entry.car_idx), entry.car_number, name, entry.class_name, entry.team_name)
    console.print(drivers)


def print_tables(console: Console, result: ProbeResult) -> None:
    console.print(f"source: {result.source}")
    if result.session is not None:
        _print_session(console, result.session)
    else:
        console.print("no session info published")
    if result.frame is None:
        console.print("no telemetry tick published yet")
        return
    frame = result.frame.as_dict()
    table = Table(title=f"Newest frame (tick {result.frame.tick}, on track: {'yes' if result.on_track else 'no'})")
    table.add_column("channel")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for channel in CHANNELS:
        table.add_row(channel.name, _value_text(frame[channel.name]), channel.unit)
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
