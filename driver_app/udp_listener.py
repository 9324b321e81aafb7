"""The UDP port a UDP sim sends to, read with asyncio: the `DatagramSource` the F1 adapter listens through.

One job: move datagrams from a socket to the adapter. `UdpListener` binds the port (errors at once,
as `SimNotFoundError`), receives through an asyncio datagram endpoint on the running loop, stamps
each datagram with the caller's clock (`time.monotonic`, the pipeline's clock) and queues it until
the adapter's next `receive`. Everything else (decoding, ordering, loss) is the adapter's sans-I/O
core (`adapters.f1udp`). `f1_packets_arriving` listens briefly to tell whether an F1 game is sending
(how "auto" picks the F1 adapter), and `f1_adapter_options` builds what the adapter needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import select
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from adapters.datagrams import MAX_DATAGRAM_BYTES, Datagram
from adapters.errors import AdapterError, SimNotFoundError, TelemetryFormatError, UnknownPacketFormatError
from adapters.f1udp import DEFAULT_LISTEN, DEFAULT_PORT
from adapters.f1udp_packets import peek_header

logger = logging.getLogger(__name__)

MAX_QUEUED: Final = 20_000
"""Datagrams kept while nobody takes them (about 10 s of a 60 Hz F1 stream); older ones are dropped."""
RECEIVE_BUFFER_BYTES: Final = 1 << 20
"""The socket's receive buffer: bursts wait there while the loop is busy."""
DETECT_WAIT_S: Final = 0.25
"""How long `f1_packets_arriving` listens (F1 sends at least 10 packets a second while driving)."""


def parse_listen_address(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """ "HOST:PORT", "HOST", ":PORT" or "[IPv6]:PORT" as (host, port); ValueError with the reason."""
    value = text.strip()
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    host = host or "0.0.0.0"
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: the port must be 0-65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IP address (use 0.0.0.0 for every interface)") from None
    return host, port


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        with contextlib.suppress(OSError):  # a smaller buffer still works
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listener: UdpListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener._arrived(data)

    def error_received(self, exc: Exception) -> None:
        logger.debug("UDP receive error on %s: %s", self.listener.description, exc)


class UdpListener:
    """A UDP port as a `DatagramSource`; see the module docstring. `port=0` picks a free port
    (`address` tells which). `open()` needs a running asyncio loop in the calling thread."""

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.host, self.port = host, port
        self.clock = clock
        self.dropped = 0
        self.arrived = asyncio.Event()
        """Set when a datagram arrives, cleared by `receive` (await it instead of polling)."""
        self._queue: deque[Datagram] = deque()
        self._max_queued = max_queued
        self._sock: socket.socket | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._starting: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_address(cls, text: str, **options: Any) -> UdpListener:
        host, port = parse_listen_address(text)
        return cls(host, port, **options)

    @property
    def description(self) -> str:
        host, port = self.address
        return f"udp [{host}]:{port}" if ":" in host else f"udp {host}:{port}"

    @property
    def address(self) -> tuple[str, int]:
        """The address bound (the port chosen when 0 was asked for), or the one asked for."""
        if self._sock is not None:
            host, port = self._sock.getsockname()[:2]
            return str(host), int(port)
        return self.host, self.port

    @property
    def realtime(self) -> bool:
        return True

    @property
    def finished(self) -> bool:
        return False

    def open(self) -> None:
        """Bind now and start receiving on the running loop."""
        if self._sock is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise AdapterError("the UDP listener needs a running asyncio loop (use `await start()`)") from None
        try:
            self._sock = _bind(self.host, self.port)
        except OSError as exc:
            raise SimNotFoundError(
                f"cannot listen on udp {self.host}:{self.port}: {exc.strerror or exc} "
                "(is another telemetry app using the port?)"
            ) from exc
        self._loop = loop
        self._starting = loop.create_task(loop.create_datagram_endpoint(lambda: _Protocol(self), sock=self._sock))
        self._starting.add_done_callback(self._started)
        logger.info("listening for UDP telemetry on %s", self.description)

    async def start(self) -> None:
        """`open()`, then wait until the endpoint receives."""
        self.open()
        if self._starting is not None:
            await asyncio.shield(self._starting)

    def _started(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:
            logger.error("UDP listener on %s failed to start: %s", self.description, exc)
            return
        self._transport = task.result()[0]

    def _arrived(self, data: bytes) -> None:
        if len(self._queue) >= self._max_queued:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("UDP datagrams arrive faster than they are read; dropping the oldest")
        self._queue.append((data, self.clock()))
        self.arrived.set()

    def receive(self, now_s: float) -> list[Datagram]:
        self.arrived.clear()
        taken = list(self._queue)
        self._queue.clear()
        return taken

    def close(self) -> None:
        """Stop receiving and release the port (`open` binds it again)."""
        loop_alive = self._loop is not None and not self._loop.is_closed()
        if self._starting is not None and not self._starting.done() and loop_alive:
            self._starting.cancel()
        if self._transport is not None and loop_alive:
            self._transport.close()  # closes the socket too
        elif self._sock is not None:
            self._sock.close()  # the loop is gone (or never received): release the port directly
        self._transport = self._sock = self._starting = self._loop = None
        self._queue.clear()


def f1_packets_arriving(listen: str = DEFAULT_LISTEN, wait_s: float = DETECT_WAIT_S) -> bool:
    """Whether an F1 game is sending telemetry to `listen`: listens (blocking) up to `wait_s` for a
    datagram that starts like an F1 packet. False when the port cannot be bound (another program has it)."""
    try:
        host, port = parse_listen_address(listen)
        sock = _bind(host, port)
    except (OSError, ValueError) as exc:
        logger.debug("not looking for F1 telemetry on %s: %s", listen, exc)
        return False
    with sock:
        deadline = time.monotonic() + wait_s
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], remaining)
            if not readable:
                break
            try:
                data = sock.recv(MAX_DATAGRAM_BYTES)
                peek_header(data)
            except UnknownPacketFormatError:
                return True  # an F1 game, set to a format PitBox does not read: the adapter will say so
            except (TelemetryFormatError, OSError):
                continue
            else:
                return True
    return False


def f1_adapter_options(listen: str = DEFAULT_LISTEN) -> dict[str, Any]:
    """`base.create("f1", **options)` options that listen on `listen` ("HOST:PORT")."""
    return {"source": UdpListener.from_address(listen)}
