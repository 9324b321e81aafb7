"""Benchmark: the coaching copilot's cost per frame, live (one frame per call) and in replay (one second per call).

Run standalone: `python tests/bench/bench_coaching.py`. Inputs: the real Martinsville `.ibt`
(from `$PITBOX_REFERENCE_DATA`, default `../shared/data`; skipped when absent) and a 10-lap demo
session with every kind of event (spotter, flags, incidents, a pit stop). The frames are decoded or
generated first; only the copilot is timed. Every call to `Copilot.process` is timed on its own,
so p99 includes the lap-end analysis.

Baseline, measured in the same run: reading the same frames one `TelemetryFrame` at a time and
touching the 18 channels the copilot reads (what a naive per-frame copilot pays before any rule).
Prints p50/p99 in microseconds, the multiple of real time (60 Hz) and the ratio to the baseline; the
last line is one JSON object `{"bench", "metrics", "goals", "met"}`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from benchutil import percentile, report

from adapters.base import SessionChanged
from adapters.demo import DemoSim
from adapters.ibt import IbtFile
from adapters.model import FrameBlock, SessionInfo
from coaching.applications.base import SAMPLE_CHANNELS, CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Verbosity
from driver_app.coach_files import copilot_files

REPO = Path(__file__).resolve().parents[2]
TICK_S = 1.0 / 60.0
GOAL_P99_US = 200.0
GOAL_REAL_TIME = 1000.0
REPEATS = 3


def _martinsville() -> tuple[SessionInfo, FrameBlock] | None:
    root = Path(os.environ.get("PITBOX_REFERENCE_DATA", REPO.parent / "shared" / "data"))
    path = root / "ibt" / "skmodtour_martinsville_laps_2015.ibt"
    if not path.exists():
        print(f"skipping the .ibt: {path} not found", file=sys.stderr)
        return None
    with IbtFile(path) as ibt:
        return ibt.session_info, ibt.read_block()


def _demo() -> tuple[SessionInfo, FrameBlock]:
    sim = DemoSim(seed=5, laps=10, pit_every_laps=6)
    info = sim.session_info
    blocks = []
    while not sim.finished:
        blocks.append(sim.generate_block(3600))
        for event in sim.drain_events():
            if isinstance(event, SessionChanged):
                info = event.info
    return info, FrameBlock.concatenate(blocks)


def _run(info: SessionInfo, block: FrameBlock, chunk: int) -> tuple[list[float], float, int]:
    """Per-call times (s), total time (s) and calls made, feeding `chunk` frames per call."""
    copilot = Copilot(info, settings=CoachSettings(verbosity=Verbosity.COACHING), **copilot_files(None))
    chunks = [block.slice(start, min(start + chunk, len(block))) for start in range(0, len(block), chunk)]
    times = []
    calls = 0
    clock = time.perf_counter
    for part in chunks:
        start = clock()
        calls += len(copilot.process(part))
        times.append(clock() - start)
    copilot.finish()
    return times, sum(times), calls


def _baseline(block: FrameBlock) -> float:
    """Seconds to read every frame as a TelemetryFrame and touch the copilot's channels."""
    start = time.perf_counter()
    total = 0.0
    for frame in block:
        for name in SAMPLE_CHANNELS:
            total += float(getattr(frame, name))
    return time.perf_counter() - start


def _measure(name: str, info: SessionInfo, block: FrameBlock) -> dict[str, float | int]:
    frames = len(block)
    session_s = frames * TICK_S
    live_times: list[float] = []
    live_total = replay_total = baseline_s = float("inf")
    calls = 0
    for _ in range(REPEATS):
        times, total, calls = _run(info, block, 1)
        if total < live_total:
            live_total, live_times = total, times
        replay_total = min(replay_total, _run(info, block, 60)[1])
        baseline_s = min(baseline_s, _baseline(block))
    per_frame_us = [t * 1e6 for t in live_times]
    metrics: dict[str, float | int] = {
        f"{name}_frames": frames,
        f"{name}_calls": calls,
        f"{name}_live_p50_us": round(percentile(per_frame_us, 0.5), 2),
        f"{name}_live_p99_us": round(percentile(per_frame_us, 0.99), 2),
        f"{name}_live_max_us": round(max(per_frame_us), 1),
        f"{name}_live_x_real_time": round(session_s / live_total, 1),
        f"{name}_replay_us_per_frame": round(replay_total / frames * 1e6, 2),
        f"{name}_replay_x_real_time": round(session_s / replay_total, 1),
        f"{name}_baseline_us_per_frame": round(baseline_s / frames * 1e6, 2),
        f"{name}_replay_ratio_vs_baseline": round(baseline_s / replay_total, 1),
    }
    print(
        f"{name}: {frames} frames ({session_s:.0f} s of driving), {calls} calls\n"
        f"  live, one frame per call: p50 {metrics[f'{name}_live_p50_us']} us, "
        f"p99 {metrics[f'{name}_live_p99_us']} us, max {metrics[f'{name}_live_max_us']} us, "
        f"{metrics[f'{name}_live_x_real_time']}x real time\n"
        f"  replay, one second per call: {metrics[f'{name}_replay_us_per_frame']} us/frame, "
        f"{metrics[f'{name}_replay_x_real_time']}x real time\n"
        f"  baseline (TelemetryFrame per frame, channels read): {metrics[f'{name}_baseline_us_per_frame']} us/frame; "
        f"copilot in replay is {metrics[f'{name}_replay_ratio_vs_baseline']}x faster"
    )
    return metrics


def main() -> int:
    inputs = {"demo": _demo()}
    recording = _martinsville()
    if recording is not None:
        inputs = {"ibt": recording, **inputs}
    metrics: dict[str, float | int] = {}
    for name, (info, block) in inputs.items():
        metrics.update(_measure(name, info, block))
    goals = {"live_p99_us": f"<= {GOAL_P99_US:g}", "x_real_time": f">= {GOAL_REAL_TIME:g} (live and replay)"}
    met = all(
        metrics[f"{name}_live_p99_us"] <= GOAL_P99_US
        and metrics[f"{name}_live_x_real_time"] >= GOAL_REAL_TIME
        and metrics[f"{name}_replay_x_real_time"] >= GOAL_REAL_TIME
        for name in inputs
    )
    report("coaching", metrics, goals, met)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
