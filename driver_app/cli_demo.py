"""`pitbox demo`: drive the built-in demo sim and show what PitBox sees, lap by lap.

Runs the demo adapter paced at `--speed` times real time (or as fast as possible with
`--speed 0`), splits laps as they finish and prints one line per lap plus the sim's events (pit
stops, driver swaps, state changes). The last line is a JSON summary
`{"laps", "frames_produced", "lap_times_s", "best_lap_s", "fuel_per_lap_l", ...}`.

This is the headless demo; the tray app, the embedded relay and the coaching calls join it as
those parts of PitBox land.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from adapters.base import DriverSwap, SessionChanged, StateChanged
from adapters.demo import DemoAdapter
from adapters.laps import Lap, LapKind, LapSplitter
from adapters.model import json_ready
from driver_app.cli_args import at_least_one, non_negative

POLL_INTERVAL_S = 1.0 / 120.0
"""How often the paced loop wakes up: twice per 60 Hz tick, so no frame waits long."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="drive the built-in demo sim and print what PitBox sees",
        description="Drive the built-in demo sim (PitBox Park) and print laps and events as they happen.",
    )
    parser.add_argument("--laps", type=at_least_one, default=3, help="laps to drive (default: 3)")
    parser.add_argument(
        "--speed", type=non_negative, default=1.0, help="multiple of real time; 0 = as fast as possible"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the demo race (same seed, same race)")
    parser.add_argument("--headless", action="store_true", help="no window (the only mode until the tray app lands)")
    parser.set_defaults(run=run)


def _lap_line(lap: Lap) -> str:
    time_text = "-" if lap.time_s is None else f"{lap.time_s:.3f} s"
    fuel_text = "-" if lap.fuel_used_l is None else f"{lap.fuel_used_l:.2f} l"
    return (
        f"lap {lap.number:>3}  {time_text:>10}  {lap.kind.value:<7}  fuel {fuel_text:>7}  "
        f"top {lap.top_speed_mps * 3.6:5.1f} km/h"
    )


def run(args: argparse.Namespace) -> int:
    # One lap more than asked, so the last asked-for lap ends at the line and is split.
    adapter = DemoAdapter(speed=None if args.speed == 0 else args.speed, seed=args.seed, laps=args.laps + 1)
    splitter = LapSplitter()
    laps: list[Lap] = []
    frames = 0
    clock = time.monotonic
    adapter.connect(clock())
    info = adapter.session_info
    if info is not None:
        print(f"PitBox demo: {info.track.display_name} ({info.track.length_m / 1000:.2f} km), {args.laps} laps")
    try:
        while len(laps) < args.laps:
            frame = adapter.read(clock())
            for event in adapter.drain_events():
                if isinstance(event, DriverSwap):
                    before = event.previous.driver_name if event.previous else "?"
                    print(f"driver swap: {before} -> {event.current.driver_name}")
                elif isinstance(event, StateChanged):
                    print(f"sim {event.current.value} ({event.reason})")
                elif isinstance(event, SessionChanged):
                    pass  # announced above; updates are reflected in the summary
            if frame is None:
                if adapter.sim.finished:
                    break
                time.sleep(POLL_INTERVAL_S)
                continue
            frames += 1
            for lap in splitter.feed(frame):
                laps.append(lap)
                print(_lap_line(lap), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        adapter.close()
    laps = laps[: args.laps]
    timed = [lap for lap in laps if lap.kind is LapKind.FLYING and lap.time_s is not None]
    fuel = [lap.fuel_used_l for lap in laps if lap.kind is LapKind.FLYING and lap.fuel_used_l is not None]
    summary = {
        "laps": len(laps),
        "frames_produced": frames,
        "lap_times_s": [None if lap.time_s is None else round(lap.time_s, 3) for lap in laps],
        "best_lap_s": round(min(lap.time_s for lap in timed if lap.time_s is not None), 3) if timed else None,
        "fuel_per_lap_l": round(sum(fuel) / len(fuel), 3) if fuel else None,
        "speed": args.speed,
        "seed": args.seed,
    }
    print(json.dumps(json_ready(summary), allow_nan=False))
    return 0 if len(laps) == args.laps else 1
