"""Clips cut from the replay buffer: the frames of the window, the overlay, and the telemetry beside them."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from adapters.model import empty_frames
from driver_app.video.clips import ClipEvent, ClipRequest, build_clip
from driver_app.video.clockmap import ClockMap
from driver_app.video.encoder import SegmentWriter, select_encoder
from driver_app.video.errors import ClipError
from driver_app.video.overlay import OverlayValues, draw_overlay, gear_text
from driver_app.video.replay_buffer import Segment
from tests.support.video_pattern import read_stamp, stamp_picture

FPS = 30
SESSION_OFFSET_S = 1000.0


def make_segments(folder: Path, seconds: int = 6, per_segment: int = 2) -> list[Segment]:
    """Segments of stamped frames: frame i is captured at i / FPS and shows stamp i."""
    encoder = select_encoder("auto")
    clock = clock_map()
    folder.mkdir(parents=True)
    segments = []
    for first in range(0, seconds * FPS, per_segment * FPS):
        path = folder / f"seg-{first:05d}.mp4"
        writer = SegmentWriter(path, encoder, 640, 360, FPS)
        for i in range(first, first + per_segment * FPS):
            writer.add(stamp_picture(i, 640, 360), i / FPS)
        written = writer.close()
        times = written.frame_times_s
        segments.append(
            Segment(path.stem, path, written.bytes, times, clock.to_session_array(times), 640, 360, FPS, "libx264")
        )
    return segments


def telemetry(seconds: float) -> np.ndarray:
    frames = empty_frames(int(seconds * 60))
    frames["session_time_s"] = SESSION_OFFSET_S + np.arange(len(frames)) / 60
    frames["speed_mps"] = 50.0
    frames["gear"] = 4
    frames["throttle"] = 1.0
    frames["brake"] = 0.0
    frames["clutch"] = 0.0
    frames["steering_angle_rad"] = 0.3
    frames["lap"] = 2
    return frames


def clock_map() -> ClockMap:
    clock = ClockMap(min_interval_s=0.0)
    clock.add(0.0, SESSION_OFFSET_S)
    return clock


def decoded_stamps(path: Path) -> list[int | None]:
    with av.open(str(path)) as container:
        return [read_stamp(frame.to_ndarray(format="bgr24")) for frame in container.decode(video=0)]


def test_a_clip_holds_exactly_the_frames_of_its_window_with_the_matching_telemetry(tmp_path: Path) -> None:
    segments = make_segments(tmp_path / "replay")
    request = ClipRequest("clip-test", at_mono_s=3.0, before_s=1.0, after_s=1.5, events=(ClipEvent(1003.0, "voice"),))
    window = telemetry(6.0)
    window = window[(window["session_time_s"] >= 1002.0) & (window["session_time_s"] <= 1004.5)]
    clip = build_clip(request, segments, window, clock_map(), tmp_path / "clips", select_encoder(), overlay=False)
    assert decoded_stamps(clip.path) == list(range(60, 136))  # 2.0 s .. 4.5 s, across two segments
    assert clip.complete and clip.frames == 76 and clip.source == "voice"
    assert clip.start_s == pytest.approx(1002.0) and clip.end_s == pytest.approx(1004.5 + 1 / FPS)
    assert clip.event_s == pytest.approx(1003.0)
    document = json.loads(clip.telemetry_path.read_text())
    assert document["clip_id"] == "clip-test" and document["window"]["event_s"] == pytest.approx(1003.0)
    times = document["frames"]["session_time_s"]
    assert times[0] == pytest.approx(1002.0) and times[-1] == pytest.approx(1004.5, abs=1 / 60)
    video_times = document["video"]["frame_session_time_s"]
    assert len(video_times) == 76 and video_times[0] == pytest.approx(1002.0, abs=1e-3)
    assert document["events"] == [{"at_s": 1003.0, "source": "voice", "detail": ""}]
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == [
        "clip-test.mp4",
        "clip-test.telemetry.json",
    ]


def test_the_overlay_is_burned_into_the_clip_only_where_its_panel_is(tmp_path: Path) -> None:
    segments = make_segments(tmp_path / "replay", seconds=2)
    request = ClipRequest("clip-overlay", at_mono_s=1.0, before_s=0.5, after_s=0.5)
    plain = build_clip(request, segments, telemetry(2.0), clock_map(), tmp_path / "a", select_encoder(), overlay=False)
    drawn = build_clip(request, segments, telemetry(2.0), clock_map(), tmp_path / "b", select_encoder(), overlay=True)
    with av.open(str(plain.path)) as a, av.open(str(drawn.path)) as b:
        first_a = next(a.decode(video=0)).to_ndarray(format="bgr24").astype(int)
        first_b = next(b.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    panel = np.abs(first_a[:80, :200] - first_b[:80, :200]).mean()
    rest = np.abs(first_a[200:, 300:] - first_b[200:, 300:]).mean()
    assert panel > 20 and rest < 3
    assert decoded_stamps(drawn.path) == list(range(15, 46))  # the stamp blocks are not covered


def test_a_moment_that_left_the_replay_buffer_gives_no_clip_and_no_file(tmp_path: Path) -> None:
    segments = make_segments(tmp_path / "replay", seconds=2)
    request = ClipRequest("clip-late", at_mono_s=100.0)
    with pytest.raises(ClipError):
        build_clip(request, segments, telemetry(1.0), clock_map(), tmp_path / "clips", select_encoder())
    with pytest.raises(ClipError):
        build_clip(request, [], telemetry(1.0), clock_map(), tmp_path / "clips", select_encoder())
    assert list((tmp_path / "clips").iterdir()) == []


def test_overlay_values_hold_the_sample_in_effect_and_survive_missing_channels() -> None:
    frames = telemetry(1.0)
    assert OverlayValues.at(frames, SESSION_OFFSET_S - 1) is None
    values = OverlayValues.at(frames, SESSION_OFFSET_S + 0.51)
    assert values is not None and values.session_time_s == pytest.approx(SESSION_OFFSET_S + 0.5)
    assert [gear_text(g) for g in (-1, 0, 5)] == ["R", "N", "5"]
    picture = np.zeros((360, 640, 3), dtype=np.uint8)
    nan = float("nan")
    draw_overlay(picture, OverlayValues(nan, 0, nan, nan, nan, nan, -1, nan))  # a sim that gives none
    assert picture[:80, :200].any() and not picture[200:].any()
