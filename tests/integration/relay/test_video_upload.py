"""Video over the dashboard site of a real relay with TLS: a driver uploads a real H.264 fragmented MP4,
the team is told (`video_segment_ready`), lists it, and fetches it by token or signed link with ranges;
every kind of bad upload is refused and leaves nothing behind."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relay.protocol import MessageType
from relay.tls import client_ssl_context
from relay.video_store import MAX_PENDING_TELEMETRY
from tests.support.relay_video import Listener, fake_mp4, h264_fmp4, video_rig

pytestmark = [pytest.mark.integration]


def leftovers(tmp_path: Path) -> list[str]:
    root = tmp_path / "video"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_driver_uploads_a_clip_the_team_is_told_lists_and_plays_it(tmp_path: Path) -> None:
    movie = h264_fmp4(1.0, width=320, height=180)

    async def scenario() -> None:
        async with video_rig(tmp_path) as rig, Listener(rig, "viewer") as viewer:
            status, body = await rig.put_video(1, "clip-0007", movie, kind="clip", start_s=61.5, end_s=91.5)
            assert status == 201, body
            assert body == {"segment_id": "clip-0007", "url": "/api/cars/1/video/clip-0007", "bytes": len(movie)}
            announced = await viewer.next(MessageType.VIDEO_SEGMENT_READY)
            assert announced.data == {
                "car_id": 1,
                "segment_id": "clip-0007",
                "start_s": 61.5,
                "end_s": 91.5,
                "kind": "clip",
                "url": "/api/cars/1/video/clip-0007",
                "bytes": len(movie),
            }
            # Through the spool to the cloud and MQTT sinks, like every other message.
            rig.server.spool.register_sink("probe")  # type: ignore[attr-defined]
            records = rig.server.spool.read("probe", 1000)  # type: ignore[attr-defined]
            assert any(b'"video_segment_ready"' in r.payload and b"clip-0007" in r.payload for r in records)

            (item,) = await rig.listing(1)
            assert item["segment_id"] == "clip-0007" and item["kind"] == "clip" and item["bytes"] == len(movie)
            assert (item["start_s"], item["end_s"], item["telemetry_url"]) == (61.5, 91.5, None)
            assert await rig.listing(2) == []
            play = item["play_url"]
            assert play.startswith("/video/1/clip-0007.mp4?exp=")

            # The signed link needs no token, serves the exact bytes, and seeks (ranges).
            status, headers, data = await rig.get(play)
            assert status == 200 and data == movie and headers["Content-Type"] == "video/mp4"
            assert "media-src 'self'" in headers["Content-Security-Policy"]
            assert headers["Accept-Ranges"] == "bytes"
            status, headers, data = await rig.get(play, headers={"Range": "bytes=100-1099"})
            assert status == 206 and data == movie[100:1100]
            assert headers["Content-Range"] == f"bytes 100-1099/{len(movie)}"
            # The same video by bearer token.
            status, _, data = await rig.get("/api/cars/1/video/clip-0007", "engineer")
            assert status == 200 and data == movie
            status, _, _ = await rig.get("/api/cars/1/video/clip-0007")
            assert status == 401
            # A link opens only its own file, unaltered, and only while it is valid.
            path, _, query = play.partition("?")
            for forged in (
                f"/video/1/clip-0008.mp4?{query}",
                f"/video/2/clip-0007.mp4?{query}",
                path,
                play[:-1] + ("0" if play[-1] != "0" else "1"),
                play.replace("exp=", "exp=1"),
            ):
                status, _, _ = await rig.get(forged)
                assert status == 403, forged

            # The clip's telemetry, stored beside it and offered as a download.
            window = {"car_id": 1, "start_s": 61.5, "speed_mps": [50.0, 51.5, 53.0]}
            status, body = await rig.put_telemetry(1, "clip-0007", json.dumps(window).encode())
            assert status == 201 and body["url"] == "/api/cars/1/video/clip-0007/telemetry", body
            (item,) = await rig.listing(1, "engineer")
            status, headers, data = await rig.get(item["telemetry_url"])
            assert status == 200 and json.loads(data) == window
            assert headers["Content-Disposition"].startswith("attachment")
            status, _, data = await rig.get("/api/cars/1/video/clip-0007/telemetry", "viewer")
            assert status == 200 and json.loads(data) == window

            # Someone who signs in later catches up on it.
            async with Listener(rig, "engineer") as late:
                caught_up = await late.next(MessageType.VIDEO_SEGMENT_READY)
                assert caught_up.data["segment_id"] == "clip-0007"

    asyncio.run(scenario())


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    data = fake_mp4(total)
    for start in range(0, total, size):
        yield data[start : start + size]


def test_bad_uploads_are_refused_with_the_right_status_and_leave_nothing_behind(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with video_rig(tmp_path, video_max_upload_bytes=200_000) as rig:
            good = fake_mp4(1000)
            cases: list[tuple[str, dict[str, Any], int]] = [
                ("bad id", dict(segment_id="../../tokens"), 404),  # never reaches the handler
                ("bad id", dict(segment_id="a.b"), 400),
                ("bad id", dict(segment_id="x" * 65), 400),
                ("car id", dict(car_id=70000), 400),
                ("kind", dict(kind="movie"), 400),
                ("window", dict(start_s="nan"), 400),
                ("window", dict(start_s=50, end_s=40), 400),
                ("not mp4", dict(body=b"\x1a\x45\xdf\xa3" + bytes(2000)), 400),
                ("not mp4", dict(body=b"<html>hello</html>"), 400),
                ("empty", dict(body=b""), 400),
                ("type", dict(content_type="text/plain"), 415),
                ("too large", dict(body=fake_mp4(200_001)), 413),  # Content-Length says so
                ("too large", dict(body=chunks(600_000)), 413),  # chunked: found while streaming
            ]
            for name, change, expected in cases:
                args = {"car_id": 1, "segment_id": "seg-1", "body": good, **change}
                car_id, segment_id, body = args.pop("car_id"), args.pop("segment_id"), args.pop("body")
                status, answer = await rig.put_video(car_id, segment_id, body, **args)
                assert status == expected, (name, status, answer)
            status, _ = await rig.put_video(1, "seg-1", chunks(150_000))  # chunked and within the limit
            assert status == 201
            status, _ = await rig.put_video(1, "seg-2", good, content_type=None)  # no type: sniffed
            assert status == 201
            # Telemetry: JSON only, at most 5 MB.
            assert (await rig.put_telemetry(1, "seg-1", b"{oops"))[0] == 400
            assert (await rig.put_telemetry(1, "seg-1", b"{}", content_type="text/plain"))[0] == 415
            huge = io.BytesIO(b"[" + b"0," * (3 * 1024 * 1024) + b"0]")  # 6 MB
            assert (await rig.put_telemetry(1, "seg-1", huge))[0] == 413
            assert (await rig.put_telemetry(1, "a.b", b"{}"))[0] == 400
            assert leftovers(tmp_path) == ["seg-1.json", "seg-1.mp4", "seg-2.json", "seg-2.mp4"]
            assert [i["segment_id"] for i in await rig.listing(1)] == ["seg-2", "seg-1"]
            assert MAX_PENDING_TELEMETRY >= 1

    asyncio.run(scenario())


def test_only_the_cars_driver_uploads_and_bad_tokens_lock_the_address_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with video_rig(tmp_path) as rig, Listener(rig, "viewer") as viewer:
            good = fake_mp4(1000)
            for who in ("viewer", "engineer", "driver2"):  # valid tokens, not car 1's driver: 403
                assert (await rig.put_video(1, "seg-1", good, who))[0] == 403, who
                assert (await rig.put_telemetry(1, "seg-1", b"{}", who))[0] == 403, who
            assert (await rig.put_video(2, "seg-1", good, "driver"))[0] == 403  # another car
            assert (await rig.put_video(2, "seg-1", good, "driver2"))[0] == 201  # that car's own driver
            status, _, _ = await rig.get("/api/cars/1/video")
            assert status == 401
            assert (await rig.put_video(1, "seg-1", good, None))[0] == 401  # no token: nothing guessed
            for n in range(5):
                assert (await rig.put_video(1, "seg-1", good, f"guess-{n}"))[0] == 401
            # Five failures: this address is blocked for a while, whatever it sends.
            assert (await rig.put_video(1, "seg-1", good, "driver"))[0] == 429
            status, _, _ = await rig.get("/api/cars/1/video", "viewer")
            assert status == 429
            assert rig.server.attempts.total_failures >= 5
            told = [m for m in await viewer.drain() if m.type is MessageType.VIDEO_SEGMENT_READY]
            assert [(m.data["car_id"], m.data["segment_id"]) for m in told] == [(2, "seg-1")]
            assert leftovers(tmp_path) == ["seg-1.json", "seg-1.mp4"]

    asyncio.run(scenario())


def test_an_upload_cut_off_half_way_leaves_nothing_and_the_retry_is_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with video_rig(tmp_path) as rig, Listener(rig, "viewer") as viewer:
            port = rig.server.dashboard.port  # type: ignore[union-attr]
            ssl = client_ssl_context(rig.fingerprint)
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl, server_hostname="127.0.0.1")
            writer.write(
                (
                    "PUT /api/cars/1/video/seg-cut?kind=segment&start_s=0&end_s=30 HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {rig.tokens['driver']}\r\n"
                    "Content-Type: video/mp4\r\nContent-Length: 3000000\r\n\r\n"
                ).encode()
                + fake_mp4(2_500_000)
            )
            await writer.drain()
            # The relay has the start of it on disk (in a temporary file) before the driver goes away.
            async with asyncio.timeout(10):
                while not list((tmp_path / "video").rglob("*.part")):
                    await asyncio.sleep(0.02)
            writer.transport.abort()
            async with asyncio.timeout(10):
                while leftovers(tmp_path):
                    await asyncio.sleep(0.02)
            assert await rig.listing(1) == []
            status, _ = await rig.put_video(1, "seg-cut", io.BytesIO(fake_mp4(3_000_000)))  # several chunks
            assert status == 201
            told = [m.data["segment_id"] for m in await viewer.drain() if m.type is MessageType.VIDEO_SEGMENT_READY]
            assert told == ["seg-cut"]
            assert leftovers(tmp_path) == ["seg-cut.json", "seg-cut.mp4"]

    asyncio.run(scenario())
