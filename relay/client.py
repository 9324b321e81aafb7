"""`RelayClient`: the driver's (and any tool's) connection to the relay, which never loses a batch.

Frames handed to `send_frames` go into a bounded buffer (memory, spilling to disk beyond
`memory_batches`) and stay there until the relay acknowledges their sequence number. Sequence
numbers are given when a batch first goes out, continuing from the relay's last seq for the car
(told in `authentication_result`), so a restarted app does not collide with what the relay has.
After a reconnect (exponential backoff with jitter, capped) every unacknowledged batch is sent
again, in order; the relay drops duplicates by seq and acknowledges them again.

Control messages (session info, strategy, handoff answers) are queued while offline and sent on
reconnect. Everything the relay sends is delivered on `incoming` as `Envelope`s; binary telemetry
(for viewers) as `TelemetryBatch`es on `telemetry`; `subscribed` is set once the relay has
acknowledged the subscription, so telemetry sent from then on reaches this client. TLS:
`fingerprint_sha256` from the pairing string pins the relay's self-signed certificate (checked
inside the handshake, before the token is sent); a relay with another certificate is refused for
good, not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from adapters.model import CAR_DTYPE, FRAME_DTYPE, FrameBlock
from relay.auth import RateLimiter
from relay.errors import CertificateError
from relay.protocol import (
    ALL_CHANNELS,
    Envelope,
    ErrorCode,
    MessageType,
    ProtocolError,
    TelemetryBatch,
    decode_batch,
    decode_message,
    encode_batch,
    encode_message,
)
from relay.tls import client_ssl_context

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_S: Final = 0.2
BACKOFF_MAX_S: Final = 10.0
MAX_IN_FLIGHT: Final = 64
"""Batches sent and not yet acknowledged at most (the rest wait in the buffer)."""
SEND_RATE_PER_S: Final = 200.0
SEND_BURST: Final = 100.0
"""Pacing of batches, below the relay's limit (240/s): catching up after an outage stays accepted."""
RATE_LIMITED_BACKOFF_S: Final = 0.25
ACK_TIMEOUT_S: Final = 3.0
"""Batches in flight and no acknowledgement for this long: send them again."""
WAKE_AT_LEAST_S: Final = 0.5
SUBSCRIBE_ID: Final = "sub"
"""Envelope id of the subscription, which the relay's acknowledgement carries back."""


@dataclass(slots=True)
class _Entry:
    block: FrameBlock | None
    """In memory, or None while spilled to `path`."""
    frames: int
    path: Path | None = None
    seq: int | None = None


@dataclass(slots=True)
class ClientStats:
    batches_queued: int = 0
    batches_sent: int = 0
    batches_resent: int = 0
    batches_acked: int = 0
    frames_queued: int = 0
    frames_acked: int = 0
    connects: int = 0
    spilled: int = 0
    rewinds: int = 0


class RelayClient:
    """Connect, authenticate, stream and resend. Start with `start()`, end with `close()`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        car_id: int | None = None,
        fingerprint_sha256: str | None = None,
        codec: str = "auto",
        channel_mask: int = ALL_CHANNELS,
        include_cars: bool = False,
        memory_batches: int = 600,
        max_batches: int = 36_000,
        spill_dir: Path | None = None,
        subscribe: dict[str, Any] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self.car_id = car_id
        self.fingerprint_sha256 = fingerprint_sha256
        self.codec = codec
        self.channel_mask = channel_mask
        self.include_cars = include_cars
        self.memory_batches = memory_batches
        self.max_batches = max_batches
        self.spill_dir = spill_dir
        self.subscribe_request = subscribe
        self._ssl = ssl_context
        self.stats = ClientStats()
        self.incoming: asyncio.Queue[Envelope] = asyncio.Queue()
        self.telemetry: asyncio.Queue[TelemetryBatch] = asyncio.Queue(maxsize=1000)
        self.identity: dict[str, Any] | None = None
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self._buffer: deque[_Entry] = deque()
        self._control: deque[str] = deque()
        self._next_seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._spill_counter = 0
        self._sent_upto = 0
        self._rewind_at: float | None = None
        self._last_progress_s = 0.0
        self.on_state: Callable[[str], None] | None = None

    # ---------------------------------------------------------------- API

    @property
    def unacked(self) -> int:
        """Batches waiting for the relay's acknowledgement (sent or not)."""
        return len(self._buffer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self, *, flush_timeout_s: float = 0.0) -> None:
        """Stop; with `flush_timeout_s`, first wait (bounded) for every batch to be acknowledged."""
        if flush_timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_acked(), flush_timeout_s)
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_acked(self) -> None:
        while self._buffer:
            self._wake.clear()
            await self._wake.wait()

    def send_frames(self, block: FrameBlock) -> None:
        """Queue frames of this client's car; they are sent, and resent, until acknowledged.

        The car is the one given, or else the one the relay's invite names (known once connected).
        """
        if len(block) == 0:
            return
        if len(self._buffer) >= self.max_batches:
            dropped = self._buffer.popleft()
            logger.error("relay buffer full (%d batches): the oldest unsent batch is dropped", self.max_batches)
            self._forget(dropped)
        entry = _Entry(block, len(block))
        self._buffer.append(entry)
        self.stats.batches_queued += 1
        self.stats.frames_queued += len(block)
        if self.spill_dir is not None and len(self._buffer) > self.memory_batches:
            self._spill(self._buffer[len(self._buffer) - self.memory_batches - 1])
        self._wake.set()

    def send_control(self, envelope: Envelope) -> None:
        """Queue a control message (kept while offline, sent on reconnect)."""
        self._control.append(encode_message(envelope))
        self._wake.set()

    # ---------------------------------------------------------------- the connection

    async def _run(self) -> None:
        delay = BACKOFF_INITIAL_S
        while not self._closing:
            try:
                await self._session()
                delay = BACKOFF_INITIAL_S
            except CertificateError as exc:
                # Not the relay of the pairing string (or a man in the middle): retrying cannot help.
                logger.error("relay certificate refused: %s", exc)
                self._closing = True
            except (OSError, TimeoutError, ProtocolError, ConnectionError) as exc:
                logger.info("relay connection lost: %s", exc)
            except Exception as exc:  # websockets' own errors: InvalidStatus, ConnectionClosed...
                if type(exc).__module__.startswith("websockets"):
                    logger.info("relay connection lost: %s", exc)
                else:
                    raise
            self.connected.clear()
            self.subscribed.clear()
            self._notify("offline")
            if self._closing:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _session(self) -> None:
        ssl_context = self._ssl
        if ssl_context is None and self.url.startswith("wss://"):
            if self.fingerprint_sha256 is None:
                self._closing = True
                raise ProtocolError(ErrorCode.AUTH_FAILED, "wss:// needs the relay's certificate fingerprint")
            ssl_context = client_ssl_context(self.fingerprint_sha256)
        async with connect(
            self.url, ssl=ssl_context, open_timeout=5, max_size=2**21, compression=None, ping_interval=10
        ) as ws:
            hello = decode_message(await asyncio.wait_for(ws.recv(), 5))
            if hello.type is not MessageType.CONNECTION_ESTABLISHED:
                raise ProtocolError(ErrorCode.BAD_ENVELOPE, "the relay did not greet")
            await ws.send(encode_message(Envelope(MessageType.AUTHENTICATE, "auth", {"token": self._token})))
            result = decode_message(await asyncio.wait_for(ws.recv(), 5))
            if result.type is not MessageType.AUTHENTICATION_RESULT or not result.data.get("ok"):
                self._closing = True  # a refused token does not get better by retrying
                raise ProtocolError(ErrorCode.AUTH_FAILED, str(result.data.get("error", "authentication refused")))
            self.identity = dict(result.data)
            if self.car_id is None and isinstance(result.data.get("car_id"), int):
                self.car_id = int(result.data["car_id"])  # a driver's invite names the car
            self.stats.connects += 1
            self._adopt_relay_seq(result.data.get("last_seq"))
            if self.subscribe_request is not None:
                await ws.send(encode_message(Envelope(MessageType.SUBSCRIBE, SUBSCRIBE_ID, self.subscribe_request)))
            self.connected.set()
            self._notify("connected")
            # Everything unacknowledged goes again, in order, with the seq it first went out with.
            self.stats.batches_resent += sum(1 for entry in self._buffer if entry.seq is not None)
            self._sent_upto = 0
            sender = asyncio.create_task(self._send_loop(ws))
            try:
                async for message in ws:
                    self._on_message(message)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    async def _send_loop(self, ws: ClientConnection) -> None:
        # `_sent_upto`: buffer index of the next batch to send on this connection (everything before
        # it is in flight; `_acked` moves it back as acknowledged batches leave the buffer's head).
        # Sending is paced below the relay's batch rate limit; a refusal from the relay (too fast, or
        # a gap) or acknowledgements that stop coming send everything unacknowledged again.
        pace = RateLimiter(SEND_RATE_PER_S, SEND_BURST)
        loop = asyncio.get_running_loop()
        self._last_progress_s = loop.time()
        while True:
            while self._control:
                await ws.send(self._control[0])
                self._control.popleft()
            now = loop.time()
            if self._rewind_at is not None and now >= self._rewind_at:
                self._rewind_at = None
                self._sent_upto = 0
                self.stats.rewinds += 1
            if self._sent_upto and now - self._last_progress_s > ACK_TIMEOUT_S:
                self._sent_upto = 0  # nothing acknowledged for a while: assume the relay missed some
                self._last_progress_s = now
                self.stats.rewinds += 1
            if self._sent_upto < len(self._buffer) and self._sent_upto < MAX_IN_FLIGHT and self.car_id is not None:
                if not pace.allow(now):
                    await asyncio.sleep(1.0 / SEND_RATE_PER_S)
                    continue
                data = self._encode(self._buffer[self._sent_upto])
                if self._sent_upto == 0:
                    self._last_progress_s = now  # the ack clock starts with the first batch in flight
                await ws.send(data)
                self.stats.batches_sent += 1
                self._sent_upto += 1
                continue
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set (close() does both), and the loop would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAKE_AT_LEAST_S):
                    await self._wake.wait()

    def _encode(self, entry: _Entry) -> bytes:
        if entry.seq is None:
            entry.seq = self._next_seq
            self._next_seq = (self._next_seq + 1) & 0xFFFFFFFF
        block = entry.block if entry.block is not None else self._load(entry)
        assert self.car_id is not None
        batch = TelemetryBatch(self.car_id, entry.seq, block, self.channel_mask)
        return encode_batch(batch, codec=self.codec, include_cars=self.include_cars)

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            try:
                batch = decode_batch(message)
            except ProtocolError as exc:
                logger.warning("bad telemetry batch from the relay: %s", exc)
                return
            if self.telemetry.full():
                self.telemetry.get_nowait()  # a slow reader sees the newest data
            self.telemetry.put_nowait(batch)
            return
        envelope = decode_message(message)
        if envelope.type is MessageType.ACK and envelope.id == SUBSCRIBE_ID:
            self.subscribed.set()  # batches the relay takes in from now on are forwarded here
        if envelope.type is MessageType.ACK and "seq" in envelope.data and envelope.data.get("car_id") == self.car_id:
            self._acked(int(envelope.data["seq"]))
            return
        if envelope.type is MessageType.ERROR and envelope.data.get("ref", "").startswith("seq:"):
            # A batch refused for flow control (too fast, or after a gap): send again from the
            # first unacknowledged batch, a little later.
            delay = RATE_LIMITED_BACKOFF_S if envelope.data.get("code") == ErrorCode.RATE_LIMITED.value else 0.05
            if self._rewind_at is None:
                self._rewind_at = asyncio.get_running_loop().time() + delay
            logger.debug("relay refused batch %s: %s", envelope.data.get("ref"), envelope.data.get("code"))
            self._wake.set()
            return
        self.incoming.put_nowait(envelope)

    def _acked(self, seq: int) -> None:
        removed = 0
        while self._buffer and self._buffer[0].seq is not None and _seq_le(self._buffer[0].seq, seq):
            entry = self._buffer.popleft()
            self.stats.frames_acked += entry.frames
            self._forget(entry)
            removed += 1
        self.stats.batches_acked += removed
        self._sent_upto = max(0, self._sent_upto - removed)
        if removed:
            self._last_progress_s = asyncio.get_running_loop().time()
            self._wake.set()

    def _adopt_relay_seq(self, last_seq: Any) -> None:
        if isinstance(last_seq, int) and last_seq >= 0:
            # Batches numbered before the relay's last seq reached it already: drop them.
            self._acked(last_seq)
            if self._next_seq <= last_seq:
                self._next_seq = (last_seq + 1) & 0xFFFFFFFF

    # ---------------------------------------------------------------- disk spill

    def _spill(self, entry: _Entry) -> None:
        if entry.block is None or self.spill_dir is None:
            return
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._spill_counter += 1
        path = self.spill_dir / f"batch-{self._spill_counter:09d}.npz"
        arrays: dict[str, Any] = {"frames": entry.block.frames}
        if entry.block.cars is not None:
            arrays["cars"] = entry.block.cars
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
        entry.block, entry.path = None, path
        self.stats.spilled += 1

    def _load(self, entry: _Entry) -> FrameBlock:
        assert entry.path is not None
        with np.load(entry.path, allow_pickle=False) as data:
            frames = data["frames"].astype(FRAME_DTYPE)
            cars = data["cars"].astype(CAR_DTYPE) if "cars" in data else None
        return FrameBlock(frames, cars)

    def _forget(self, entry: _Entry) -> None:
        if entry.path is not None:
            entry.path.unlink(missing_ok=True)

    def _notify(self, state: str) -> None:
        if self.on_state is not None:
            self.on_state(state)


def _seq_le(a: int, b: int) -> bool:
    """a <= b in 32-bit serial-number arithmetic (a stream may wrap after 2^32 batches)."""
    return ((b - a) & 0xFFFFFFFF) < 0x80000000
