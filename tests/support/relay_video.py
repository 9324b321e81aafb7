"""Video helpers for the relay's tests: a real H.264 fragmented MP4 made with PyAV, and MP4-shaped filler.

`h264_fmp4()` encodes moving test pictures with libx264 into the fragmented MP4 the driver app
uploads (`movflags=frag_keyframe+empty_moov+default_base_moof`); `fake_mp4(n)` is n bytes that pass
the relay's `ftyp` sniffing without being a playable video (for size and rotation tests).
`video_rig()` runs a relay with its dashboard site and video store in-process over real TLS, and
`Listener` is a signed-in WebSocket client that keeps the control messages it receives.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from relay.auth import TokenStore
from relay.protocol import Envelope, MessageType, Role, decode_message, encode_message
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool
from relay.tls import client_ssl_context, ensure_certificate, server_ssl_context

FRAGMENTED: dict[str, str] = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


def h264_fmp4(seconds: float = 3.0, *, width: int = 640, height: int = 360, fps: int = 30) -> bytes:
    """A real H.264 (constrained baseline, yuv420p) fragmented MP4 of moving bars and a counter block."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4", options=FRAGMENTED) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        ys, xs = np.mgrid[0:height, 0:width]
        for i in range(round(seconds * fps)):
            picture = np.empty((height, width, 3), dtype=np.uint8)
            picture[..., 0] = (xs + 4 * i) % 256
            picture[..., 1] = (ys * 255 // max(1, height - 1)).astype(np.uint8)
            picture[..., 2] = 96
            x = (i * 7) % max(1, width - 60)
            picture[height // 3 : height // 3 + 60, x : x + 60] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def fake_mp4(size: int, fill: bytes = b"\0") -> bytes:
    """`size` bytes (at least 24) starting with a valid `ftyp` box: passes sniffing, plays nothing."""
    head = (24).to_bytes(4, "big") + b"ftypiso5" + b"\0\0\2\0" + b"iso5" + b"iso6"
    assert size >= len(head)
    return head + fill * ((size - len(head)) // len(fill)) + fill[: (size - len(head)) % len(fill)]


# ------------------------------------------------------------------------------------------ a relay with video


@dataclass
class VideoRig:
    """An in-process relay with TLS, its dashboard site and video store, and an HTTPS client pinned to it."""

    server: RelayServer
    session: aiohttp.ClientSession
    base: str
    tokens: dict[str, str]
    fingerprint: str

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens.get(who, who)}"}

    async def put_video(
        self,
        car_id: int,
        segment_id: str,
        body: Any,
        who: str | None = "driver",
        *,
        kind: str = "segment",
        start_s: float | str = 10.0,
        end_s: float | str = 40.0,
        content_type: str | None = "video/mp4",
    ) -> tuple[int, Any]:
        query = {"kind": kind, "start_s": str(start_s), "end_s": str(end_s)}
        headers = self.auth(who)
        if content_type is not None:
            headers["Content-Type"] = content_type
        url = f"{self.base}/api/cars/{car_id}/video/{segment_id}"
        async with self.session.put(url, params=query, data=body, headers=headers) as response:
            return response.status, await _body(response)

    async def put_telemetry(
        self, car_id: int, segment_id: str, body: Any, who: str = "driver", content_type: str = "application/json"
    ) -> tuple[int, Any]:
        url = f"{self.base}/api/cars/{car_id}/video/{segment_id}/telemetry"
        headers = {**self.auth(who), "Content-Type": content_type}
        async with self.session.put(url, data=body, headers=headers) as response:
            return response.status, await _body(response)

    async def get(
        self, path: str, who: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        async with self.session.get(self.base + path, headers={**self.auth(who), **(headers or {})}) as response:
            return response.status, dict(response.headers), await response.read()

    async def listing(self, car_id: int, who: str = "viewer") -> list[dict[str, Any]]:
        status, _, body = await self.get(f"/api/cars/{car_id}/video", who)
        assert status == 200, (status, body)
        items: list[dict[str, Any]] = json.loads(body)["items"]
        return items


async def _body(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text)
    except ValueError:
        return text


@asynccontextmanager
async def video_rig(tmp_path: Path, **video: Any) -> AsyncIterator[VideoRig]:
    """A relay with video in `tmp_path` (same store, spool and certificate when started again there).

    Tokens: "driver" (car 1), "driver2" (car 2), "viewer", "engineer". `video`: ServerOptions video fields."""
    store = TokenStore(tmp_path / "tokens.json")
    tokens_file = tmp_path / "tokens.test.json"
    if tokens_file.exists():
        tokens = json.loads(tokens_file.read_text())
    else:
        now = time.time()
        tokens = {
            "driver": store.invite("Alice", Role.DRIVER, 1, now_s=now)[1],
            "driver2": store.invite("Dora", Role.DRIVER, 2, now_s=now)[1],
            "viewer": store.invite("Vic", Role.VIEWER, now_s=now)[1],
            "engineer": store.invite("Eve", Role.ENGINEER, now_s=now)[1],
        }
        tokens_file.write_text(json.dumps(tokens))
    certificate = ensure_certificate(tmp_path / "tls", ["127.0.0.1", "localhost"])
    spool = Spool(tmp_path / "spool.sqlite3")
    options = ServerOptions(
        host="127.0.0.1",
        port=0,
        ssl_context=server_ssl_context(certificate),
        dashboard_port=0,
        state_path=tmp_path / "state.json",
        video_dir=tmp_path / "video",
        **video,
    )
    server = RelayServer(store, spool, options=options)
    await server.start()
    assert server.dashboard is not None
    connector = aiohttp.TCPConnector(ssl=aiohttp.Fingerprint(bytes.fromhex(certificate.fingerprint_sha256)))
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            base = server.dashboard.url.rstrip("/")
            yield VideoRig(server, session, base, tokens, certificate.fingerprint_sha256)
    finally:
        await server.stop()
        spool.close()


class Listener:
    """A WebSocket client of the relay (pinned TLS) that signs in and keeps every control message."""

    def __init__(self, rig: VideoRig, who: str) -> None:
        self.rig = rig
        self.who = who
        self.messages: list[Envelope] = []
        self._connection: Any = None

    async def __aenter__(self) -> Listener:
        from websockets.asyncio.client import connect

        self._connection = await connect(
            self.rig.server.url, ssl=client_ssl_context(self.rig.fingerprint), compression=None
        )
        await self._connection.recv()  # connection_established
        hello = Envelope(MessageType.AUTHENTICATE, "auth", {"token": self.rig.tokens[self.who]})
        await self._connection.send(encode_message(hello))
        result = await self.next(MessageType.AUTHENTICATION_RESULT)
        assert result.data["ok"], result
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def next(self, kind: MessageType, timeout_s: float = 10.0) -> Envelope:
        """The next control message of `kind` (earlier ones of other kinds are kept in `messages`)."""
        async with asyncio.timeout(timeout_s):
            while True:
                payload = await self._connection.recv()
                if isinstance(payload, bytes):
                    continue
                message = decode_message(payload)
                self.messages.append(message)
                if message.type is kind:
                    return message

    async def drain(self, quiet_s: float = 0.3) -> list[Envelope]:
        """Every control message that arrives until none has for `quiet_s`."""
        while True:
            try:
                async with asyncio.timeout(quiet_s):
                    payload = await self._connection.recv()
            except TimeoutError:
                return self.messages
            if isinstance(payload, str):
                self.messages.append(decode_message(payload))
