"""`pitbox demo`: the whole product on the built-in demo sim, in one command.

Starts an embedded relay on loopback and the driver pipeline on the demo sim (PitBox Park), paced at
`--speed` times real time (`--speed 0`: as fast as possible). Prints the relay address with a viewer
pairing string, each coaching call as it happens, one line per lap with the strategy picture, and
last a JSON summary `{"laps", "frames_produced", "frames_acked_by_relay", "coaching_calls",
"lap_times_s", "best_lap_s", "fuel_per_lap_l", "strategy", "speed", "seed"}`. Where a display exists
and `--headless` is not given, the tray app opens on the same pipeline instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.model import Lap, LapKind, json_ready
from coaching.messages import Verbosity
from driver_app.cli_args import at_least_one, non_negative
from driver_app.embedded_relay import EmbeddedRelay
from driver_app.pipeline import (
    LapFinished,
    Pipeline,
    PipelineConfig,
    PipelineEvent,
    StatusChanged,
    StrategyUpdated,
)
from driver_app.speech import ConsoleSpeechSink

FLUSH_TIMEOUT_S = 30.0
"""How long the demo waits at the end for the relay to acknowledge the last batches."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole product on the built-in demo sim",
        description="Run PitBox on the built-in demo sim: embedded relay, coaching calls, laps and strategy.",
    )
    parser.add_argument("--laps", type=at_least_one, default=3, help="laps to drive (default: 3)")
    parser.add_argument(
        "--speed", type=non_negative, default=1.0, help="multiple of real time; 0 = as fast as possible"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the demo race (same seed, same race)")
    parser.add_argument("--headless", action="store_true", help="no window, even where a display exists")
    parser.add_argument(
        "--verbosity", choices=[v.name.lower() for v in Verbosity], default="coaching", help="how much the coach says"
    )
    parser.set_defaults(run=run)


def has_display() -> bool:
    return sys.platform == "win32" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def lap_line(event: LapFinished) -> str:
    lap = event.lap
    time_text = "-" if lap.time_s is None else f"{lap.time_s:.3f} s"
    fuel_text = "-" if lap.fuel_used_l is None else f"{lap.fuel_used_l:.2f} l"
    return (
        f"lap {lap.number:>3}  {time_text:>10}  {lap.kind.value:<7}  fuel {fuel_text:>7}  "
        f"top {lap.top_speed_mps * 3.6:5.1f} km/h"
    )


def strategy_line(event: StrategyUpdated) -> str:
    snapshot = event.snapshot
    parts = []
    if snapshot.fuel_estimate is not None:
        parts.append(f"fuel {snapshot.fuel_estimate.fuel_per_lap_l:.2f} l/lap")
    if snapshot.fuel is not None:
        parts.append(f"{snapshot.fuel.laps_of_fuel_left:.1f} laps of fuel")
        if snapshot.fuel.laps_remaining:
            parts.append(f"{snapshot.fuel.fuel_to_add_l:.1f} l to add")
    if snapshot.next_lap is not None:
        parts.append(f"next lap {snapshot.next_lap.time_s:.2f} s")
    window = snapshot.pit_window
    if window:
        parts.append(f"pit call: {window['strategy']}")
    return "strategy: " + (", ".join(parts) if parts else "measuring (needs a green-flag lap)")


async def _demo(args: argparse.Namespace, relay_dir: Path) -> dict[str, Any]:
    relay = await EmbeddedRelay.start(relay_dir)
    stop = asyncio.Event()
    progress = DemoProgress(args.laps, stop, lambda line: print(line, flush=True))
    speech = ConsoleSpeechSink(lambda line: print(f"call {line}", flush=True))
    pipeline = Pipeline(demo_config(args, relay), progress, speech=speech)
    for line in header_lines(args, pipeline, relay):
        print(line, flush=True)
    finished = asyncio.create_task(until_finished(pipeline, stop))
    try:
        await pipeline.run(stop)
    finally:
        finished.cancel()
        await pipeline.close_relay(FLUSH_TIMEOUT_S)
        await relay.stop()
    return demo_summary(args, pipeline, progress.laps, progress.last_strategy)


class DemoProgress:
    """Prints laps, strategy and status as they come, and stops the pipeline after the laps asked for."""

    def __init__(self, laps_wanted: int, stop: asyncio.Event, say: Callable[[str], None]) -> None:
        self.laps_wanted = laps_wanted
        self.stop = stop
        self.say = say
        self.laps: list[Lap] = []
        self.last_strategy: StrategyUpdated | None = None

    def __call__(self, event: PipelineEvent) -> None:
        if isinstance(event, LapFinished):
            self.laps.append(event.lap)
            self.say(lap_line(event))
            if len(self.laps) >= self.laps_wanted:
                self.stop.set()
        elif isinstance(event, StrategyUpdated):
            self.last_strategy = event
            self.say(strategy_line(event))
        elif isinstance(event, StatusChanged):
            self.say(f"status: {event.summary}")
        # Calls: the speech sink prints them.


def demo_config(args: argparse.Namespace, relay: EmbeddedRelay) -> PipelineConfig:
    """The demo's pipeline: the demo sim at `--speed`, streaming to the embedded relay."""
    return PipelineConfig(
        adapter="demo",
        # One lap more than asked, so the last asked-for lap ends at the line and is split.
        adapter_options={"speed": None if args.speed == 0 else args.speed, "seed": args.seed, "laps": args.laps + 1},
        relay_url=relay.url,
        relay_token=relay.driver_token,
        verbosity=Verbosity[args.verbosity.upper()],
    )


def track_label(pipeline: Pipeline) -> str:
    info = pipeline.adapter.session_info
    return f"{info.track.display_name} ({info.track.length_m / 1000:.2f} km)" if info is not None else "the demo track"


def header_lines(args: argparse.Namespace, pipeline: Pipeline, relay: EmbeddedRelay) -> list[str]:
    return [
        f"PitBox demo: {track_label(pipeline)}, {args.laps} laps at {args.speed:g}x real time",
        f"relay: {relay.url}",
        f"viewer pairing: {relay.viewer_pairing}",
        f"team dashboard: {relay.dashboard_url}",
    ]


def demo_summary(
    args: argparse.Namespace, pipeline: Pipeline | None, laps: list[Lap], last_strategy: StrategyUpdated | None
) -> dict[str, Any]:
    """The JSON summary the demo prints last (the same headless and with the tray app)."""
    laps = laps[: args.laps]
    flying = [lap for lap in laps if lap.kind is LapKind.FLYING and lap.time_s is not None]
    fuel = [lap.fuel_used_l for lap in flying if lap.fuel_used_l is not None]
    relay = None if pipeline is None else pipeline.relay
    return {
        "laps": len(laps),
        "frames_produced": 0 if pipeline is None else pipeline.stats.frames_produced,
        "frames_acked_by_relay": 0 if relay is None else relay.stats.frames_acked,
        "coaching_calls": 0 if pipeline is None else pipeline.stats.calls,
        "lap_times_s": [None if lap.time_s is None else round(lap.time_s, 3) for lap in laps],
        "best_lap_s": round(min(lap.time_s for lap in flying if lap.time_s is not None), 3) if flying else None,
        "fuel_per_lap_l": round(sum(fuel) / len(fuel), 3) if fuel else None,
        "strategy": None if last_strategy is None else last_strategy.snapshot.to_dict(),
        "speed": args.speed,
        "seed": args.seed,
    }


async def until_finished(pipeline: Pipeline, stop: asyncio.Event) -> None:
    """Stop when the demo session itself ends (the sim's cool-down after the flag)."""
    sim = getattr(pipeline.adapter, "sim", None)
    while not stop.is_set():
        if sim is not None and sim.finished:
            stop.set()
        await asyncio.sleep(0.25)


def run(args: argparse.Namespace) -> int:
    if not args.headless and has_display():
        from driver_app.qt.app import run_demo_app

        return run_demo_app(args)
    with tempfile.TemporaryDirectory(prefix="pitbox-demo-") as relay_dir:
        try:
            summary = asyncio.run(_demo(args, Path(relay_dir)))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    print(json.dumps(json_ready(summary), allow_nan=False))
    ok = summary["laps"] == args.laps and summary["frames_acked_by_relay"] == summary["frames_produced"]
    return 0 if ok else 1
