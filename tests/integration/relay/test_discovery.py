"""LAN discovery (`relay.discovery`): the service record, and a real advertise/browse on loopback.

The network tests use multicast DNS on 127.0.0.1 only. If this machine cannot loop multicast back on
127.0.0.1 (some sandboxes and containers), they skip with the measured reason; if it can and the
relay is still not discovered, they fail.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest

from relay.discovery import (
    SERVICE_TYPE,
    DiscoveredRelay,
    RelayAdvertiser,
    build_service_info,
    discover_relays,
    instance_name,
    relay_from_info,
)
from relay.errors import DiscoveryError, RelayError
from relay.protocol import PROTOCOL_VERSION

pytestmark = pytest.mark.integration

FP = "0123456789abcdef" * 4
LOOPBACK = ["127.0.0.1"]
DISCOVER_S = 2.5
STEP_S = 15.0
"""Timeout of every network step (registration alone probes for about 1.7 s)."""


# --- the service record (no network) ------------------------------------------------------------


def test_service_info_carries_address_port_and_fingerprint_not_the_token() -> None:
    info = build_service_info("Team Red relay", "192.168.1.20", 8765, FP.upper())
    assert info.type == SERVICE_TYPE == "_pitbox-relay._tcp.local."
    assert info.name == f"Team Red relay.{SERVICE_TYPE}"
    assert info.port == 8765
    assert info.parsed_addresses() == ["192.168.1.20"]
    assert info.server is not None and info.server.endswith(".local.") and info.server.startswith("pitbox-team-red")
    assert info.decoded_properties == {"version": str(PROTOCOL_VERSION), "tls": "1", "fp": FP}
    assert set(info.decoded_properties) == {"version", "tls", "fp"}  # nothing secret can sneak in


def test_service_info_without_tls_has_no_fingerprint() -> None:
    info = build_service_info("Plain", "fd00::2", 80, "", tls=False)
    assert info.decoded_properties == {"version": str(PROTOCOL_VERSION), "tls": "0", "fp": ""}
    assert info.parsed_addresses() == ["fd00::2"]


def test_discovered_relay_from_a_service_record() -> None:
    assert relay_from_info(build_service_info("Team Red", "10.0.0.9", 9000, FP)) == DiscoveredRelay(
        name="Team Red", host="10.0.0.9", port=9000, fingerprint_sha256=FP, tls=True
    )
    assert relay_from_info(build_service_info("Plain", "10.0.0.9", 80, "", tls=False)) == DiscoveredRelay(
        name="Plain", host="10.0.0.9", port=80, fingerprint_sha256="", tls=False
    )


@pytest.mark.parametrize(
    ("host_ip", "port", "fingerprint", "message"),
    [
        ("relay.local", 8765, FP, "IP address"),
        ("0.0.0.0", 8765, FP, "wildcard"),
        ("::", 8765, FP, "wildcard"),
        ("10.0.0.1", 0, FP, "port"),
        ("10.0.0.1", 70000, FP, "port"),
        ("10.0.0.1", 8765, "abc", "fingerprint"),
        ("10.0.0.1", 8765, "", "fingerprint"),
    ],
)
def test_bad_advertisement_is_a_discovery_error(host_ip: str, port: int, fingerprint: str, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        build_service_info("Relay", host_ip, port, fingerprint)
    assert issubclass(DiscoveryError, RelayError)


def test_instance_names_fit_one_dns_label() -> None:
    assert instance_name("Team.Red   relay") == "Team-Red relay"
    assert instance_name("  ") == "PitBox relay"
    long = instance_name("é" * 100)
    assert len(long.encode("utf-8")) <= 63 and set(long) == {"é"}


# --- on the network (loopback) ------------------------------------------------------------------


def _loopback_multicast_problem() -> str | None:
    """Why multicast cannot loop back on 127.0.0.1 here, or None if it can (measured, not guessed)."""
    group = "224.0.0.251"
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as rx,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as tx,
        ):
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            rx.bind(("", 0))
            rx.setsockopt(
                socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
            )
            rx.settimeout(1.0)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            started = time.monotonic()
            tx.sendto(b"pitbox-probe", (group, rx.getsockname()[1]))
            data, _ = rx.recvfrom(64)
            if data != b"pitbox-probe":
                return "a multicast probe on 127.0.0.1 came back altered"
            if time.monotonic() - started > 1.0:
                return "a multicast probe on 127.0.0.1 took over a second"
    except TimeoutError:
        return "a multicast datagram sent on 127.0.0.1 did not loop back within 1 s"
    except OSError as exc:
        return f"cannot use multicast on 127.0.0.1: {exc}"
    return None


@pytest.fixture(scope="module")
def multicast() -> None:
    if (problem := _loopback_multicast_problem()) is not None:
        pytest.skip(f"no loopback multicast on this machine, so no mDNS test: {problem}")


@pytest.mark.slow
@pytest.mark.usefixtures("multicast")
def test_advertised_relays_are_discovered_and_withdrawn() -> None:
    tag = uuid.uuid4().hex[:8]
    secure_name, plain_name = f"PitBox test {tag} tls", f"PitBox test {tag} plain"

    async def main() -> tuple[list[DiscoveredRelay], list[DiscoveredRelay]]:
        secure = RelayAdvertiser(interfaces=LOOPBACK)
        plain = RelayAdvertiser(interfaces=LOOPBACK)
        try:
            async with asyncio.timeout(STEP_S):
                await asyncio.gather(
                    secure.start("127.0.0.1", 48765, FP, secure_name),
                    plain.start("127.0.0.1", 48766, "", plain_name, tls=False),
                )
            assert secure.service_name == f"{secure_name}.{SERVICE_TYPE}"
            with pytest.raises(DiscoveryError, match="already running"):
                await secure.start("127.0.0.1", 48765, FP, secure_name)
            async with asyncio.timeout(STEP_S):
                found = await discover_relays(DISCOVER_S, interfaces=LOOPBACK)
        finally:
            async with asyncio.timeout(STEP_S):
                await secure.stop()
                await plain.stop()
                await secure.stop()  # idempotent
        async with asyncio.timeout(STEP_S):
            after = await discover_relays(DISCOVER_S, interfaces=LOOPBACK)
        return found, after

    found, after = asyncio.run(main())
    ours = [relay for relay in found if tag in relay.name]
    assert ours == [
        DiscoveredRelay(name=plain_name, host="127.0.0.1", port=48766, fingerprint_sha256="", tls=False),
        DiscoveredRelay(name=secure_name, host="127.0.0.1", port=48765, fingerprint_sha256=FP, tls=True),
    ], f"own advertisements not discovered on 127.0.0.1 (found: {found})"
    assert not [relay for relay in after if tag in relay.name]


@pytest.mark.usefixtures("multicast")
def test_discovery_with_nothing_advertised_returns_in_time() -> None:
    async def main() -> list[DiscoveredRelay]:
        async with asyncio.timeout(STEP_S):
            return await discover_relays(0.5, interfaces=LOOPBACK)

    started = time.monotonic()
    found = asyncio.run(main())
    assert time.monotonic() - started < 5.0
    assert all(isinstance(relay, DiscoveredRelay) for relay in found)
