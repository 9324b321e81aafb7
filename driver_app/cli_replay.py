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
from strategy.live import LiveStrategy
from strategy.tyres import tyre_summary

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
    parser.add_argument(
        "--strategy", action="store_true", help="add the fuel, pace and tyre picture (strategy engine on the recording)"
    )
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


def strategy_picture(info: SessionInfo, block: FrameBlock, laps: list[Lap]) -> dict[str, Any]:
    """Run the live strategy engine over a recording as the driver app would, frame by frame."""
    live = LiveStrategy(info)
    live.on_session(info)
    ends = {lap.end_index: lap for lap in laps}
    for index in range(len(block)):
        lap = ends.get(index)
        if lap is not None:
            live.on_lap(lap)
        live.on_frame(block[index])
    if len(block) in ends:
        live.on_lap(ends[len(block)])
    tyres = [tyre_summary(block, lap).to_dict() for lap in laps]
    snapshot = live.snapshot()
    fit = live.pace.tracker.fit_or_none()
    return {
        **snapshot.to_dict(),
        "tyre_degradation": None if fit is None else fit.to_dict(),
        "tyres_by_lap": tyres,
    }


def _print_strategy(console: Console, picture: dict[str, Any]) -> None:
    fuel = picture["fuel_estimate"]
    plan = picture["fuel"]
    lines = []
    if fuel is None:
        lines.append("fuel: no green-flag flying lap to measure consumption on")
    else:
        lines.append(f"fuel per lap: {fuel['fuel_per_lap_l']:.3f} l (over {fuel['laps_used']} laps)")
    if plan is not None:
        lines.append(f"fuel now: {plan['fuel_l']:.2f} l = {plan['laps_of_fuel_left']:.1f} laps")
        if plan["laps_remaining"]:
            lines.append(
                f"to finish: {plan['fuel_to_finish_l']:.2f} l for {plan['laps_remaining']:.1f} laps, "
                f"add {plan['fuel_to_add_l']:.2f} l"
            )
    nxt = picture["next_lap"]
    lines.append(
        "next lap: not enough laps to predict"
        if nxt is None
        else f"next lap: {nxt['time_s']:.3f} s ± {nxt['sd_s']:.3f}"
    )
    deg = picture["tyre_degradation"]
    if deg is not None:
        lines.append(f"tyre degradation: {deg['deg_s_per_lap']:+.3f} s/lap ± {deg['deg_s_per_lap_ci95']:.3f}")
    window = picture.get("pit_window")
    if window is not None:
        lines.append(f"pit call: {window['strategy']} ({window['confidence']:.0%} of simulated races)")
        lines += [f"  - {reason}" for reason in window["reasons"]]
    console.print("[bold]Strategy[/bold]")
    for line in lines:
        console.print(f"  {line}")


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
    summary = replay_summary(info, laps, duration_s, len(block))
    if args.strategy:
        summary["strategy"] = strategy_picture(info, block, laps)
    if args.json:
        print(json.dumps(json_ready(summary), allow_nan=False))
    else:
        console = Console()
        _print_tables(console, info, laps, duration_s)
        if args.strategy:
            _print_strategy(console, summary["strategy"])
    return 0
