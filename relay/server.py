"""The relay's asyncio shell: WebSocket connections in and out of `RelayCore`, durably.

Everything about what to say lives in `relay.core`; this module only moves bytes, keeps time,
writes the spool, and keeps each client's outgoing queue:

- control messages are never dropped; a client whose control queue passes `max_control_queue`
  cannot keep up and is disconnected with a reason;
- live telemetry is conflated per car for a slow client: at most `max_telemetry_per_car` batches
  of a car wait, older ones are dropped (the newest state matters, and the spool has them all).

Order of shutdown (`RelayServer.stop`): stop advertising on the LAN, stop accepting connections,
tell clients "going away" after their queues flush (at most `flush_timeout_s`), give the
forwarders `drain_timeout_s` to empty the spool to the sinks, save the state, close the spool.
Whatever was not forwarded stays in the spool and goes out after the next start.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import os
import ssl
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from relay.auth import AuthAttempts
from relay.core import (
    CLOSE_AUTH_FAILED,
    CLOSE_SHUTDOWN,
    Action,
    Close,
    Frames,
    IdentityLike,
    Persist,
    RelayCore,
    RelayLimits,
    Send,
    StateChanged,
)
from relay.errors import RelayError
from relay.protocol import (
    MAX_BATCH_BYTES,
    Envelope,
    ErrorCode,
    MessageType,
    ProtocolError,
    decode_message,
    error_message,
)
from relay.recorder import SessionRecorder
from relay.stint_proposal import propose_stint_plan
from relay.team_view import TeamView
from relay.video_store import (
    DEFAULT_CLIP_BUDGET_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_SEGMENT_BUDGET_BYTES,
    VideoItem,
    VideoStore,
)
from relay.video_web import VideoRoutes
from relay.web import DashboardSite, RelayEndpoint

logger = logging.getLogger(__name__)

CLOSE_SLOW_CONSUMER: Final = 1013
TICK_S: Final = 0.005
"""Finest tick of the relay's clock (rate groups up to 60 Hz, authentication timeouts)."""


class TokenVerifier(Protocol):
    """Checks a token (`relay.auth.TokenStore`); may be slow (a salted hash), so it runs off the loop."""

    def verify(self, token: object) -> IdentityLike | None: ...


class Durable(Protocol):
    """Where acknowledged records go first (`relay.spool.Spool`)."""

    def append(self, key: str, kind: str, car_id: int | None, payload: bytes, created_s: float) -> int: ...

    def last_batch_seq(self, car_id: int) -> int | None: ...


class Notifiable(Protocol):
    """A forwarder: woken when the spool grows, run until told to stop."""

    def notify(self) -> None: ...

    async def run(self, stop: asyncio.Event) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    ssl_context: ssl.SSLContext | None = None
    insecure: bool = False
    """Allow plain ws:// on an address other than loopback."""
    state_path: Path | None = None
    max_control_queue: int = 1000
    max_telemetry_per_car: int = 8
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 20.0
    flush_timeout_s: float = 2.0
    drain_timeout_s: float = 5.0
    limits: RelayLimits = RelayLimits()
    record_dir: Path | None = None
    """Where each car's session is recorded as an `.ibt` file the replay adapter reads (None: not)."""
    dashboard_port: int | None = None
    """Port of the team dashboard (HTTPS with the relay's certificate; 0: any free port; None: no dashboard)."""
    maps_dir: Path | None = None
    """Where track maps learned from the cars' laps are cached, one file per track (None: not kept)."""
    video_dir: Path | None = None
    """Where the drivers' uploaded video segments and clips are kept (None: no video; needs the dashboard)."""
    video_segment_budget_bytes: int = DEFAULT_SEGMENT_BUDGET_BYTES
    """Bytes of rolling segments kept (all cars together); the oldest go first."""
    video_clip_budget_bytes: int = DEFAULT_CLIP_BUDGET_BYTES
    """Bytes of clips (and their telemetry) kept (all cars together); the oldest go first."""
    video_max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    """Largest video a driver may upload."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Outbox:
    """A client's outgoing queue: control first and never dropped; telemetry conflated per car."""

    def __init__(self, max_control: int, max_per_car: int) -> None:
        self.max_control = max_control
        self.max_per_car = max_per_car
        self.control: deque[str | bytes] = deque()
        self.telemetry: dict[int, deque[str | bytes]] = {}
        self.dropped = 0
        self.ready = asyncio.Event()

    def put(self, send: Send) -> bool:
        """Queue a message; False when the control queue overflowed (the client cannot keep up)."""
        if send.telemetry_car is None:
            if len(self.control) >= self.max_control:
                return False
            self.control.append(send.payload)
        else:
            queue = self.telemetry.setdefault(send.telemetry_car, deque())
            if len(queue) >= self.max_per_car:
                queue.popleft()
                self.dropped += 1
            queue.append(send.payload)
        self.ready.set()
        return True

    def empty(self) -> bool:
        return not self.control and not any(self.telemetry.values())

    async def get(self) -> str | bytes:
        while True:
            if self.control:
                return self.control.popleft()
            for car in sorted(self.telemetry, key=lambda c: len(self.telemetry[c]), reverse=True):
                queue = self.telemetry[car]
                if queue:
                    return queue.popleft()
            self.ready.clear()
            await self.ready.wait()


class RelayServer:
    """Serves `RelayCore` over WebSockets and keeps its promises about durability."""

    def __init__(
        self,
        tokens: TokenVerifier,
        spool: Durable,
        *,
        options: ServerOptions | None = None,
        forwarders: Sequence[Notifiable] = (),
        inbound: Sequence[AsyncIterable[Envelope]] = (),
        relay_name: str = "PitBox relay",
        clock: Callable[[], float] = time.monotonic,
        roster: Callable[[int], Sequence[str]] | None = None,
    ) -> None:
        """`roster(car_id)`: the drivers paired to a car, in order (for the proposed stint plans)."""
        self.options = options if options is not None else ServerOptions()
        if self.options.ssl_context is None and not self.options.insecure and not is_loopback(self.options.host):
            raise RelayError(f"plain ws:// is allowed only on loopback; {self.options.host} needs TLS (or --insecure)")
        self.tokens = tokens
        self.attempts = AuthAttempts()
        # Tokens are checked off the event loop before the core sees the `authenticate` message;
        # the core's authenticator then only looks the answer up.
        self._verified: dict[str, IdentityLike | None] = {}
        # One thread: a token hash (scrypt) takes 16 MiB, and every pool thread would keep its own
        # arena of that after the first client (glibc), for nothing: logins are rare.
        self._verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pitbox-token")
        self.core = RelayCore(
            lambda token: self._verified.pop(token, None),
            relay_name=relay_name,
            limits=self.options.limits,
            known_seq=spool.last_batch_seq,
            propose_plan=None if roster is None else _proposer(roster),
        )
        self.relay_name = relay_name
        self.team_view = TeamView(self.options.maps_dir)
        self.dashboard: DashboardSite | None = None
        self.videos: VideoStore | None = None
        video: VideoRoutes | None = None
        if self.options.dashboard_port is not None and self.options.video_dir is not None:
            self.videos = VideoStore(
                self.options.video_dir,
                segment_budget_bytes=self.options.video_segment_budget_bytes,
                clip_budget_bytes=self.options.video_clip_budget_bytes,
                max_upload_bytes=self.options.video_max_upload_bytes,
            )
            for item in reversed(self.videos.items()):  # oldest first: new clients catch up on the newest
                self.core.remember_video(item.announcement())
            video = VideoRoutes(self.videos, self._video_changed)
        if self.options.dashboard_port is not None:
            self.dashboard = DashboardSite(
                self.team_view,
                tokens,
                self._endpoint,
                host=self.options.host,
                port=self.options.dashboard_port,
                ssl_context=self.options.ssl_context,
                attempts=self.attempts,
                video=video,
            )
        self._viewed_session: dict[int, dict[str, Any]] = {}
        self.spool = spool
        self.forwarders = list(forwarders)
        self.inbound = list(inbound)
        self._clock = clock
        self._ids = itertools.count(1)
        self._connections: dict[str, ServerConnection] = {}
        self._outboxes: dict[str, _Outbox] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None
        self._stop_forwarders = asyncio.Event()
        self._forwarder_tasks: list[asyncio.Task[None]] = []
        self._recorders: dict[int, SessionRecorder] = {}
        self._recorded_session: dict[int, dict[str, Any]] = {}
        self._closing = False
        self.started = asyncio.Event()
        if self.options.state_path is not None and self.options.state_path.exists():
            self.core.restore(json.loads(self.options.state_path.read_text(encoding="utf-8")))

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._server is None:
            raise RelayError("the relay is not running")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        scheme = "wss" if self.options.ssl_context is not None else "ws"
        host = self.options.host if ":" not in self.options.host else f"[{self.options.host}]"
        return f"{scheme}://{host}:{self.port}"

    def now_s(self) -> float:
        return self._clock()

    async def start(self) -> None:
        options = self.options
        self._server = await serve(
            self._handle,
            options.host,
            options.port,
            ssl=options.ssl_context,
            max_size=MAX_BATCH_BYTES + 1024,
            ping_interval=options.ping_interval_s,
            ping_timeout=options.ping_timeout_s,
            close_timeout=options.flush_timeout_s,
            compression=None,  # batches are compressed already; JSON is small
        )
        if self.dashboard is not None:
            try:
                await self.dashboard.start()
            except OSError:
                self._server.close()
                await self._server.wait_closed()
                raise
        self._forwarder_tasks = [asyncio.create_task(f.run(self._stop_forwarders)) for f in self.forwarders]
        self._spawn(self._ticker())
        for source in self.inbound:
            self._spawn(self._relay_inbound(source))
        self.started.set()
        logger.info("relay listening on %s", self.url)

    async def stop(self) -> None:
        """Shut down in the order stated in the module docstring."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close(close_connections=False)  # 1. stop accepting
        if self.dashboard is not None:
            await self.dashboard.stop()
        deadline = time.monotonic() + self.options.flush_timeout_s
        while any(not box.empty() for box in self._outboxes.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # 2. let queued messages go out (bounded)
        for connection in list(self._connections.values()):
            await connection.close(CLOSE_SHUTDOWN, "relay shutting down")
        if self._server is not None:
            await self._server.wait_closed()
        for forwarder in self.forwarders:  # 3. forwarders get a last chance to drain
            forwarder.notify()
        self._stop_forwarders.set()  # a forwarder finishes what it has, then returns
        if self._forwarder_tasks:
            await asyncio.wait(self._forwarder_tasks, timeout=self.options.drain_timeout_s)
        for task in [*self._tasks, *self._forwarder_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._forwarder_tasks, return_exceptions=True)
        for recorder in self._recorders.values():
            recorder.close()
        self._verifier.shutdown(wait=False, cancel_futures=True)
        self._save_state()  # 4. state last: nothing changes it any more

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # ---------------------------------------------------------------- connections

    async def _handle(self, connection: ServerConnection) -> None:
        client_id = f"c{next(self._ids)}"
        remote = str(connection.remote_address[0]) if connection.remote_address else "?"
        outbox = _Outbox(self.options.max_control_queue, self.options.max_telemetry_per_car)
        self._connections[client_id] = connection
        self._outboxes[client_id] = outbox
        writer = asyncio.create_task(self._write(client_id, connection, outbox))
        try:
            self._execute(self.core.connect(client_id, remote, self.now_s()))
            async for payload in connection:
                if isinstance(payload, str) and await self._refused_authentication(client_id, remote, payload):
                    continue
                self._execute(self.core.receive(client_id, payload, self.now_s()))
        except ConnectionClosed:
            pass
        finally:
            self._execute(self.core.disconnect(client_id, self.now_s()))
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self._connections.pop(client_id, None)
            self._outboxes.pop(client_id, None)

    async def _refused_authentication(self, client_id: str, remote: str, payload: str) -> bool:
        """Verify an `authenticate` message's token off the loop; True when the remote is blocked."""
        if '"authenticate"' not in payload[:64] or len(payload) > 4096:
            return False
        try:
            envelope = decode_message(payload)
        except ProtocolError:
            return False  # the core answers it with the right error
        if envelope.type is not MessageType.AUTHENTICATE:
            return False
        now = time.monotonic()
        if self.attempts.blocked(remote, now):
            error = ProtocolError(ErrorCode.RATE_LIMITED, "too many failed authentications from this address")
            self._execute([Send(client_id, error_message(error, envelope.id))])
            self._close(client_id, CLOSE_AUTH_FAILED, "too many failed authentications")
            return True
        token = str(envelope.data["token"])
        identity = await asyncio.get_running_loop().run_in_executor(self._verifier, self.tokens.verify, token)
        if identity is None:
            self.attempts.failed(remote, now)
        else:
            self.attempts.succeeded(remote)
        self._verified[token] = identity
        return False

    async def _write(self, client_id: str, connection: ServerConnection, outbox: _Outbox) -> None:
        try:
            while True:
                await connection.send(await outbox.get())
        except ConnectionClosed:
            return

    def _execute(self, actions: list[Action]) -> None:
        """Carry out the core's actions in order (a Persist is on disk before what follows it)."""
        persisted = False
        for action in actions:
            if isinstance(action, Persist):
                self.spool.append(action.key, action.kind, action.car_id, action.payload, time.time())
                persisted = True
            elif isinstance(action, Send):
                outbox = self._outboxes.get(action.client_id)
                if outbox is not None and not outbox.put(action):
                    logger.warning("client %s cannot keep up with control traffic: disconnecting", action.client_id)
                    self._close(action.client_id, CLOSE_SLOW_CONSUMER, "cannot keep up with control messages")
            elif isinstance(action, Close):
                self._close(action.client_id, action.code, action.reason)
            elif isinstance(action, StateChanged):
                self._save_state()
            elif isinstance(action, Frames):
                self._record(action)
                self._view(action)
        if persisted:
            for forwarder in self.forwarders:
                forwarder.notify()

    def _close(self, client_id: str, code: int, reason: str) -> None:
        connection = self._connections.get(client_id)
        self.core.disconnect(client_id, self.now_s())
        if connection is not None:
            self._spawn(connection.close(code, reason))

    def _record(self, frames: Frames) -> None:
        directory = self.options.record_dir
        if directory is None:
            return
        recorder = self._recorders.get(frames.car_id)
        if recorder is None:
            directory.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            first = self.core.session_info.get(frames.car_id, {"driver": "", "track": {"name": "unknown"}})
            try:
                recorder = SessionRecorder(directory / f"car{frames.car_id}-{stamp}.ibt", first)
            except RelayError as exc:
                logger.warning("car %d is not recorded: %s", frames.car_id, exc)
                return
            self._recorders[frames.car_id] = recorder
            self._recorded_session[frames.car_id] = first
        session = self.core.session_info.get(frames.car_id)
        if session is not None and self._recorded_session.get(frames.car_id) is not session:
            self._recorded_session[frames.car_id] = session  # a new driver, a new session: the file says so
            try:
                recorder.update_session(session)
            except RelayError as exc:
                logger.warning("car %d: session info not updated in the recording: %s", frames.car_id, exc)
        try:
            recorder.write(frames.block)
        except (RelayError, OSError) as exc:
            logger.warning("recording of car %d stopped: %s", frames.car_id, exc)
            self._recorders.pop(frames.car_id, None)

    def _view(self, frames: Frames) -> None:
        """The dashboard's lap tables, traces and maps learn from every new frame."""
        if self.dashboard is None:
            return
        session = self.core.session_info.get(frames.car_id)
        if session is not None:
            self.team_view.on_session(frames.car_id, session)
        self.team_view.feed(frames.car_id, frames.block)

    def _video_changed(self, stored: VideoItem | None, removed: Sequence[VideoItem]) -> None:
        """The video store changed (an upload on the dashboard site): forget what rotation removed,
        announce what arrived (to every client, and to the sinks through the spool)."""
        for item in removed:
            self.core.forget_video(item.car_id, item.segment_id)
        if stored is not None:
            self._execute(self.core.announce_video(stored.announcement(), self.now_s()))

    def _endpoint(self) -> RelayEndpoint:
        return RelayEndpoint(self.port, self.options.ssl_context is not None, self.relay_name)

    async def _ticker(self) -> None:
        while True:
            self._execute(self.core.tick(self.now_s()))
            await asyncio.sleep(TICK_S if self.core.has_rate_groups else 0.25)

    async def _relay_inbound(self, source: AsyncIterable[Envelope]) -> None:
        """Messages from inside the relay's world (the CrewChief coach replies): handed to the core."""
        async for envelope in source:
            try:
                self._execute(self.core.inject(envelope, self.now_s(), sender="coach"))
            except ProtocolError as exc:
                logger.warning("inbound %s refused: %s", envelope.type.value, exc.message)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _save_state(self) -> None:
        path = self.options.state_path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.core.state(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)


def _proposer(roster: Callable[[int], Sequence[str]]) -> Callable[[int, dict[str, Any], dict[str, Any]], Any]:
    def propose(car_id: int, session: dict[str, Any], strategy: dict[str, Any]) -> dict[str, Any] | None:
        return propose_stint_plan(session, strategy, roster(car_id))

    return propose
