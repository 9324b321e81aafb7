"""The pipeline's side of video: switching it on and off, what it feeds the recorder, and what asks for clips.

The recorder is replaced by a stand-in that records the calls (the real one is exercised under an
X server in tests/integration/driver_app/video); the pipeline runs the demo sim as fast as it goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coaching.copilot import IncidentEvent
from driver_app.pipeline import ClipRequested, ClipSaved, Pipeline, PipelineConfig, PipelineEvent, VideoStatus
from driver_app.video import recorder as recorder_module
from driver_app.video.clips import Clip
from driver_app.video.config import VideoConfig
from driver_app.video.errors import CaptureError
from driver_app.video.recorder import ClipSaved as RecorderClipSaved
from driver_app.video.recorder import VideoProblem
from driver_app.voice.commands import Command


class FakeRecorder:
    instances: list[FakeRecorder] = []
    fail_with: Exception | None = None

    def __init__(self, config: VideoConfig, **parts: Any) -> None:
        self.config = config
        self.parts = parts
        self.telemetry = parts["telemetry"]
        self.on_event: Any = None
        self.running = False
        self.stopped = False
        self.notes: list[float] = []
        self.clips: list[tuple[str, float | None, str]] = []
        self.replay = None
        FakeRecorder.instances.append(self)

    def start(self) -> None:
        if FakeRecorder.fail_with is not None:
            raise FakeRecorder.fail_with
        self.running = True

    def stop(self) -> None:
        self.running = False
        self.stopped = True

    def note_time(self, session_s: float) -> None:
        self.notes.append(session_s)

    def request_clip(self, source: str, *, at_s: float | None = None, detail: str = "") -> str:
        self.clips.append((source, at_s, detail))
        return f"clip-{len(self.clips)}"


@pytest.fixture
def fake_recorder(monkeypatch: pytest.MonkeyPatch) -> type[FakeRecorder]:
    FakeRecorder.instances = []
    FakeRecorder.fail_with = None
    monkeypatch.setattr(recorder_module, "VideoRecorder", FakeRecorder)
    return FakeRecorder


VIDEO = VideoConfig()


def make_pipeline(events: list[PipelineEvent], video: VideoConfig | None = VIDEO) -> Pipeline:
    config = PipelineConfig(adapter="demo", adapter_options={"speed": None, "seed": 1, "laps": 2}, video=video)
    return Pipeline(config, events.append)


def test_video_on_starts_a_recorder_fed_with_session_times_and_telemetry(fake_recorder: type[FakeRecorder]) -> None:
    events: list[PipelineEvent] = []
    pipeline = make_pipeline(events)
    pipeline.set_video(True)
    (recorder,) = fake_recorder.instances
    assert pipeline.video_enabled and recorder.running
    for _ in range(3):
        pipeline.step()
    assert recorder.notes and recorder.notes[-1] == pytest.approx(pipeline.copilot_time())
    assert recorder.telemetry.newest_s() == pytest.approx(pipeline.copilot_time())
    assert len(recorder.telemetry) == pipeline.stats.frames_produced
    pipeline.set_video(False)
    assert not pipeline.video_enabled and pipeline.video is None
    assert [e.recording for e in events if isinstance(e, VideoStatus)] == [True, False]


def test_a_recorder_that_cannot_start_leaves_video_off(fake_recorder: type[FakeRecorder]) -> None:
    fake_recorder.fail_with = CaptureError("no visible window titled 'iRacing'")
    pipeline = make_pipeline([])
    with pytest.raises(CaptureError):
        pipeline.set_video(True)
    assert not pipeline.video_enabled and pipeline.video is None


def test_without_a_video_configuration_the_switch_is_only_remembered(fake_recorder: type[FakeRecorder]) -> None:
    pipeline = make_pipeline([], video=None)
    pipeline.set_video(True)
    assert pipeline.video_enabled and pipeline.video is None and fake_recorder.instances == []
    assert pipeline.save_clip("menu") is None


def test_incidents_from_coaching_ask_for_clips_at_their_moment(
    fake_recorder: type[FakeRecorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline([])
    pipeline.set_video(True)
    pipeline.step()
    incidents = [
        IncidentEvent("spin", 12.5, 2, 800.0, None, "spin"),
        IncidentEvent("off_track", 14.0, 2, 900.0, None, ""),
    ]
    monkeypatch.setattr(pipeline.copilot, "drain_incidents", lambda: incidents)
    pipeline.step()
    assert fake_recorder.instances[0].clips == [("incident:spin", 12.5, "spin"), ("incident:off_track", 14.0, "")]


def test_clip_that_and_the_menu_ask_for_a_clip_of_now(fake_recorder: type[FakeRecorder]) -> None:
    events: list[PipelineEvent] = []
    pipeline = make_pipeline(events)
    pipeline.set_video(True)
    pipeline.step()
    reply = pipeline.handle_command(Command("clip_that"), heard="clip that")
    assert reply.text == "Clipped."
    assert pipeline.save_clip("menu") == "clip-2"
    now = pipeline.copilot_time()
    assert fake_recorder.instances[0].clips == [("voice", now, ""), ("menu", now, "")]
    assert [(e.source, e.at_s) for e in events if isinstance(e, ClipRequested)] == [("voice", now), ("menu", now)]


def test_clip_that_while_video_is_off_says_so(fake_recorder: type[FakeRecorder]) -> None:
    events: list[PipelineEvent] = []
    pipeline = make_pipeline(events)
    pipeline.handle_command(Command("clip_that"), heard="clip that")
    handled = [e for e in events if type(e).__name__ == "VoiceCommandHandled"]
    assert handled[-1].reply == "That did not work: video is off"  # type: ignore[union-attr]


def test_recorder_events_become_pipeline_events(fake_recorder: type[FakeRecorder], tmp_path: Path) -> None:
    events: list[PipelineEvent] = []
    pipeline = make_pipeline(events)
    pipeline.set_video(True)
    recorder = fake_recorder.instances[0]
    clip = Clip(
        "clip-1",
        tmp_path / "clip-1.mp4",
        tmp_path / "clip-1.telemetry.json",
        1,
        1,
        1.0,
        21.0,
        11.0,
        "menu",
        1280,
        720,
        True,
    )
    recorder.on_event(RecorderClipSaved(clip))  # before the loop runs: handled at once
    saved = [e for e in events if isinstance(e, ClipSaved)]
    assert saved == [ClipSaved("clip-1", clip.path, clip.telemetry_path, 1.0, 21.0, "menu", True)]
    recorder.on_event(VideoProblem("Video capture stopped: the window closed", stopped=True))
    assert not pipeline.video_enabled and pipeline.video is None
    assert events[-1] == VideoStatus(False, "Video capture stopped: the window closed")


def test_the_telemetry_ring_holds_what_the_pipeline_read(fake_recorder: type[FakeRecorder]) -> None:
    pipeline = make_pipeline([])
    pipeline.set_video(True)
    for _ in range(5):
        pipeline.step()
    ring = fake_recorder.instances[0].telemetry
    window = ring.window(0.0, pipeline.copilot_time())
    assert len(window) == pipeline.stats.frames_produced
    assert np.all(np.diff(window["session_time_s"]) > 0)
