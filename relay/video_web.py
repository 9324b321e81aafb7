"""The dashboard site's video routes: drivers upload over HTTPS, the team lists and plays.

    PUT /api/cars/ID/video/SEG?kind=segment|clip&start_s=S&end_s=S   a fragmented MP4 (driver of car ID)
    PUT /api/cars/ID/video/SEG/telemetry                             a clip's telemetry JSON (same driver)
    GET /api/cars/ID/video                                           stored videos, newest first, with
                                                                     signed links (bearer token, any role)
    GET /api/cars/ID/video/SEG                                       the video         } bearer token,
    GET /api/cars/ID/video/SEG/telemetry                             its telemetry     } any role
    GET /video/ID/SEG.mp4?exp=..&sig=..                              the video through a signed link
    GET /video/ID/SEG.telemetry.json?exp=..&sig=..                   its telemetry, as a download

Uploads stream to disk in chunks (never whole in memory) off the event loop, so telemetry keeps
flowing while a segment arrives. Answers: 201 with `{"segment_id", "url", "bytes"}`; 401 without a
valid token (counted towards the address's lockout, like every token the site checks); 403 for a
valid token that is not a driver's of that car (not a guess, so not counted); 400 for a bad id,
window or body (not an MP4, not JSON); 413 over the size limit; 415 for a wrong Content-Type. A
stored video is announced to the team (`video_segment_ready`) through the `on_change` callback,
which the relay server points at its core.

`<video>` cannot send a bearer token, so the listing hands out short-lived signed links (see
`relay.video_store.LinkSigner`). A bad or expired link is a 403 that does not count towards the
lockout (a relay restart changes the secret, and a page with many videos must not lock its
address out: it asks for fresh links). Files are served with ranges (seeking).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from aiohttp import web

from relay.core import IdentityLike
from relay.errors import VideoError, VideoTooLargeError
from relay.protocol import Role
from relay.video_store import (
    LinkSigner,
    Upload,
    VideoItem,
    VideoStore,
    api_path,
    check_car_id,
    check_segment_id,
    parse_window,
)

logger = logging.getLogger(__name__)

CHUNK_BYTES: Final = 1024 * 1024
"""Bytes gathered from the network before each write to disk."""
VIDEO_TYPES: Final = frozenset({"video/mp4", "application/octet-stream"})
CACHE_CONTROL: Final = "private, max-age=300"

Authorise = Callable[[web.Request], Awaitable[IdentityLike]]
OnChange = Callable[[VideoItem | None, Sequence[VideoItem]], None]
"""Called on the event loop when the store changed: the video just stored (None: none) and the
videos rotation removed to make room."""


class VideoRoutes:
    """The video endpoints of the dashboard site (`DashboardSite(video=...)` adds them)."""

    def __init__(
        self,
        store: VideoStore,
        on_change: OnChange,
        *,
        signer: LinkSigner | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.signer = signer if signer is not None else LinkSigner(secrets.token_bytes(32))
        self._clock = clock
        self._authorise: Authorise | None = None

    def add_routes(self, router: web.UrlDispatcher, authorise: Authorise) -> None:
        """Register the routes (before the site's catch-all `/api/cars/ID/{what}`); `authorise` checks
        a request's bearer token (401/429, counting failures towards the lockout) and returns its identity."""
        self._authorise = authorise
        car = r"/api/cars/{car_id:\d{1,5}}/video"
        router.add_get(car, self._list)
        router.add_put(car + "/{segment_id}", self._put_video)
        router.add_get(car + "/{segment_id}", self._get_video)
        router.add_put(car + "/{segment_id}/telemetry", self._put_telemetry)
        router.add_get(car + "/{segment_id}/telemetry", self._get_telemetry)
        router.add_get(r"/video/{car_id:\d{1,5}}/{name}", self._signed)

    # ---------------------------------------------------------------- uploads

    async def _put_video(self, request: web.Request) -> web.StreamResponse:
        car_id, segment_id = await self._as_driver(request)
        try:
            kind, start_s, end_s = parse_window(
                request.query.get("kind"), request.query.get("start_s"), request.query.get("end_s")
            )
        except VideoError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        _content_type(request, VIDEO_TYPES)
        limit = self.store.max_upload_bytes
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(limit, request.content_length, text=f"a video is at most {limit} bytes")
        loop = asyncio.get_running_loop()
        upload: Upload | None = None
        committed = False
        try:
            upload = await loop.run_in_executor(None, self.store.begin, car_id, segment_id)
            buffer = bytearray()
            async for chunk in request.content.iter_chunked(CHUNK_BYTES):
                buffer += chunk
                if len(buffer) >= CHUNK_BYTES or upload.bytes == 0:  # the first write sniffs the file type
                    await loop.run_in_executor(None, upload.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await loop.run_in_executor(None, upload.write, bytes(buffer))
            item, removed = await loop.run_in_executor(None, self.store.commit, upload, kind, start_s, end_s)
            committed = True
        except VideoTooLargeError as exc:
            raise web.HTTPRequestEntityTooLarge(limit, 0, text=str(exc)) from None
        except VideoError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        except ConnectionError:  # the uploader went away: it retries the whole video
            logger.info("upload of video %s of car %d interrupted", segment_id, car_id)
            raise web.HTTPBadRequest(text="the upload was interrupted") from None
        except OSError as exc:
            raise _storage_failed(exc, f"video {segment_id} of car {car_id}") from None
        finally:
            if upload is not None and not committed:
                upload.discard()
        self.on_change(item, removed)
        body = {"segment_id": item.segment_id, "url": item.api_path, "bytes": item.video_bytes}
        return web.json_response(body, status=201)

    async def _put_telemetry(self, request: web.Request) -> web.StreamResponse:
        car_id, segment_id = await self._as_driver(request)
        _content_type(request, frozenset({"application/json"}))
        limit = self.store.max_telemetry_bytes
        too_large = f"a clip's telemetry is at most {limit} bytes"
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(limit, request.content_length, text=too_large)
        data = bytearray()
        try:
            async for chunk in request.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise web.HTTPRequestEntityTooLarge(limit, len(data), text=too_large)
        except ConnectionError:
            logger.info("upload of the telemetry of %s of car %d interrupted", segment_id, car_id)
            raise web.HTTPBadRequest(text="the upload was interrupted") from None
        loop = asyncio.get_running_loop()
        try:
            _, removed = await loop.run_in_executor(None, self.store.store_telemetry, car_id, segment_id, bytes(data))
        except VideoError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        except OSError as exc:
            raise _storage_failed(exc, f"telemetry of {segment_id} of car {car_id}") from None
        if removed:
            self.on_change(None, removed)
        url = f"{api_path(car_id, segment_id)}/telemetry"
        return web.json_response({"segment_id": segment_id, "url": url, "bytes": len(data)}, status=201)

    # ---------------------------------------------------------------- reading

    async def _list(self, request: web.Request) -> web.StreamResponse:
        await self._viewer(request)
        car_id = _car_id(request)
        now = self._clock()
        items = [self._describe(item, now) for item in self.store.items(car_id)]
        return web.json_response({"car_id": car_id, "items": items, "expires_s": self.signer.expiry(now)})

    def _describe(self, item: VideoItem, now_s: float) -> dict[str, Any]:
        base = f"/video/{item.car_id}/{item.segment_id}"
        return {
            **item.announcement(),
            "telemetry_bytes": item.telemetry_bytes,
            "stored_s": item.stored_s,
            "play_url": self.signer.link(f"{base}.mp4", now_s),
            "telemetry_url": self.signer.link(f"{base}.telemetry.json", now_s) if item.has_telemetry else None,
        }

    async def _get_video(self, request: web.Request) -> web.StreamResponse:
        await self._viewer(request)
        return self._video_file(self._item(request, request.match_info["segment_id"]))

    async def _get_telemetry(self, request: web.Request) -> web.StreamResponse:
        await self._viewer(request)
        return self._telemetry_file(self._item(request, request.match_info["segment_id"]))

    async def _signed(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not self.signer.verify(request.path, request.query.get("exp"), request.query.get("sig"), self._clock()):
            raise web.HTTPForbidden(text="this video link is not valid (or has expired): reload the list")
        if name.endswith(".telemetry.json"):
            return self._telemetry_file(self._item(request, name.removesuffix(".telemetry.json")))
        if name.endswith(".mp4"):
            return self._video_file(self._item(request, name.removesuffix(".mp4")))
        raise web.HTTPNotFound(text="no such file")

    def _item(self, request: web.Request, segment_id: str) -> VideoItem:
        car_id = _car_id(request)
        try:
            check_segment_id(segment_id)
        except VideoError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        item = self.store.get(car_id, segment_id)
        if item is None:
            raise web.HTTPNotFound(text=f"car {car_id} has no video {segment_id} (never stored, or rotated out)")
        return item

    def _video_file(self, item: VideoItem) -> web.StreamResponse:
        # FileResponse answers ranges (seeking in <video>) and conditional requests.
        headers = {"Content-Type": "video/mp4", "Cache-Control": CACHE_CONTROL}
        return web.FileResponse(self.store.video_file(item.car_id, item.segment_id), headers=headers)

    def _telemetry_file(self, item: VideoItem) -> web.StreamResponse:
        if not item.has_telemetry:
            raise web.HTTPNotFound(text=f"video {item.segment_id} has no telemetry")
        headers = {
            "Content-Type": "application/json",
            "Cache-Control": CACHE_CONTROL,
            "Content-Disposition": f'attachment; filename="car{item.car_id}-{item.segment_id}.telemetry.json"',
        }
        return web.FileResponse(self.store.telemetry_file(item.car_id, item.segment_id), headers=headers)

    # ---------------------------------------------------------------- who may

    async def _viewer(self, request: web.Request) -> IdentityLike:
        if self._authorise is None:
            raise web.HTTPServiceUnavailable(text="video is not set up")
        return await self._authorise(request)

    async def _as_driver(self, request: web.Request) -> tuple[int, str]:
        """The car and segment of an upload, once the token is that car's driver's (else 401/403)."""
        identity = await self._viewer(request)
        car_id = _car_id(request)
        if identity.role is not Role.DRIVER or identity.car_id != car_id:
            raise web.HTTPForbidden(text=f"only a driver of car {car_id} uploads its video")
        segment_id = request.match_info["segment_id"]
        try:
            check_segment_id(segment_id)
        except VideoError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return car_id, segment_id


def _car_id(request: web.Request) -> int:
    try:
        return check_car_id(int(request.match_info["car_id"]))
    except VideoError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


def _content_type(request: web.Request, allowed: frozenset[str]) -> None:
    """Refuse a declared Content-Type outside `allowed` (none declared: the body is sniffed)."""
    if "Content-Type" in request.headers and request.content_type not in allowed:
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be {' or '.join(sorted(allowed))}")


def _storage_failed(exc: OSError, what: str) -> web.HTTPException:
    logger.error("cannot store %s: %s", what, exc)
    if exc.errno == errno.ENOSPC:
        return web.HTTPInsufficientStorage(text="the relay's disk is full")
    return web.HTTPInternalServerError(text="the relay could not store the upload")
