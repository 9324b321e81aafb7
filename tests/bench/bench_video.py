"""Benchmark: the cost of video at 720p30 (screen capture + H.264 encode), against baselines from the same run.

Run standalone: `python tests/bench/bench_video.py` (about two minutes). It needs an X display of at
least 1280x720; without DISPLAY it runs itself again under `xvfb-run` (1920x1080x24). The captured
window is the test pattern of the capture tests (`tests/support/video_pattern.py`, a child process
painting ~125 times a second), found by its title, 1280x720: no scaling.

1. Baseline, grab alone: mss grabbing the pattern's window at 30 fps on the recorder's own pacing
   loop (`ScreenCapture`, frames thrown away): CPU seconds per second and frames per second.
2. Baseline, encode alone: 150 captured frames of the pattern encoded back to back by the same
   `SegmentWriter` (libx264 ultrafast/zerolatency, fragmented MP4): CPU seconds per second of video
   and the frame rate it could sustain. The same for 150 frames of the busy pattern (every pixel
   moving, as in a sim), and for 150 frames of fresh random noise (the encoder's worst case: no
   picture a sim shows is harder to compress).
3. The recorder (`VideoRecorder`: capture thread, encode thread, 4 s segments to disk, replay
   buffer) for WINDOW_S on the pattern, then BUSY_WINDOW_S on the busy pattern, while the main
   thread runs what the pipeline adds (a 120 Hz asyncio loop feeding the recorder's clock map and
   the telemetry ring at 60 Hz) and records how late each of its wake-ups is. CPU is
   `time.process_time` over wall time (every thread, x264's own included) = share of one core, also
   per second of video. Achieved fps = frames encoded / wall. Dropped frames: the recorder's own
   count (queue full) plus capture slots missed, and, independently, missing frames counted from the
   stamps decoded out of the finished segments (a step of n frame periods between two stamps is n-1
   frames lost). The stamps also count the pattern's own late paints: the busy pattern repaints
   2 MB per paint and, on two cores shared with the capture, sometimes paints late, which shows as
   "missing by the stamps" while the capture's frame intervals stay regular (both are printed). The
   loop lag percentiles are compared with the same loop while nothing records.
4. One clip of 20 s (10 before, 10 after) with the telemetry overlay, built after the recording:
   CPU seconds (the clip thread runs at lower priority; not counted in the goal).

Goal: capture + encode at 720p30 use <= 0.6 of one core on the pattern, with no dropped frames.
Prints the numbers with ratios and percentiles; the last line is one JSON object
`{"bench", "metrics", "goals", "met"}`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import av  # noqa: E402
import numpy as np  # noqa: E402
from benchutil import busy_cores, percentile, report  # noqa: E402

from adapters.model import empty_frames  # noqa: E402
from driver_app.video.capture import CapturedFrame, CaptureTarget, ScreenCapture  # noqa: E402
from driver_app.video.config import VideoConfig  # noqa: E402
from driver_app.video.encoder import SegmentWriter, select_encoder  # noqa: E402
from driver_app.video.presets import preset_for  # noqa: E402
from driver_app.video.recorder import ClipSaved, VideoRecorder  # noqa: E402
from tests.support.video_pattern import TITLE, SegmentCopies, read_stamp, start_pattern, stop_pattern  # noqa: E402

FPS = 30
GRAB_S = 10.0
ENCODE_FRAMES = 150
WINDOW_S = 30.0
BUSY_WINDOW_S = 20.0
IDLE_LOOP_S = 5.0
WARMUP_S = 2.0
GOAL_CORES = 0.6
TARGET = f"window:{TITLE}"


@dataclass
class LoopLag:
    """What the pipeline's loop sees: how late each 120 Hz wake-up is (and it feeds the recorder at 60 Hz)."""

    lags_ms: list[float] = field(default_factory=list)

    async def run(self, seconds: float, recorder: VideoRecorder | None = None, t0: float = 0.0) -> None:
        period = 1 / 120
        end = time.monotonic() + seconds
        tick = 0
        frame = empty_frames(1)
        while time.monotonic() < end:
            before = time.perf_counter()
            await asyncio.sleep(period)
            self.lags_ms.append((time.perf_counter() - before - period) * 1000)
            tick += 1
            if recorder is not None and tick % 2 == 0:
                session_s = time.monotonic() - t0
                recorder.note_time(session_s)
                frame["session_time_s"] = session_s
                frame["speed_mps"] = 40 + 20 * np.sin(session_s / 3)
                frame["gear"] = 3 + int(session_s) % 3
                frame["throttle"] = 0.5 + 0.5 * np.sin(session_s)
                frame["brake"] = max(0.0, -np.sin(session_s))
                frame["steering_angle_rad"] = 0.5 * np.sin(session_s / 2)
                recorder.telemetry.extend(frame)

    def summary(self) -> dict[str, float]:
        return {
            "p50_ms": percentile(self.lags_ms, 0.5),
            "p99_ms": percentile(self.lags_ms, 0.99),
            "max_ms": max(self.lags_ms),
        }


def grab_baseline() -> dict[str, float]:
    """mss alone at 30 fps on the capture's pacing loop."""
    grabbed: list[CapturedFrame] = []
    capture = ScreenCapture(CaptureTarget.parse(TARGET), FPS, lambda f: grabbed.append(f) if not grabbed else None)
    capture.start()
    time.sleep(WARMUP_S / 2)
    cpu0, wall0, n0 = time.process_time(), time.perf_counter(), capture.stats.grabbed
    time.sleep(GRAB_S)
    cpu1, wall1, n1 = time.process_time(), time.perf_counter(), capture.stats.grabbed
    capture.stop()
    wall = wall1 - wall0
    return {
        "cores": (cpu1 - cpu0) / wall,
        "fps": (n1 - n0) / wall,
        "grab_ms": capture.stats.grab_s / max(1, capture.stats.grabbed) * 1000,
        "skipped": capture.stats.skipped,
    }


def sample_frames(count: int) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    capture = ScreenCapture(CaptureTarget.parse(TARGET), FPS, lambda f: frames.append(f.pixels))
    capture.start()
    while len(frames) < count:
        time.sleep(0.05)
    capture.stop()
    return frames[:count]


def encode_baseline(frames: list[np.ndarray], folder: Path, name: str) -> dict[str, float]:
    """The encoder alone, as fast as it goes, on frames already captured."""
    max_bitrate = preset_for("720p", FPS).max_bitrate  # the recorder's rate cap at 720p30
    writer = SegmentWriter(folder / f"{name}.mp4", select_encoder("auto"), 1280, 720, FPS, max_bitrate=max_bitrate)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, pixels in enumerate(frames):
        writer.add(pixels, i / FPS)
    written = writer.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    video_s = len(frames) / FPS
    return {
        "cpu_per_video_s": cpu / video_s,
        "max_fps": len(frames) / wall,
        "mbit_per_s": written.bytes * 8 / video_s / 1e6,
    }


def read_segments(paths: list[Path]) -> tuple[int, int, int, list[float]]:
    """(frames decoded, stamps readable, frames missing by the stamps, frame intervals in ms) over the segments."""
    stamps: list[int] = []
    intervals_ms: list[float] = []
    decoded = 0
    for path in paths:
        pts: list[float] = []
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                decoded += 1
                pts.append(float(frame.pts * frame.time_base))
                stamp = read_stamp(frame.to_ndarray(format="gray"))
                if stamp is not None:
                    stamps.append(stamp)
        intervals_ms.extend(np.diff(pts) * 1000)
    steps = np.diff(stamps)
    missing = int(np.sum(np.maximum(0, np.round(steps / (1000 / FPS)) - 1)))
    return decoded, len(stamps), missing, intervals_ms


async def record(folder: Path, seconds: float, *, clip: bool) -> dict[str, Any]:
    """The recorder for `seconds` under a pipeline-like loop; the numbers of the window."""
    keep = SegmentCopies(folder / "kept")
    events: list[Any] = []
    recorder = VideoRecorder(
        VideoConfig(target=TARGET, resolution="720p", fps=FPS, segment_s=4.0, folder=folder, upload="all"),
        uploader=keep,  # type: ignore[arg-type]
        on_event=events.append,
    )
    t0 = time.monotonic()
    recorder.start()
    warm = LoopLag()
    await warm.run(WARMUP_S, recorder, t0)
    assert recorder.capture is not None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    encoded0, dropped0, skipped0 = recorder.stats.frames_encoded, recorder.stats.dropped, recorder.capture.stats.skipped
    encode_s0 = recorder.stats.encode_s
    loop = LoopLag()
    await loop.run(seconds, recorder, t0)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    encoded1, dropped1, skipped1 = recorder.stats.frames_encoded, recorder.stats.dropped, recorder.capture.stats.skipped
    clip_cpu = None
    if clip:
        recorder.request_clip("bench", at_s=time.monotonic() - t0 - 10.0)
        clip_started = recorder.stats.clip_s
        while not any(isinstance(e, ClipSaved) for e in events):
            await asyncio.sleep(0.1)
        clip_cpu = recorder.stats.clip_s - clip_started
    await asyncio.to_thread(recorder.stop)
    wall = wall1 - wall0
    decoded, readable, missing, intervals_ms = read_segments(keep.paths)
    return {
        "wall_s": wall,
        "cores": (cpu1 - cpu0) / wall,
        "cpu_s_per_video_s": (cpu1 - cpu0) / max(1e-9, (encoded1 - encoded0) / FPS),
        "fps": (encoded1 - encoded0) / wall,
        "dropped": (dropped1 - dropped0) + (skipped1 - skipped0),
        "encode_thread_ms_per_frame": (recorder.stats.encode_s - encode_s0) * 1000 / max(1, encoded1 - encoded0),
        "decoded": decoded,
        "readable": readable,
        "missing_by_stamps": missing,
        "interval_p50_ms": percentile(intervals_ms, 0.5),
        "interval_p99_ms": percentile(intervals_ms, 0.99),
        "interval_max_ms": max(intervals_ms),
        "loop": loop.summary(),
        "clip_cpu_s": clip_cpu,
        "segments": recorder.stats.segments,
    }


def main() -> int:
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            print("bench_video needs an X display (or xvfb-run)", file=sys.stderr)
            return 2
        os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", sys.executable, __file__])
    other = busy_cores()
    folder = Path(tempfile.mkdtemp(prefix="bench-video-"))
    t0 = time.monotonic()
    encoder = select_encoder("auto").name
    try:
        idle = LoopLag()
        asyncio.run(idle.run(IDLE_LOOP_S))
        pattern = start_pattern(t0)
        try:
            grab = grab_baseline()
            still = encode_baseline(sample_frames(ENCODE_FRAMES), folder, "still")
            recorded = asyncio.run(record(folder / "still-run", WINDOW_S, clip=True))
        finally:
            stop_pattern(pattern)
        pattern = start_pattern(t0, busy=True)
        try:
            motion = encode_baseline(sample_frames(ENCODE_FRAMES), folder, "busy")
            rng = np.random.default_rng(0)
            noise = encode_baseline(
                [rng.integers(0, 256, (720, 1280, 4), dtype=np.uint8) for _ in range(ENCODE_FRAMES)], folder, "noise"
            )
            busy = asyncio.run(record(folder / "busy-run", BUSY_WINDOW_S, clip=False))
        finally:
            stop_pattern(pattern)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    idle_lag = idle.summary()
    print(f"video at 720p{FPS}, encoder {encoder}, {os.cpu_count()} cores ({other:.2f} busy with other work at start)")
    print(
        f"baseline grab alone (mss, {GRAB_S:.0f} s): {grab['cores']:.3f} cores, {grab['fps']:.1f} fps, "
        f"{grab['grab_ms']:.2f} ms a grab"
    )
    print(
        f"baseline encode alone, {ENCODE_FRAMES} frames: pattern {still['cpu_per_video_s']:.3f} CPU s per video s "
        f"(could sustain {still['max_fps']:.0f} fps, {still['mbit_per_s']:.2f} Mbit/s); busy pattern "
        f"{motion['cpu_per_video_s']:.3f} ({motion['max_fps']:.0f} fps, {motion['mbit_per_s']:.2f} Mbit/s); "
        f"random noise (worst case) {noise['cpu_per_video_s']:.3f} ({noise['max_fps']:.0f} fps, "
        f"{noise['mbit_per_s']:.2f} Mbit/s)"
    )
    for name, run in (("pattern", recorded), ("busy pattern", busy)):
        print(
            f"recorder on the {name}, {run['wall_s']:.0f} s: {run['cores']:.3f} cores "
            f"({run['cores'] / max(grab['cores'] + still['cpu_per_video_s'], 1e-9):.2f}x grab + encode alone), "
            f"{run['fps']:.2f} fps of {FPS} ({run['fps'] / FPS:.3f}), dropped {run['dropped']}, "
            f"{run['missing_by_stamps']} missing by the stamps ({run['readable']}/{run['decoded']} stamps read), "
            f"encode thread {run['encode_thread_ms_per_frame']:.2f} ms/frame"
        )
        print(
            f"  frame intervals p50 {run['interval_p50_ms']:.1f} ms, p99 {run['interval_p99_ms']:.1f} ms, "
            f"max {run['interval_max_ms']:.1f} ms; 120 Hz loop lag p50 {run['loop']['p50_ms']:.2f} ms, "
            f"p99 {run['loop']['p99_ms']:.2f} ms, max {run['loop']['max_ms']:.2f} ms "
            f"(idle: p50 {idle_lag['p50_ms']:.2f}, p99 {idle_lag['p99_ms']:.2f}, max {idle_lag['max_ms']:.2f})"
        )
    print(f"one 20 s clip with the overlay: {recorded['clip_cpu_s']:.2f} CPU s on the clip thread")

    met = (
        recorded["cores"] <= GOAL_CORES
        and recorded["dropped"] == 0
        and recorded["missing_by_stamps"] == 0
        and recorded["fps"] >= 0.99 * FPS
    )
    report(
        "video",
        {
            "encoder": encoder,
            "capture_encode_cores_720p30": round(recorded["cores"], 3),
            "cpu_s_per_video_s": round(recorded["cpu_s_per_video_s"], 3),
            "achieved_fps": round(recorded["fps"], 2),
            "target_fps": FPS,
            "dropped_frames": recorded["dropped"],
            "missing_frames_by_stamps": recorded["missing_by_stamps"],
            "frame_interval_p99_ms": round(recorded["interval_p99_ms"], 1),
            "loop_lag_p99_ms": round(recorded["loop"]["p99_ms"], 2),
            "loop_lag_idle_p99_ms": round(idle_lag["p99_ms"], 2),
            "baseline_grab_cores": round(grab["cores"], 3),
            "baseline_encode_cpu_s_per_video_s": round(still["cpu_per_video_s"], 3),
            "ratio_to_grab_plus_encode": round(recorded["cores"] / (grab["cores"] + still["cpu_per_video_s"]), 2),
            "busy_capture_encode_cores": round(busy["cores"], 3),
            "busy_achieved_fps": round(busy["fps"], 2),
            "busy_dropped_frames": busy["dropped"],
            "busy_missing_by_stamps": busy["missing_by_stamps"],
            "busy_baseline_encode_cpu_s_per_video_s": round(motion["cpu_per_video_s"], 3),
            "noise_baseline_encode_cpu_s_per_video_s": round(noise["cpu_per_video_s"], 3),
            "clip_20s_overlay_cpu_s": round(recorded["clip_cpu_s"], 2),
        },
        {
            "capture_encode_cores_720p30": f"<= {GOAL_CORES}",
            "dropped_frames": "0 (also by the stamps)",
            "achieved_fps": f">= {0.99 * FPS:.1f}",
        },
        met,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
