"""`pitbox replay FILE.ibt`: the session and lap table of an iRacing recording.

FILE may also be a PitBox UDP recording of EA SPORTS F1 telemetry (`pitbox probe --sim f1 --record`),
recognised by its first bytes; everything below works on it the same way.

Prints the session (track, car, driver, session type) and one row per lap (lap, time, kind, fuel
used, top speed) with rich, or one JSON object with `--json`:
`{"session": {...}, "laps": [{"lap", "time_s", "kind", "fuel_used_l", "top_speed_mps", ...}]}`.
Long files show a progress bar while they are decoded.

`--coach` runs the coaching copilot over the recording as it would run live and prints each call
as the driver would hear it (session time, lap, lap distance, priority, text); with `--json` the
calls, segments and incidents are added under `"coaching"`. The copilot starts from nothing (no
stored personal best), so two runs over one file print the same bytes.

`--report PATH` also writes the post-session report (`coaching.report`) as one self-contained HTML
page: laps, time lost per segment, hotspots, consistency, fuel, and the best lap's speed, throttle
and brake against another lap (`--report-lap N`; default the slowest other flying lap), with the
copilot's calls when `--coach` is given. The page has no timestamp: the same file gives the same page.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.datagrams import is_recording
from adapters.errors import AdapterError, TelemetryFormatError
from adapters.f1udp import replay_recording
from adapters.ibt import DEFAULT_CHUNK_RECORDS, IbtFile
from adapters.laps import Lap, split_laps
from adapters.model import FrameBlock, SessionInfo, json_ready
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.errors import TrackNotesError
from coaching.messages import Call, Verbosity
from coaching.report import build_report, render_html
from coaching.segments import CornerName
from driver_app.coach_files import TRACKS_DIR, copilot_files, load_track_notes
from strategy.live import LiveStrategy
from strategy.tyres import tyre_summary

PROGRESS_MIN_RECORDS = 2 * DEFAULT_CHUNK_RECORDS
"""Files shorter than this decode in well under a second: no progress bar."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="read an iRacing .ibt recording (or an F1 UDP recording): session and lap table",
        description="Read an iRacing .ibt recording (or a PitBox recording of F1 UDP telemetry) and print its "
        "session and lap table.",
    )
    parser.add_argument("file", help="path to an .ibt file, or an F1 UDP recording from pitbox probe --record")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--strategy", action="store_true", help="add the fuel, pace and tyre picture (strategy engine on the recording)"
    )
    parser.add_argument(
        "--coach", action="store_true", help="run the coaching copilot and print each call as the driver would hear it"
    )
    parser.add_argument(
        "--verbosity",
        choices=[v.name.lower() for v in Verbosity],
        default="coaching",
        help="how much the copilot says with --coach (default: coaching, everything)",
    )
    parser.add_argument(
        "--report",
        metavar="PATH",
        help="write the session report (laps, time lost per segment, plots) as one HTML file to PATH",
    )
    parser.add_argument(
        "--report-lap",
        metavar="N",
        type=int,
        help="the lap the report compares with the best lap (default: the slowest other flying lap)",
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


COACH_CHUNK_FRAMES = 60
"""The copilot is fed one second at a time, as the driver app's pipeline would."""


def coaching_picture(
    info: SessionInfo, block: FrameBlock, laps: list[Lap], verbosity: Verbosity, on_call: Any = None
) -> dict[str, Any]:
    """Run the copilot (with live strategy for the fuel and pit calls) over a recording."""
    copilot = Copilot(info, settings=CoachSettings(verbosity=verbosity), **copilot_files(None))
    live = LiveStrategy(info)
    ends = sorted((lap.end_index, lap) for lap in laps)
    calls: list[Call] = []
    for start in range(0, len(block), COACH_CHUNK_FRAMES):
        chunk = block.slice(start, min(start + COACH_CHUNK_FRAMES, len(block)))
        while ends and ends[0][0] < start + len(chunk):
            live.on_lap(ends.pop(0)[1])
            copilot.on_strategy(live.snapshot())
        live.on_frame(chunk[len(chunk) - 1])
        for call in copilot.process(chunk):
            calls.append(call)
            if on_call is not None:
                on_call(call)
    copilot.finish()
    stats = copilot.arbiter.stats
    return {
        "verbosity": verbosity.name.lower(),
        "calls": [call.to_dict() for call in calls],
        "segments": [segment.to_dict() for segment in copilot.segments.segments],
        "incidents": [incident.to_dict() for incident in copilot.drain_incidents()],
        "reference_lap": None if copilot.reference is None else copilot.reference.trace.lap,
        "stats": {name: getattr(stats, name) for name in stats.__slots__},
    }


def _corner_names(info: SessionInfo) -> tuple[CornerName, ...]:
    """Corner names from the track notes the copilot uses (none when the track has no notes)."""
    try:
        return load_track_notes(info.track.name, TRACKS_DIR).corners
    except TrackNotesError as exc:
        print(f"pitbox replay: track notes ignored: {exc}", file=sys.stderr)
        return ()


def write_report(
    path: str,
    info: SessionInfo,
    block: FrameBlock,
    laps: list[Lap],
    *,
    calls: list[dict[str, Any]] | None,
    compare_lap: int | None,
    source: str,
) -> str | None:
    """Build, render and write the HTML report; the error in one line, or None once written."""
    report = build_report(
        info, block, laps, calls=calls, compare_lap=compare_lap, corner_names=_corner_names(info), source=source
    )
    try:
        Path(path).write_text(render_html(report), encoding="utf-8", newline="\n")
    except OSError as exc:
        return f"cannot write the report to {path}: {exc.strerror or exc}"
    return None


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


def _print_header(console: Console, info: SessionInfo, duration_s: float) -> None:
    player = info.player
    console.print(f"[bold]{info.track.display_name}[/bold] {info.track.config}".rstrip())
    console.print(
        f"car: {player.car_name if player else '?'}   driver: {player.driver_name if player else '?'}   "
        f"session: {info.session_name} ({info.session_type.value})   recorded: {duration_s:.1f} s"
    )


def _print_laps(console: Console, laps: list[Lap]) -> None:
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


def _read_f1(path: str) -> tuple[SessionInfo, FrameBlock, float]:
    replay = replay_recording(path)
    if replay.session is None:
        raise TelemetryFormatError(f"{path}: no F1 session packet in this recording (nothing to describe)")
    return replay.session, replay.block, replay.duration_s


def run(args: argparse.Namespace) -> int:
    try:
        if is_recording(args.file):
            info, block, duration_s = _read_f1(args.file)
        else:
            with IbtFile(args.file) as ibt:
                info = ibt.session_info
                block = _read(ibt, show_progress=sys.stderr.isatty())
                duration_s = ibt.duration_s
    except AdapterError as exc:
        print(f"pitbox replay: {exc}", file=sys.stderr)
        return 1
    laps = split_laps(block)
    if args.report_lap is not None:
        if args.report is None:
            print("pitbox replay: --report-lap needs --report PATH", file=sys.stderr)
            return 1
        if args.report_lap not in {lap.number for lap in laps}:
            listed = ", ".join(str(lap.number) for lap in laps) or "none"
            print(
                f"pitbox replay: lap {args.report_lap} is not a lap of this recording (laps: {listed})", file=sys.stderr
            )
            return 1
    summary = replay_summary(info, laps, duration_s, len(block))
    if args.strategy:
        summary["strategy"] = strategy_picture(info, block, laps)
    console = Console()
    if not args.json:
        _print_header(console, info, duration_s)
    if args.coach:

        def print_call(call: Call) -> None:
            console.print(call.line(), markup=False, highlight=False, soft_wrap=True)

        if not args.json:
            console.print("[bold]Coaching calls[/bold] (session time, lap, lap distance, priority, text)")
        verbosity = Verbosity[args.verbosity.upper()]
        summary["coaching"] = coaching_picture(info, block, laps, verbosity, None if args.json else print_call)
    if args.json:
        print(json.dumps(json_ready(summary), allow_nan=False))
    else:
        _print_laps(console, laps)
        if args.strategy:
            _print_strategy(console, summary["strategy"])
    if args.report is not None:
        error = write_report(
            args.report,
            info,
            block,
            laps,
            calls=summary["coaching"]["calls"] if args.coach else None,
            compare_lap=args.report_lap,
            source=Path(args.file).name,
        )
        if error is not None:
            print(f"pitbox replay: {error}", file=sys.stderr)
            return 1
        print(f"report written to {args.report}", file=sys.stderr)
    return 0
