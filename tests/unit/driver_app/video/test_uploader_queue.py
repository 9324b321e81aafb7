"""The uploader's address and its bounded queue: submitting never blocks, live segments give way to clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from driver_app.video.uploader import JobKind, UploadJob, VideoUploader, upload_base_url


@pytest.mark.parametrize(
    ("relay", "port", "expected"),
    [
        ("wss://relay.local:8765", None, "https://relay.local:8766"),
        ("ws://127.0.0.1:9000", None, "http://127.0.0.1:9001"),
        ("wss://[fe80::1]:8765", None, "https://[fe80::1]:8766"),
        ("wss://relay.local:8765", 9443, "https://relay.local:9443"),
    ],
)
def test_uploads_go_to_the_dashboard_site_beside_the_relay(relay: str, port: int | None, expected: str) -> None:
    assert upload_base_url(relay, port) == expected


def test_a_relay_url_without_a_port_is_refused() -> None:
    with pytest.raises(ValueError):
        upload_base_url("https://relay.local")


def job(kind: JobKind, name: str) -> UploadJob:
    return UploadJob(kind, name, Path(f"/videos/{name}.mp4"), 1.0, 5.0)


def test_a_full_queue_drops_the_oldest_segment_and_refuses_a_clip_only_when_full_of_clips() -> None:
    done: list[tuple[str, bool]] = []
    uploader = VideoUploader(
        "https://relay:1", "token", car_id=lambda: 1, max_queue=3, on_done=lambda j, ok: done.append((j.segment_id, ok))
    )
    assert uploader.submit(job(JobKind.SEGMENT, "s1"))
    assert uploader.submit(job(JobKind.CLIP, "c1"))
    assert uploader.submit(job(JobKind.SEGMENT, "s2"))
    assert uploader.submit(job(JobKind.CLIP, "c2"))  # s1 gives way
    assert uploader.submit(job(JobKind.SEGMENT, "s3"))  # s2 gives way
    assert uploader.submit(job(JobKind.CLIP, "c3"))  # s3 gives way
    assert not uploader.submit(job(JobKind.SEGMENT, "s4"))  # nothing older to drop: the new segment goes
    assert not uploader.submit(job(JobKind.CLIP, "c4"))  # full of clips: refused, its file stays
    assert done == [("s1", False), ("s2", False), ("s3", False), ("s4", False)]
    assert uploader.pending == 3 and uploader.stats.dropped == 5
