"""Uploads finished segments and clips to the relay over HTTPS, in the background, with retries.

The relay's dashboard site (relay port + 1 unless told otherwise) takes:

    PUT /api/cars/{car_id}/video/{segment_id}?kind=segment|clip&start_s=FLOAT&end_s=FLOAT
        Authorization: Bearer {driver token}, Content-Type: video/mp4, body: the fragmented MP4
        -> 201 {"segment_id", "url", "bytes"}; 401/403 bad token or wrong car; 413 too large;
           400 not an MP4 or bad parameters
    PUT /api/cars/{car_id}/video/{segment_id}/telemetry        (clips only, after the video)
        Content-Type: application/json, body: the clip's telemetry window -> 201

and announces stored videos to the team itself. TLS is pinned to the relay certificate's SHA-256
from the pairing string, exactly as the telemetry client pins it (`relay.tls.client_ssl_context`:
checked inside the handshake, before the token is sent).

`VideoUploader.submit(job)` may be called from any thread and never blocks: jobs wait in a
bounded queue (`max_queue`); when it is full the oldest *segment* job gives way (live video goes
stale; clips are kept), and a clip that finds the queue full of clips is refused (its file stays,
and the recorder offers it again at the next start). `run()` (a task on the pipeline's loop)
uploads one job at a time, oldest first. A connection error, a timeout, 408, 429 or a 5xx is
retried with exponential backoff (1 s doubling to 30 s, with jitter); a segment older than
`segment_max_age_s` is dropped instead. 400, 401, 403, 404 and 413 end the job (logged once); a
relay whose certificate does not match the pin ends every job. Nothing here deletes or changes a
file: a failed upload loses nothing on disk. `on_done(job, ok)` reports each job's end on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from driver_app.video.errors import UploadError
from relay.errors import CertificateError
from relay.tls import client_ssl_context

logger = logging.getLogger(__name__)

MAX_QUEUE: Final = 32
RETRY_INITIAL_S: Final = 1.0
RETRY_MAX_S: Final = 30.0
SEGMENT_MAX_AGE_S: Final = 120.0
"""A live segment not delivered within this time is no longer worth sending."""
CONNECT_TIMEOUT_S: Final = 5.0
READ_TIMEOUT_S: Final = 60.0
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
CAR_ID_WAIT_S: Final = 1.0


class JobKind(enum.Enum):
    SEGMENT = "segment"
    CLIP = "clip"


@dataclass(slots=True)
class UploadJob:
    kind: JobKind
    segment_id: str
    path: Path
    start_s: float
    end_s: float
    telemetry_path: Path | None = None
    """The clip's telemetry window (JSON), uploaded after the video."""
    created_s: float = 0.0
    attempts: int = 0
    video_done: bool = False


@dataclass(slots=True)
class UploadStats:
    uploaded: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    bytes_sent: int = 0
    last_error: str = ""


def upload_base_url(relay_url: str, dashboard_port: int | None = None) -> str:
    """The dashboard site for a relay WebSocket URL: wss://host:port -> https://host:port+1."""
    parts = urlsplit(relay_url)
    if parts.scheme not in ("ws", "wss", "http", "https") or parts.hostname is None or parts.port is None:
        raise ValueError(f"not a relay URL: {relay_url!r}")
    secure = parts.scheme in ("wss", "https")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = dashboard_port if dashboard_port is not None else parts.port + 1
    return f"{'https' if secure else 'http'}://{host}:{port}"


@dataclass
class VideoUploader:
    """See the module docstring."""

    base_url: str
    token: str = field(repr=False)
    car_id: Callable[[], int | None]
    fingerprint_sha256: str | None = None
    ssl_context: ssl.SSLContext | None = None
    max_queue: int = MAX_QUEUE
    segment_max_age_s: float = SEGMENT_MAX_AGE_S
    retry_initial_s: float = RETRY_INITIAL_S
    retry_max_s: float = RETRY_MAX_S
    on_done: Callable[[UploadJob, bool], None] | None = None
    clock: Callable[[], float] = time.monotonic
    stats: UploadStats = field(default_factory=UploadStats)
    _jobs: deque[UploadJob] = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _wake: asyncio.Event | None = field(default=None, init=False, repr=False)
    _busy: bool = field(default=False, init=False, repr=False)
    _refused_for_good: str = field(default="", init=False, repr=False)
    _progress: asyncio.Event | None = field(default=None, init=False, repr=False)

    # ---------------------------------------------------------------- any thread

    def submit(self, job: UploadJob) -> bool:
        """Queue `job` (thread-safe, never blocks); False when it was refused (the file stays where it is)."""
        if not job.created_s:
            job.created_s = self.clock()
        victim: UploadJob | None = None
        with self._lock:
            if self._refused_for_good:
                return False
            if len(self._jobs) >= self.max_queue:
                victim = next((j for j in self._jobs if j.kind is JobKind.SEGMENT), None)
                if victim is None and job.kind is JobKind.CLIP:
                    logger.warning("upload queue full of clips: %s waits for the next start", job.segment_id)
                    self.stats.dropped += 1
                    return False
                if victim is None:
                    victim = job  # a segment, and only clips queued: the new segment gives way
                else:
                    self._jobs.remove(victim)
            if victim is not job:
                self._jobs.append(job)
        if victim is not None:
            self.stats.dropped += 1
            logger.info("upload queue full: %s not sent", victim.segment_id)
            self._finish(victim, False)
        self._poke()
        return victim is not job

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._jobs) + (1 if self._busy else 0)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(wake.set)

    # ---------------------------------------------------------------- the loop

    async def run(self) -> None:
        """Upload until cancelled (a task on the pipeline's loop)."""
        self._bind()
        assert self._wake is not None
        context = self.ssl_context
        if context is None and self.base_url.startswith("https://"):
            if not self.fingerprint_sha256:
                raise UploadError("https uploads need the relay's certificate fingerprint")
            context = client_ssl_context(self.fingerprint_sha256)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S)
        connector = aiohttp.TCPConnector(ssl=context if context is not None else False, limit=2)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            backoff = self.retry_initial_s
            while True:
                job = self._next()
                if job is None:
                    self._wake.clear()
                    if self._peek() is None:
                        await self._wake.wait()
                    continue
                car_id = self.car_id()
                if car_id is None:  # not signed in to the relay yet
                    await self._sleep(CAR_ID_WAIT_S)
                    continue
                if job.kind is JobKind.SEGMENT and self.clock() - job.created_s > self.segment_max_age_s:
                    self._pop(job)
                    self.stats.dropped += 1
                    logger.info("segment %s not delivered in time: dropped", job.segment_id)
                    self._finish(job, False)
                    continue
                self._busy = True
                try:
                    outcome = await self._attempt(session, car_id, job)
                finally:
                    self._busy = False
                if outcome is None:  # retry later
                    job.attempts += 1
                    self.stats.retries += 1
                    delay = min(self.retry_max_s, backoff) * random.uniform(0.8, 1.2)
                    backoff = min(self.retry_max_s, backoff * 2)
                    await self._sleep(delay)
                    continue
                backoff = self.retry_initial_s
                self._pop(job)
                if outcome:
                    self.stats.uploaded += 1
                else:
                    self.stats.failed += 1
                self._finish(job, outcome)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait (bounded) until nothing is queued or in flight (on the loop `run` runs on). True when idle."""
        self._bind()
        progress = self._progress
        assert progress is not None
        try:
            async with asyncio.timeout(timeout_s):
                while self.pending:
                    progress.clear()
                    await progress.wait()
        except TimeoutError:
            return False
        return True

    def _bind(self) -> None:
        """The events live on the loop `run` (and `wait_idle`) run on; created by whichever comes first."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._wake, self._progress = loop, asyncio.Event(), asyncio.Event()

    def _next(self) -> UploadJob | None:
        with self._lock:
            if self._refused_for_good:
                doomed = list(self._jobs)
                self._jobs.clear()
            else:
                return self._jobs[0] if self._jobs else None
        for job in doomed:
            self.stats.failed += 1
            self._finish(job, False)
        return None

    def _peek(self) -> UploadJob | None:
        with self._lock:
            return self._jobs[0] if self._jobs else None

    def _pop(self, job: UploadJob) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._jobs.remove(job)

    async def _sleep(self, delay_s: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay_s)

    def _finish(self, job: UploadJob, ok: bool) -> None:
        loop, progress = self._loop, self._progress
        if loop is not None and progress is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(progress.set)
        if self.on_done is not None:
            try:
                self.on_done(job, ok)
            except Exception:
                logger.exception("upload callback failed for %s", job.segment_id)

    async def _attempt(self, session: aiohttp.ClientSession, car_id: int, job: UploadJob) -> bool | None:
        """One try: True uploaded, False failed for good, None try again later."""
        url = f"{self.base_url}/api/cars/{car_id}/video/{job.segment_id}"
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            if not job.video_done:
                try:
                    body = await asyncio.to_thread(job.path.read_bytes)
                except FileNotFoundError:
                    logger.warning("%s is gone before it was uploaded", job.path.name)
                    return False
                params = {"kind": job.kind.value, "start_s": f"{job.start_s:.3f}", "end_s": f"{job.end_s:.3f}"}
                verdict = await self._put(session, url, body, {**headers, "Content-Type": "video/mp4"}, params, job)
                if verdict is not True:
                    return verdict
                job.video_done = True
            if job.telemetry_path is not None:
                try:
                    document = await asyncio.to_thread(job.telemetry_path.read_bytes)
                except FileNotFoundError:
                    logger.warning("%s is gone: the clip is uploaded without it", job.telemetry_path.name)
                    return True
                headers_json = {**headers, "Content-Type": "application/json"}
                return await self._put(session, url + "/telemetry", document, headers_json, None, job)
            return True
        except aiohttp.ClientConnectorCertificateError as exc:
            return self._certificate_refused(exc)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, CertificateError):
                return self._certificate_refused(exc)
            self.stats.last_error = str(exc)
            logger.debug("upload of %s: relay unreachable (%s)", job.segment_id, exc)
            return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            logger.debug("upload of %s failed, will retry: %s", job.segment_id, self.stats.last_error)
            return None

    async def _put(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        headers: dict[str, str],
        params: dict[str, str] | None,
        job: UploadJob,
    ) -> bool | None:
        # A file-like body: aiohttp streams it in chunks (raw bytes over 1 MiB make it warn that they
        # may hold up the event loop).
        async with session.put(url, data=io.BytesIO(body), headers=headers, params=params) as response:
            text = (await response.text())[:300]
            if response.status in (200, 201):
                self.stats.bytes_sent += len(body)
                return True
            self.stats.last_error = f"HTTP {response.status}: {text}"
            if response.status in RETRY_STATUSES:
                logger.debug("upload of %s: %s, will retry", job.segment_id, self.stats.last_error)
                return None
            logger.warning("the relay refused %s (%s): not retried", job.segment_id, self.stats.last_error)
            return False

    def _certificate_refused(self, exc: Exception) -> bool:
        reason = str(getattr(exc, "os_error", None) or exc)
        with self._lock:
            self._refused_for_good = reason
        self.stats.last_error = reason
        logger.error("video uploads stopped: %s", reason)
        return False
