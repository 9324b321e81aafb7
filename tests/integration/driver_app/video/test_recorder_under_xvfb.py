"""The recorder on a real X server: a window found by its title, clips from incidents and from the driver,
clips the relay never got offered again, and a target that is not there."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from driver_app.video.config import VideoConfig
from driver_app.video.errors import CaptureError
from driver_app.video.recorder import UPLOADED_SUFFIX, ClipSaved, VideoRecorder
from driver_app.video.uploader import JobKind
from tests.support.polling import wait_for
from tests.support.video_pattern import SegmentCopies, read_stamp, start_pattern, stop_pattern

pytestmark = pytest.mark.integration

TITLE = "PitBox recorder test"


@pytest.fixture
def pattern(x_display: str) -> Iterator[float]:
    """The test pattern at 200,150 (640x360); yields the stamp's zero on the monotonic clock."""
    t0 = time.monotonic()
    process = start_pattern(t0, title=TITLE, geometry=(200, 150, 640, 360))
    try:
        yield t0
    finally:
        stop_pattern(process)


def recorder(tmp_path: Path, handover: SegmentCopies | None = None, events: list[Any] | None = None) -> VideoRecorder:
    config = VideoConfig(
        target=f"window:{TITLE}", segment_s=1.0, clip_before_s=1.0, clip_after_s=1.0, folder=tmp_path / "video"
    )
    return VideoRecorder(
        config,
        uploader=handover,  # type: ignore[arg-type]
        on_event=None if events is None else events.append,
    )


def capture_frames(video: VideoRecorder, count: int, timeout_s: float = 30.0) -> None:
    """Wait until `count` more frames are captured. Capture is paced at 30 fps at most, so they span
    at least (count - 1) / 30 s of video however busy the machine is (a fixed sleep is not enough
    when a loaded machine stalls the capture for a moment)."""
    target = video.stats.frames_captured + count
    wait_for(lambda: video.stats.frames_captured >= target, f"{count} more frames", timeout_s, every_s=0.02)


def test_a_window_is_found_by_its_title_and_captured_where_it_is(tmp_path: Path, pattern: float) -> None:
    handover = SegmentCopies(tmp_path / "segments")
    video = recorder(tmp_path, handover)
    video.start()
    assert video.capture is not None and video.capture.region is not None
    region = video.capture.region
    assert (region.left, region.top, region.width, region.height) == (200, 150, 640, 360)
    capture_frames(video, 75)  # more than two 1 s segments
    video.stop()
    segments = [j for j in handover.jobs if j.kind is JobKind.SEGMENT]
    assert len(segments) >= 2
    with av.open(str(handover.folder / segments[0].path.name)) as container:
        frames = list(container.decode(video=0))
    assert (frames[0].width, frames[0].height) == (640, 360)  # smaller than 720p: not scaled up
    stamps = [read_stamp(f.to_ndarray(format="gray")) for f in frames]
    assert all(s is not None for s in stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
    assert not list((tmp_path / "video" / "replay").iterdir())  # the replay buffer is gone after stop


def test_incidents_close_together_share_a_clip_and_the_drivers_request_gets_its_own(
    tmp_path: Path, pattern: float
) -> None:
    events: list[Any] = []
    video = recorder(tmp_path, events=events)
    video.start()
    capture_frames(video, 40)  # more than the 1 s before the clip
    spin = video.request_clip("incident:spin", detail="spin")
    time.sleep(0.3)
    assert video.request_clip("incident:off_track", detail="off track") == spin
    mine = video.request_clip("voice")
    assert mine != spin
    capture_frames(video, 45)  # more than the 1 s after it
    video.stop()
    saved = {e.clip.clip_id: e.clip for e in events if isinstance(e, ClipSaved)}
    assert set(saved) == {spin, mine}
    document = json.loads(saved[spin].telemetry_path.read_text())
    assert [e["source"] for e in document["events"]] == ["incident:spin", "incident:off_track"]
    assert saved[mine].complete and saved[mine].frames >= 55  # 2 s at 30 fps


def test_clips_the_relay_never_got_are_offered_again_at_the_next_start(tmp_path: Path, pattern: float) -> None:
    first = recorder(tmp_path, events=(events := []))
    first.start()
    capture_frames(first, 40)
    first.request_clip("menu")
    capture_frames(first, 45)
    first.stop()
    (clip,) = [e.clip for e in events if isinstance(e, ClipSaved)]
    handover = SegmentCopies(tmp_path / "handover")
    second = recorder(tmp_path, handover)
    second.start()
    second.stop()
    offered = [j for j in handover.jobs if j.kind is JobKind.CLIP]
    assert [j.segment_id for j in offered] == [clip.clip_id]
    assert offered[0].telemetry_path == clip.telemetry_path
    assert offered[0].start_s == pytest.approx(clip.start_s, abs=1e-3)
    second.upload_done(offered[0], True)
    assert clip.path.with_name(clip.clip_id + UPLOADED_SUFFIX).exists()
    third = recorder(tmp_path, SegmentCopies(tmp_path / "third"))
    third.start()
    third.stop()
    assert [j for j in third.uploader.jobs if j.kind is JobKind.CLIP] == []  # type: ignore[union-attr]


def test_a_window_that_is_not_there_cannot_be_recorded(tmp_path: Path, x_display: str) -> None:
    video = VideoRecorder(VideoConfig(target="window:No such window anywhere", folder=tmp_path))
    with pytest.raises(CaptureError, match="No such window"):
        video.start()
    assert not video.running
