"""Segments and clips reach the relay's dashboard site over pinned HTTPS; failures retry or stop, files stay.

The relay is the real one (`tests.support.relay_video.video_rig`: TLS, dashboard site, video store);
a few failure modes the relay never shows on purpose (503 twice) come from a small aiohttp server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from driver_app.video.uploader import JobKind, UploadJob, VideoUploader
from relay.tls import ensure_certificate, server_ssl_context
from tests.support.relay_video import h264_fmp4, video_rig

pytestmark = pytest.mark.integration
TIMEOUT_S = 20.0


def write_clip(folder: Path, name: str) -> tuple[Path, Path]:
    video = folder / f"{name}.mp4"
    video.write_bytes(h264_fmp4(1.0, width=320, height=180))
    telemetry = folder / f"{name}.telemetry.json"
    telemetry.write_text(json.dumps({"format": "pitbox-telemetry-window", "version": 1, "clip_id": name}))
    return video, telemetry


async def until(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not done():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running(uploader: VideoUploader) -> AsyncIterator[VideoUploader]:
    task = asyncio.create_task(uploader.run())
    try:
        yield uploader
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_segment_and_a_clip_with_its_telemetry_are_stored_by_the_relay(tmp_path: Path) -> None:
    segment_path = tmp_path / "seg-a-00001.mp4"
    segment_path.write_bytes(h264_fmp4(1.0, width=320, height=180))
    clip_path, telemetry_path = write_clip(tmp_path, "clip-20240501-203011-abc123")
    outcomes: list[tuple[str, bool]] = []

    async def scenario() -> None:
        async with video_rig(tmp_path / "relay") as rig:
            uploader = VideoUploader(
                rig.base,
                rig.tokens["driver"],
                car_id=lambda: 1,
                fingerprint_sha256=rig.fingerprint,
                on_done=lambda job, ok: outcomes.append((job.segment_id, ok)),
            )
            async with running(uploader):
                uploader.submit(UploadJob(JobKind.SEGMENT, segment_path.stem, segment_path, 100.0, 104.0))
                uploader.submit(
                    UploadJob(JobKind.CLIP, clip_path.stem, clip_path, 90.0, 110.5, telemetry_path=telemetry_path)
                )
                assert await uploader.wait_idle(TIMEOUT_S)
            items = {item["segment_id"]: item for item in await rig.listing(1)}
            assert items[segment_path.stem]["kind"] == "segment"
            assert items[clip_path.stem]["kind"] == "clip"
            assert items[clip_path.stem]["start_s"] == pytest.approx(90.0)
            assert items[clip_path.stem]["end_s"] == pytest.approx(110.5)
            status, _, body = await rig.get(f"/api/cars/1/video/{clip_path.stem}/telemetry", "viewer")
            assert status == 200 and json.loads(body)["clip_id"] == clip_path.stem
            status, _, body = await rig.get(f"/api/cars/1/video/{segment_path.stem}", "viewer")
            assert status == 200 and body == segment_path.read_bytes()

    asyncio.run(scenario())
    assert sorted(outcomes) == [(clip_path.stem, True), (segment_path.stem, True)]
    assert segment_path.exists() and clip_path.exists()  # uploading never removes the local files


def test_a_refused_upload_is_not_retried_and_keeps_its_file(tmp_path: Path) -> None:
    clip_path, telemetry_path = write_clip(tmp_path, "clip-wrong-car")
    outcomes: list[bool] = []

    async def scenario() -> None:
        async with video_rig(tmp_path / "relay") as rig:
            uploader = VideoUploader(
                rig.base,
                rig.tokens["driver"],
                car_id=lambda: 2,  # another driver's car
                fingerprint_sha256=rig.fingerprint,
                retry_initial_s=0.01,
                on_done=lambda job, ok: outcomes.append(ok),
            )
            async with running(uploader):
                uploader.submit(UploadJob(JobKind.CLIP, clip_path.stem, clip_path, 1.0, 2.0, telemetry_path))
                assert await uploader.wait_idle(TIMEOUT_S)
            assert uploader.stats.retries == 0 and "403" in uploader.stats.last_error
            assert await rig.listing(2) == []

    asyncio.run(scenario())
    assert outcomes == [False] and clip_path.exists() and telemetry_path.exists()


def test_a_relay_with_another_certificate_gets_nothing(tmp_path: Path) -> None:
    clip_path, _ = write_clip(tmp_path, "clip-pinned")
    outcomes: list[bool] = []

    async def scenario() -> None:
        async with video_rig(tmp_path / "relay") as rig:
            uploader = VideoUploader(
                rig.base,
                rig.tokens["driver"],
                car_id=lambda: 1,
                fingerprint_sha256="ab" * 32,
                on_done=lambda job, ok: outcomes.append(ok),
            )
            async with running(uploader):
                uploader.submit(UploadJob(JobKind.CLIP, clip_path.stem, clip_path, 1.0, 2.0))
                assert await uploader.wait_idle(TIMEOUT_S)
                assert not uploader.submit(UploadJob(JobKind.CLIP, clip_path.stem, clip_path, 1.0, 2.0))
            assert "does not match" in uploader.stats.last_error
            assert await rig.listing(1) == []

    asyncio.run(scenario())
    assert outcomes == [False] and clip_path.exists()


def test_an_unavailable_relay_is_retried_until_it_takes_the_upload(tmp_path: Path) -> None:
    segment_path = tmp_path / "seg-retry-00001.mp4"
    segment_path.write_bytes(b"\0\0\0\x18ftypiso5" + bytes(100))
    certificate = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    answers = [503, 503, 201]
    seen: list[dict[str, str]] = []

    async def put(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.path,
                "auth": request.headers.get("Authorization", ""),
                "type": request.headers.get("Content-Type", ""),
                **request.query,
                "bytes": str(len(await request.read())),
            }
        )
        status = answers.pop(0)
        return web.json_response({"segment_id": "x", "url": "/x", "bytes": 1}, status=status)

    async def scenario() -> VideoUploader:
        app = web.Application()
        app.router.add_put("/api/cars/{car}/video/{segment}", put)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(certificate))
        await site.start()
        port = runner.addresses[0][1]
        try:
            car: list[int | None] = [None]  # not signed in to the relay yet
            uploader = VideoUploader(
                f"https://127.0.0.1:{port}",
                "secret",
                car_id=lambda: car[0],
                fingerprint_sha256=certificate.fingerprint_sha256,
                retry_initial_s=0.01,
            )
            async with running(uploader):
                uploader.submit(UploadJob(JobKind.SEGMENT, segment_path.stem, segment_path, 12.5, 16.5))
                await asyncio.sleep(0.2)
                assert seen == []  # waits for the car id
                car[0] = 3
                assert await uploader.wait_idle(TIMEOUT_S)
            return uploader
        finally:
            await runner.cleanup()

    uploader = asyncio.run(scenario())
    assert uploader.stats.uploaded == 1 and uploader.stats.retries == 2
    assert len(seen) == 3
    assert seen[-1] == {
        "path": f"/api/cars/3/video/{segment_path.stem}",
        "auth": "Bearer secret",
        "type": "video/mp4",
        "kind": "segment",
        "start_s": "12.500",
        "end_s": "16.500",
        "bytes": str(segment_path.stat().st_size),
    }


def test_a_live_segment_that_cannot_be_delivered_in_time_is_dropped(tmp_path: Path) -> None:
    segment_path = tmp_path / "seg-late-00001.mp4"
    segment_path.write_bytes(b"\0\0\0\x18ftypiso5")
    outcomes: list[bool] = []
    now = [1000.0]

    async def scenario() -> None:
        uploader = VideoUploader(
            "http://127.0.0.1:9",  # nothing listens: every try fails
            "t",
            car_id=lambda: 1,
            retry_initial_s=0.01,
            retry_max_s=0.02,
            segment_max_age_s=60.0,
            clock=lambda: now[0],
            on_done=lambda job, ok: outcomes.append(ok),
        )
        async with running(uploader):
            uploader.submit(UploadJob(JobKind.SEGMENT, segment_path.stem, segment_path, 1.0, 2.0))
            await until(lambda: uploader.stats.retries >= 2)
            now[0] += 61.0
            await until(lambda: bool(outcomes))
        assert uploader.stats.dropped == 1

    asyncio.run(scenario())
    assert outcomes == [False] and segment_path.exists()
