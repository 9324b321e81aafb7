"""30 s of real screen capture through the pipeline, read back frame by frame.

Under the X server the suite runs in (`xvfb-run`), a child process shows the test pattern
(`tests.support.video_pattern`): a moving bar and a stamp, the milliseconds of the shared
monotonic clock at each paint (~125 paints a second), as big black/white blocks. The pipeline runs
the demo sim in real time with video on, capturing the pattern's window by its title at 1280x720,
30 fps, in 4 s segments; halfway through, a clip is asked for ("Save clip"). Every segment the
recorder finished is copied as it is handed to the uploader, and the checks read them back:
frame count, timestamps, dropped frames (from the stamps), that every segment decodes on its own,
and that the clip holds its moment and the matching telemetry.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from driver_app.pipeline import ClipSaved, Pipeline, PipelineConfig, PipelineEvent
from driver_app.video.config import VideoConfig
from driver_app.video.uploader import JobKind
from tests.support.video_pattern import TITLE, SegmentCopies, read_stamp, start_pattern, stop_pattern

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAPTURE_S = 30.0
CLIP_AT_S = 15.0
FPS = 30
FRAME_MS = 1000.0 / FPS


@dataclass
class Decoded:
    segment_id: str
    start_s: float
    end_s: float
    pts_s: list[float]
    stamps: list[int | None]
    first_is_keyframe: bool


@dataclass
class Recording:
    t0: float
    started: float
    stopped: float
    clip_asked_mono: float
    clip_asked_s: float
    segments: list[Decoded]
    events: list[PipelineEvent]
    stats: Any
    capture_stats: Any
    clip_document: dict[str, Any] = field(default_factory=dict)
    clip_stamps: list[int | None] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(len(s.pts_s) for s in self.segments)

    @property
    def stamps(self) -> list[int]:
        return [s for segment in self.segments for s in segment.stamps if s is not None]


def decode(path: Path) -> tuple[list[float], list[int | None], bool]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        return (
            [float(f.pts * f.time_base) for f in frames],
            [read_stamp(f.to_ndarray(format="gray")) for f in frames],
            bool(frames and frames[0].key_frame),
        )


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory, x_display: str) -> Recording:
    folder = tmp_path_factory.mktemp("capture")
    t0 = time.monotonic()
    pattern = start_pattern(t0)
    events: list[PipelineEvent] = []
    config = PipelineConfig(
        adapter="demo",
        adapter_options={"speed": 1.0, "seed": 4, "laps": 50},
        video=VideoConfig(target=f"window:{TITLE}", resolution="720p", fps=FPS, segment_s=4.0, folder=folder),
    )
    pipeline = Pipeline(config, events.append)
    uploader = SegmentCopies(folder / "handed-over")
    pipeline.video_uploader = uploader  # type: ignore[assignment]
    marks: dict[str, float] = {}

    async def drive(stop: asyncio.Event) -> None:
        while pipeline.copilot_time() <= 0:  # the sim is running before video starts
            await asyncio.sleep(0.01)
        pipeline.set_video(True)
        marks["started"] = time.monotonic()
        await asyncio.sleep(CLIP_AT_S)
        marks["clip_mono"] = time.monotonic()
        marks["clip_s"] = pipeline.copilot_time()
        assert pipeline.save_clip("test") is not None
        await asyncio.sleep(marks["started"] + CAPTURE_S - time.monotonic())
        marks["stopped"] = time.monotonic()
        marks["stats"] = pipeline.video.stats  # type: ignore[union-attr,assignment]
        marks["capture_stats"] = pipeline.video.capture.stats  # type: ignore[union-attr,assignment]
        stop.set()

    async def main() -> None:
        stop = asyncio.Event()
        driver = asyncio.create_task(drive(stop))
        await asyncio.wait_for(pipeline.run(stop), CAPTURE_S + 60)
        await driver

    try:
        asyncio.run(main())
    finally:
        stop_pattern(pattern)
    segments = []
    for job in uploader.jobs:
        if job.kind is JobKind.SEGMENT:
            pts, stamps, key = decode(uploader.folder / job.path.name)
            segments.append(Decoded(job.segment_id, job.start_s, job.end_s, pts, stamps, key))
    result = Recording(
        t0,
        marks["started"],
        marks["stopped"],
        marks["clip_mono"],
        marks["clip_s"],
        segments,
        events,
        marks["stats"],
        marks["capture_stats"],
    )
    saved = [e for e in events if isinstance(e, ClipSaved)]
    if saved:
        result.clip_document = json.loads(saved[0].telemetry_path.read_text())
        result.clip_stamps = decode(saved[0].path)[1]
    return result


def test_thirty_seconds_at_30_fps_give_the_expected_frame_count(recording: Recording) -> None:
    expected = (recording.stopped - recording.started) * FPS
    assert abs(recording.frames - expected) <= 0.01 * expected, (recording.frames, expected)
    assert recording.stats.dropped == 0  # the encoder kept up with every frame captured


def test_frame_timestamps_increase_across_every_segment(recording: Recording) -> None:
    times = [segment.start_s + pts for segment in recording.segments for pts in segment.pts_s]
    assert np.all(np.diff(times) > 0)
    gaps = np.diff(times)
    assert np.median(gaps) == pytest.approx(1 / FPS, abs=0.002)
    for earlier, later in zip(recording.segments, recording.segments[1:], strict=False):
        assert later.start_s >= earlier.end_s - 1 / FPS


def test_the_stamps_show_at_most_one_percent_of_frames_dropped(recording: Recording) -> None:
    stamps = recording.stamps
    assert len(stamps) >= 0.99 * recording.frames  # every frame but the odd torn one is readable
    steps = np.diff(stamps)
    assert np.all(steps >= 0)  # the picture never goes back in time
    missing = int(np.sum(np.maximum(0, np.round(steps / FRAME_MS) - 1)))
    assert missing <= 0.01 * len(stamps), (missing, np.sort(steps)[-10:])


def test_every_segment_decodes_on_its_own_from_a_keyframe(recording: Recording) -> None:
    assert len(recording.segments) >= CAPTURE_S / 4 - 1
    for segment in recording.segments:
        assert segment.first_is_keyframe and segment.pts_s[0] == 0.0
        assert len(segment.pts_s) >= 4 * FPS - 2 or segment is recording.segments[-1]


def test_the_clip_contains_its_moment_and_the_telemetry_of_its_window(recording: Recording) -> None:
    saved = [e for e in recording.events if isinstance(e, ClipSaved)]
    assert len(saved) == 1 and saved[0].source == "test" and saved[0].complete
    document = recording.clip_document
    frame_times = np.array(document["video"]["frame_session_time_s"])
    assert len(frame_times) == len(recording.clip_stamps)
    at_s = recording.clip_asked_s
    assert frame_times[0] == pytest.approx(at_s - 10.0, abs=0.1)
    assert frame_times[-1] == pytest.approx(at_s + 10.0, abs=0.1)
    # The frame shown at the moment was painted when the clip was asked for (the shared clock).
    moment = int(np.argmin(np.abs(frame_times - at_s)))
    asked_ms = (recording.clip_asked_mono - recording.t0) * 1000.0
    stamp = recording.clip_stamps[moment]
    assert stamp is not None and abs(stamp - asked_ms) <= 100.0, (stamp, asked_ms)
    first, last = recording.clip_stamps[0], recording.clip_stamps[-1]
    assert first is not None and abs(first - (asked_ms - 10_000)) <= 150.0
    assert last is not None and abs(last - (asked_ms + 10_000)) <= 150.0
    # The telemetry beside it covers the same window, at the sim's 60 Hz.
    telemetry = document["frames"]
    times = np.array(telemetry["session_time_s"])
    assert times[0] == pytest.approx(at_s - 10.0, abs=0.05) and times[-1] == pytest.approx(at_s + 10.0, abs=0.05)
    assert telemetry["count"] == pytest.approx(20 * 60, abs=3)
    assert min(v for v in telemetry["speed_mps"] if v is not None) > 1.0  # the demo car is driving
    assert document["window"]["event_s"] == pytest.approx(at_s, abs=0.05)
