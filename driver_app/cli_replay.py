"""`pitbox replay FILE.ibt`: the session and lap table of an iRacing recording.

Prints the session (track, car, driver, session type) and one row per lap (lap, time, kind, fuel
used, top speed) with rich, or one JSON object with `--json`:
`{"session": {...}, "laps": [{"lap", "time_s", "kind", "fuel_used_l", "top_speed_mps", ...}]}`.
Long files show a progress bar while they are decoded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.errors import AdapterError
from adapters.ibt import DEFAULT_CHUNK_RECORDS, IbtFile
from adapters.laps import Lap, split_laps
from adapters.model import FrameBlock, SessionInfo, json_ready

PROGRESS_MIN_RECORDS = 2 * DEFAULT_CHUNK_RECORDS
"""Files shorter than this decode in well under a second: no progress bar."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="read an iRacing .ibt recording: session and lap table",
        description="Read an iRacing .ibt recording and print its session and lap table.",
    )
    parser.add_argument("file", help="path to an .ibt file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(run=run)


def _read(ibt: IbtFile, show_progress: bool) -> FrameBlock:
    if not show_progress or ibt.record_count < PROGRESS_MIN_RECORDS:
        return ibt.read_block()
    blocks = []
    with Progress(
        TextColumn("reading {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(ibt.path.name, total=ibt.record_count)
        for block in ibt.iter_blocks():
            blocks.append(block)
            progress.advance(task, len(block))
    return FrameBlock.concatenate(blocks)


def replay_summary(info: SessionInfo, laps: list[Lap], duration_s: float, frames: int) -> dict[str, Any]:
    """The JSON document `pitbox replay --json` prints."""
    return {
        "session": info.to_dict(),
        "recording": {"duration_s": round(duration_s, 3), "frames": frames},
        "laps": [lap.to_dict() for lap in laps],
    }


def _format_time(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:06.3f}" if minutes else f"{rest:.3f}"


def _print_tables(console: Console, info: SessionInfo, laps: list[Lap], duration_s: float) -> None:
    player = info.player
    console.print(f"[bold]{info.track.display_name}[/bold] {info.track.config}".rstrip())
    console.print(
        f"car: {player.car_name if player else '?'}   driver: {player.driver_name if player else '?'}   "
        f"session: {info.session_name} ({info.session_type.value})   recorded: {duration_s:.1f} s"
    )
    if not laps:
        console.print("no complete lap in this recording")
        return
    table = Table(title="Laps")
    for column in ("lap", "time", "kind", "fuel used (l)", "top speed (km/h)", "sim time"):
        table.add_column(column, justify="right")
    best = min((lap.time_s for lap in laps if lap.kind.value == "flying" and lap.time_s), default=None)
    for lap in laps:
        time_text = _format_time(lap.time_s)
        if best is not None and lap.time_s == best:
            time_text = f"[green]{time_text}[/green]"
        table.add_row(
            str(lap.number),
            time_text,
            lap.kind.value,
            "-" if lap.fuel_used_l is None else f"{lap.fuel_used_l:.2f}",
            f"{lap.top_speed_mps * 3.6:.1f}",
            _format_time(lap.sim_time_s),
        )
    console.print(table)


def run(args: argparse.Namespace) -> int:
    try:
        with IbtFile(args.file) as ibt:
            info = ibt.session_info
            block = _read(ibt, show_progress=sys.stderr.isatty())
            duration_s = ibt.duration_s
    except AdapterError as exc:
        print(f"pitbox replay: {exc}", file=sys.stderr)
        return 1
    laps = split_laps(block)
    if args.json:
        print(json.dumps(json_ready(replay_summary(info, laps, duration_s, len(block))), allow_nan=False))
    else:
        _print_tables(Console(), info, laps, duration_s)
    return 0
