"""The replay buffer keeps the last minute of segments, lets users pin them, and never exceeds its disk budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driver_app.video.replay_buffer import ReplayBuffer, Segment


def segment(folder: Path, index: int, *, seconds: float = 4.0, size: int = 1000) -> Segment:
    path = folder / f"seg-{index:03d}.mp4"
    path.write_bytes(b"x" * size)
    times = index * seconds + np.arange(int(seconds * 30)) / 30
    return Segment(path.stem, path, size, times, times + 500.0, 1280, 720, 30, "libx264")


def test_segments_older_than_the_window_are_deleted(tmp_path: Path) -> None:
    buffer = ReplayBuffer(tmp_path, keep_s=60.0, max_bytes=10**9)
    buffer.prepare()
    segments = [segment(tmp_path, i) for i in range(20)]  # 80 s
    for s in segments:
        buffer.add(s)
    kept = buffer.segments()
    assert [s.segment_id for s in kept] == [s.segment_id for s in segments[4:]]
    assert not segments[3].path.exists() and segments[4].path.exists()
    assert buffer.newest() == segments[-1]


def test_a_pinned_segment_outlives_the_window_until_unpinned(tmp_path: Path) -> None:
    buffer = ReplayBuffer(tmp_path, keep_s=8.0, max_bytes=10**9)
    buffer.add(first := segment(tmp_path, 0))
    assert buffer.pin([first.segment_id, "seg-unknown"]) == [first.segment_id]
    for i in range(1, 6):
        buffer.add(segment(tmp_path, i))
    assert buffer.get(first.segment_id) is not None and first.path.exists()
    buffer.unpin([first.segment_id])
    assert buffer.get(first.segment_id) is None and not first.path.exists()


def test_the_byte_budget_wins_over_pins(tmp_path: Path) -> None:
    buffer = ReplayBuffer(tmp_path, keep_s=600.0, max_bytes=2500)
    buffer.add(first := segment(tmp_path, 0))
    buffer.pin([first.segment_id])
    buffer.add(second := segment(tmp_path, 1))
    buffer.add(segment(tmp_path, 2))  # 3000 bytes: the unpinned oldest goes first
    assert buffer.get(second.segment_id) is None and buffer.get(first.segment_id) is not None
    buffer.add(segment(tmp_path, 3, size=2000))  # over even with the pinned one alone: it goes too
    assert buffer.get(first.segment_id) is None and not first.path.exists()
    assert buffer.total_bytes <= 2500 and buffer.deleted_pinned == 1


def test_covering_finds_the_segments_of_a_window_and_clear_deletes_everything(tmp_path: Path) -> None:
    buffer = ReplayBuffer(tmp_path)
    for i in range(5):
        buffer.add(segment(tmp_path, i))
    assert [s.segment_id for s in buffer.covering(5.0, 9.0)] == ["seg-001", "seg-002"]
    assert buffer.covering(100.0, 110.0) == []
    first = buffer.segments()[0]
    assert first.start_s == 500.0 and first.end_s == 504.0  # session time: the telemetry's clock
    buffer.clear()
    assert len(buffer) == 0 and list(tmp_path.glob("*.mp4")) == []


def test_prepare_removes_segments_left_by_a_crash(tmp_path: Path) -> None:
    (tmp_path / "seg-old.mp4").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("not a segment")
    ReplayBuffer(tmp_path).prepare()
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
