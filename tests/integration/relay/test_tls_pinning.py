"""A real TLS WebSocket server on 127.0.0.1 and clients that pin its certificate (`relay.tls`)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidHandshake
from websockets.http11 import Request
from websockets.protocol import State

from relay.errors import CertificateError
from relay.tls import CertificateFiles, client_ssl_context, ensure_certificate, server_ssl_context, verify_peer

pytestmark = pytest.mark.integration

STEP_S = 5.0
"""Timeout of every network step."""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return ensure_certificate(tmp_path_factory.mktemp("tls"), ["localhost", "127.0.0.1"])


def _run_with_server(
    files: CertificateFiles, body: Callable[[int, list[str]], Awaitable[None]]
) -> tuple[int, list[str]]:
    """Run `body(port, received)` against an echo server; returns how many HTTP upgrade requests
    reached it and the messages it received."""
    received: list[str] = []
    requests: list[str] = []

    def process_request(connection: ServerConnection, request: Request) -> None:
        requests.append(request.path)

    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            assert isinstance(message, str)
            received.append(message)
            await connection.send(f"echo {message}")

    async def main() -> None:
        async with asyncio.timeout(STEP_S):
            server = await serve(
                handler, "127.0.0.1", 0, ssl=server_ssl_context(files), process_request=process_request
            )
        try:
            port = next(s.getsockname()[1] for s in server.sockets if s.family == socket.AF_INET)
            await body(port, received)
        finally:
            server.close()
            async with asyncio.timeout(STEP_S):
                await server.wait_closed()

    asyncio.run(main())
    return len(requests), received


async def _exchange(client: ClientConnection, text: str) -> str:
    async with asyncio.timeout(STEP_S):
        await client.send(text)
        reply = await client.recv()
    assert isinstance(reply, str)
    return reply


def test_right_fingerprint_connects_and_exchanges(files: CertificateFiles) -> None:
    async def body(port: int, received: list[str]) -> None:
        context = client_ssl_context(files.fingerprint_sha256)
        async with connect(f"wss://127.0.0.1:{port}", ssl=context, open_timeout=STEP_S, close_timeout=STEP_S) as client:
            verify_peer(client, files.fingerprint_sha256)
            verify_peer(client.transport, files.fingerprint_sha256.upper())
            assert await _exchange(client, "hello") == "echo hello"
            ssl_object = client.transport.get_extra_info("ssl_object")
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")

    assert _run_with_server(files, body) == (1, ["hello"])


def test_wrong_fingerprint_fails_the_handshake_before_any_data(files: CertificateFiles) -> None:
    """The pinned context refuses the relay inside the TLS handshake: no HTTP request, no token, leaves."""

    async def body(port: int, received: list[str]) -> None:
        context = client_ssl_context("0" * 64)
        with pytest.raises(CertificateError, match="does not match"):
            async with connect(f"wss://127.0.0.1:{port}", ssl=context, open_timeout=STEP_S) as client:
                await client.send("secret token")  # never reached
        # The server is unharmed: a correctly pinned client still gets through.
        good = client_ssl_context(files.fingerprint_sha256)
        async with connect(f"wss://127.0.0.1:{port}", ssl=good, open_timeout=STEP_S, close_timeout=STEP_S) as client:
            assert await _exchange(client, "after") == "echo after"

    assert _run_with_server(files, body) == (1, ["after"])  # only the good client's request


def test_verify_peer_catches_a_wrong_fingerprint_and_the_client_closes(files: CertificateFiles) -> None:
    """With a context that does not pin (any CERT_NONE context), `verify_peer` is the check."""

    async def body(port: int, received: list[str]) -> None:
        unpinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unpinned.check_hostname = False
        unpinned.verify_mode = ssl.CERT_NONE
        async with connect(
            f"wss://127.0.0.1:{port}", ssl=unpinned, open_timeout=STEP_S, close_timeout=STEP_S
        ) as client:
            with pytest.raises(CertificateError, match="does not match"):
                verify_peer(client, "f" * 64)
            async with asyncio.timeout(STEP_S):
                await client.close()
            assert client.state is State.CLOSED
        async with connect(
            f"wss://127.0.0.1:{port}", ssl=unpinned, open_timeout=STEP_S, close_timeout=STEP_S
        ) as client:
            verify_peer(client, files.fingerprint_sha256)

    assert _run_with_server(files, body) == (2, [])


def test_plain_websocket_to_the_tls_port_fails(files: CertificateFiles) -> None:
    async def body(port: int, received: list[str]) -> None:
        with pytest.raises((InvalidHandshake, OSError, TimeoutError)):
            async with connect(f"ws://127.0.0.1:{port}", open_timeout=STEP_S) as client:
                await client.send("plain")

    assert _run_with_server(files, body) == (0, [])


def test_blocking_socket_with_the_pinned_context(files: CertificateFiles) -> None:
    """The pin also holds for a plain (blocking) `ssl` socket, e.g. a health check from a thread."""

    def handshake(port: int, fingerprint: str) -> str | None:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=STEP_S) as raw,
            client_ssl_context(fingerprint).wrap_socket(raw) as tls,
        ):
            return tls.version()

    async def body(port: int, received: list[str]) -> None:
        async with asyncio.timeout(STEP_S):
            assert await asyncio.to_thread(handshake, port, files.fingerprint_sha256) in ("TLSv1.2", "TLSv1.3")
        async with asyncio.timeout(STEP_S):
            with pytest.raises(CertificateError, match="does not match"):
                await asyncio.to_thread(handshake, port, "1" * 64)

    assert _run_with_server(files, body) == (0, [])


def test_pairing_fingerprint_matches_what_the_server_presents(files: CertificateFiles) -> None:
    """`ensure_certificate` reused by a restarted relay: old pairing strings still pin the right cert."""
    again = ensure_certificate(files.cert_path.parent, ["something-else.local"])
    assert again.fingerprint_sha256 == files.fingerprint_sha256

    async def body(port: int, received: list[str]) -> None:
        context = client_ssl_context(files.fingerprint_sha256)
        async with connect(f"wss://127.0.0.1:{port}", ssl=context, open_timeout=STEP_S, close_timeout=STEP_S) as client:
            assert await _exchange(client, "restarted") == "echo restarted"

    assert _run_with_server(again, body) == (1, ["restarted"])
