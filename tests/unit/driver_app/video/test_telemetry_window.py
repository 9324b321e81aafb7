"""The telemetry kept for clips: a bounded ring of frames, and the JSON window saved beside a clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.model import CHANNELS, empty_frames
from driver_app.video.telemetry_window import (
    FORMAT,
    TelemetryRing,
    frames_from_document,
    window_document,
)


def frames_at(times: np.ndarray) -> np.ndarray:
    frames = empty_frames(len(times))
    frames["session_time_s"] = times
    frames["speed_mps"] = 30.0 + np.arange(len(times)) * 0.01234
    frames["gear"] = 3
    frames["throttle"] = 0.5
    frames["tyre_temp_c"] = [80.04, 81.0, 82.0, 83.0]
    return frames


def test_the_ring_keeps_the_newest_frames_and_cuts_a_window_by_session_time() -> None:
    ring = TelemetryRing(capacity=600)
    times = np.arange(0, 20, 1 / 60)  # 1200 frames: wraps twice
    for start in range(0, len(times), 7):
        ring.extend(frames_at(times[start : start + 7]))
    assert len(ring) == 600
    assert ring.newest_s() == pytest.approx(times[-1])
    window = ring.window(12.0, 15.0)
    assert window["session_time_s"][0] == pytest.approx(12.0, abs=1 / 60)
    assert window["session_time_s"][-1] == pytest.approx(15.0, abs=1 / 60)
    assert np.all(np.diff(window["session_time_s"]) > 0)
    assert len(ring.window(0.0, 9.0)) == 0  # already overwritten


def test_after_a_session_restart_only_the_new_session_is_windowed() -> None:
    ring = TelemetryRing(capacity=1000)
    ring.extend(frames_at(np.arange(100.0, 105.0, 0.1)))
    ring.extend(frames_at(np.arange(0.0, 3.0, 0.1)))  # the sim restarted its session clock
    window = ring.window(0.0, 200.0)
    assert window["session_time_s"][0] == pytest.approx(0.0) and window["session_time_s"][-1] < 3.0


def test_the_window_document_carries_every_channel_with_units_and_the_video_frame_times() -> None:
    frames = frames_at(np.arange(10.0, 12.0, 1 / 60))
    frames["brake"][:5] = np.nan  # not provided by this sim
    data = window_document(
        frames,
        clip_id="clip-x",
        start_s=10.0,
        end_s=12.0,
        event_s=11.0,
        events=[{"at_s": 11.0, "source": "voice", "detail": ""}],
        car_id=7,
        video={"file": "clip-x.mp4", "frame_session_time_s": [10.0, 10.033]},
    )
    document = json.loads(data)  # strict JSON: no NaN
    assert document["format"] == FORMAT and document["version"] == 1
    assert [c["name"] for c in document["channels"]] == [c.name for c in CHANNELS]
    speed = next(c for c in document["channels"] if c["name"] == "speed_mps")
    assert speed["unit"] == "m/s" and speed["kind"] == "continuous" and speed["shape"] == []
    columns = document["frames"]
    assert columns["count"] == len(frames) and columns["stride"] == 1
    assert columns["brake"][:5] == [None] * 5
    assert columns["speed_mps"][1] == pytest.approx(30.01, abs=0.005)  # rounded to the channel's precision
    assert columns["tyre_temp_c"][0] == [80.0, 81.0, 82.0, 83.0]
    assert document["window"] == {"start_s": 10.0, "end_s": 12.0, "event_s": 11.0}
    assert document["video"]["frame_session_time_s"] == [10.0, 10.033]
    assert document["car_id"] == 7 and document["events"][0]["source"] == "voice"

    back = frames_from_document(document)
    assert back["session_time_s"] == pytest.approx(frames["session_time_s"], abs=1e-3)
    assert np.isnan(back["brake"][:5]).all()


def test_a_window_too_large_for_the_relay_keeps_every_nth_frame() -> None:
    frames = frames_at(np.arange(0.0, 60.0, 1 / 60))
    data = window_document(frames, clip_id="c", start_s=0.0, end_s=60.0, event_s=30.0, max_bytes=400_000)
    document = json.loads(data)
    assert len(data) <= 400_000
    assert document["frames"]["stride"] > 1
    assert document["frames"]["count"] == len(frames[:: document["frames"]["stride"]])
