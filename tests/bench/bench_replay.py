"""Benchmark: the vectorised `.ibt` reader (with lap splitting) against pyirsdk's per-record loop.

Run standalone: `python tests/bench/bench_replay.py [FILE.ibt]`. Both sides read the same iRacing
variables of the same file in the same run: the baseline calls `irsdk.IBT.get(record, name)` for
every record and every variable the canonical decoder reads; PitBox maps the file, decodes every
record into canonical frames and splits laps. Prints timings (p50/p90 over repeats), frames/s, the
ratio, the multiple of real time, and a last line of JSON `{"bench", "metrics", "goals", "met"}`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import irsdk
from benchutil import percentile, report

from adapters.ibt import IbtFile
from adapters.laps import split_laps

GOAL_RATIO = 100.0
GOAL_REALTIME = 10_000.0


def _default_file() -> Path:
    root = Path(os.environ.get("PITBOX_REFERENCE_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
    return root / "ibt" / "skmodtour_martinsville_laps_2015.ibt"


def _pitbox_once(path: Path, with_session: bool) -> tuple[float, int, int]:
    start = time.perf_counter()
    with IbtFile(path) as ibt:
        if with_session:
            _ = ibt.session_info
            block = ibt.read_block()
        else:
            block = ibt.decoder.decode(ibt.raw_records())
        laps = split_laps(block)
    return time.perf_counter() - start, len(block), len(laps)


def _baseline_once(path: Path, names: tuple[str, ...]) -> tuple[float, int]:
    start = time.perf_counter()
    ibt = irsdk.IBT()
    ibt.open(str(path))
    count = ibt._disk_header.session_record_count
    sink = 0.0
    for record in range(count):
        for name in names:
            value = ibt.get(record, name)
            if isinstance(value, float):
                sink += value
    ibt.close()
    return time.perf_counter() - start, count


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else _default_file()
    if not path.exists():
        print(f"bench_replay: {path} not found (set PITBOX_REFERENCE_DATA)", file=sys.stderr)
        return 2
    with IbtFile(path) as ibt:
        names = ibt.decoder.sources
        duration_s = ibt.duration_s
    print(f"file: {path.name}  duration {duration_s:.1f} s  channels read: {len(names)}")

    baseline_runs = [_baseline_once(path, names)[0] for _ in range(3)]
    frames = _baseline_once(path, names)[1]
    _pitbox_once(path, True)  # warm the page cache and imports
    fast_runs = [_pitbox_once(path, False)[0] for _ in range(30)]
    full_runs = [_pitbox_once(path, True)[0] for _ in range(30)]
    laps = _pitbox_once(path, True)[2]

    base_s = statistics.median(baseline_runs)
    fast_s = statistics.median(fast_runs)
    full_s = statistics.median(full_runs)
    metrics = {
        "frames": frames,
        "channels": len(names),
        "laps": laps,
        "baseline_s_p50": round(base_s, 4),
        "baseline_frames_per_s": round(frames / base_s),
        "baseline_x_realtime": round(duration_s / base_s, 1),
        "pitbox_s_p50": round(fast_s, 5),
        "pitbox_s_p90": round(percentile(fast_runs, 0.9), 5),
        "pitbox_frames_per_s": round(frames / fast_s),
        "pitbox_x_realtime": round(duration_s / fast_s),
        "pitbox_with_session_yaml_s_p50": round(full_s, 5),
        "pitbox_with_session_yaml_x_realtime": round(duration_s / full_s),
        "ratio_vs_irsdk_loop": round(base_s / fast_s, 1),
    }
    goals = {"ratio_vs_irsdk_loop": f">= {GOAL_RATIO:g}", "pitbox_x_realtime": f">= {GOAL_REALTIME:g}"}
    met = metrics["ratio_vs_irsdk_loop"] >= GOAL_RATIO and metrics["pitbox_x_realtime"] >= GOAL_REALTIME
    print(
        f"pyirsdk IBT.get loop: {base_s * 1e3:.1f} ms ({metrics['baseline_x_realtime']}x real time)\n"
        f"pitbox read+decode+laps: p50 {fast_s * 1e3:.2f} ms, p90 {metrics['pitbox_s_p90'] * 1e3:.2f} ms "
        f"({metrics['pitbox_x_realtime']}x real time, {metrics['ratio_vs_irsdk_loop']}x the loop)\n"
        f"with session YAML: p50 {full_s * 1e3:.2f} ms ({metrics['pitbox_with_session_yaml_x_realtime']}x real time)"
    )
    report("replay", metrics, goals, met)
    return 0


if __name__ == "__main__":
    sys.exit(main())
