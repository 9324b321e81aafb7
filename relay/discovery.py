"""LAN discovery of relays with mDNS/DNS-SD (zeroconf): the relay advertises itself, clients browse.

The service type is `_pitbox-relay._tcp.local.`; the TXT record carries the protocol `version`, the
`tls` flag and `fp`, the SHA-256 fingerprint of the relay's certificate (see `relay.tls`). Never the
token: discovery only tells a client where relays are; joining one still needs an invite token.

A discovered fingerprint is only as trustworthy as the LAN (anyone on it can advertise); the
fingerprint in a pairing string, received over a trusted channel, is what a client should pin.
Discovery is a convenience for finding the host and port, and for warning when they disagree.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from zeroconf import BadTypeInNameException, InterfaceChoice, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from relay.errors import DiscoveryError
from relay.protocol import PROTOCOL_VERSION

logger = logging.getLogger(__name__)

SERVICE_TYPE: Final = "_pitbox-relay._tcp.local."
MAX_INSTANCE_BYTES: Final = 63
"""DNS-SD limit on an instance name (one DNS label), in UTF-8 bytes."""
RESOLVE_TIMEOUT_S: Final = 1.5
"""Longest wait for one relay's SRV/TXT/address records once it has been seen."""
_FINGERPRINT_RE: Final = re.compile(r"[0-9a-f]{64}")
_SLUG_RE: Final = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class DiscoveredRelay:
    """A relay found on the LAN. `fingerprint_sha256` is empty when it advertises no TLS."""

    name: str
    host: str
    port: int
    fingerprint_sha256: str
    tls: bool


def instance_name(name: str) -> str:
    """A DNS-SD instance name for `name`: dots replaced, at most 63 UTF-8 bytes, never empty."""
    cleaned = " ".join(name.replace(".", "-").split()) or "PitBox relay"
    raw = cleaned.encode("utf-8")[:MAX_INSTANCE_BYTES]
    return raw.decode("utf-8", errors="ignore").strip() or "PitBox relay"


def build_service_info(
    name: str, host_ip: str, port: int, fingerprint_sha256: str, *, tls: bool = True
) -> AsyncServiceInfo:
    """The service record a relay advertises (pure: no network). `DiscoveryError` for bad arguments."""
    try:
        address = ipaddress.ip_address(host_ip)
    except ValueError:
        raise DiscoveryError(f"advertise an IP address, not {host_ip!r}") from None
    if address.is_unspecified:
        raise DiscoveryError("advertise the address clients should use, not the wildcard address")
    if not 1 <= port <= 65535:
        raise DiscoveryError("the port must be in 1..65535")
    fingerprint = fingerprint_sha256.lower()
    if tls and not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise DiscoveryError("a TLS relay advertises its certificate fingerprint: 64 hexadecimal characters")
    instance = instance_name(name)
    slug = _SLUG_RE.sub("-", instance.lower()).strip("-")[:40] or "relay"
    digest = hashlib.sha256(f"{instance}|{address}|{port}".encode()).hexdigest()[:6]
    properties = {"version": str(PROTOCOL_VERSION), "tls": "1" if tls else "0", "fp": fingerprint if tls else ""}
    try:
        return AsyncServiceInfo(
            SERVICE_TYPE,
            f"{instance}.{SERVICE_TYPE}",
            port=port,
            properties=properties,
            server=f"pitbox-{slug}-{digest}.local.",
            addresses=[address.packed],
        )
    except BadTypeInNameException as exc:
        raise DiscoveryError(f"cannot advertise the name {instance!r}: {exc}") from None


def _interfaces(interfaces: Sequence[str] | None) -> list[str] | InterfaceChoice:
    return list(interfaces) if interfaces else InterfaceChoice.All


class RelayAdvertiser:
    """Advertises one relay on the LAN until `stop` (or the end of an `async with` block).

    `interfaces` limits the network interfaces (addresses) zeroconf uses; None means all of them.
    """

    __slots__ = ("_info", "_interfaces", "_zeroconf")

    def __init__(self, *, interfaces: Sequence[str] | None = None) -> None:
        self._interfaces = _interfaces(interfaces)
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    @property
    def service_name(self) -> str | None:
        """The full service name registered (zeroconf may add a suffix if the name was taken)."""
        return self._info.name if self._info is not None else None

    async def start(self, host_ip: str, port: int, fingerprint_sha256: str, name: str, *, tls: bool = True) -> None:
        """Register the relay's service. `DiscoveryError` if it is already running or zeroconf fails."""
        if self._zeroconf is not None:
            raise DiscoveryError("this advertiser is already running")
        info = build_service_info(name, host_ip, port, fingerprint_sha256, tls=tls)
        try:
            azc = AsyncZeroconf(interfaces=self._interfaces)
        except OSError as exc:
            raise DiscoveryError(f"cannot open the mDNS sockets: {exc}") from None
        try:
            await (await azc.async_register_service(info, allow_name_change=True))
        except (OSError, NonUniqueNameException) as exc:
            await azc.async_close()
            raise DiscoveryError(f"cannot advertise the relay: {exc}") from None
        self._zeroconf, self._info = azc, info
        logger.info("advertising %s at %s:%d on the LAN", info.name, host_ip, port)

    async def stop(self) -> None:
        """Withdraw the advertisement (says goodbye on the LAN) and close the sockets. Idempotent."""
        azc, info = self._zeroconf, self._info
        self._zeroconf = self._info = None
        if azc is None or info is None:
            return
        try:
            await (await azc.async_unregister_service(info))
        except OSError as exc:
            logger.warning("could not withdraw the LAN advertisement: %s", exc)
        finally:
            await azc.async_close()
        logger.info("stopped advertising %s", info.name)

    async def __aenter__(self) -> RelayAdvertiser:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def relay_from_info(info: AsyncServiceInfo) -> DiscoveredRelay | None:
    """A `DiscoveredRelay` from a resolved service record, or None if the record is incomplete or bad."""
    properties = info.decoded_properties
    tls = properties.get("tls") != "0"
    fingerprint = (properties.get("fp") or "").lower()
    if tls and not _FINGERPRINT_RE.fullmatch(fingerprint):
        logger.debug("ignoring %s: no valid certificate fingerprint in its TXT record", info.name)
        return None
    addresses = info.parsed_addresses()
    if not addresses or info.port is None:
        logger.debug("ignoring %s: no address or port", info.name)
        return None
    host = next((a for a in addresses if ipaddress.ip_address(a).version == 4), addresses[0])
    name = info.name.removesuffix("." + SERVICE_TYPE)
    return DiscoveredRelay(name=name, host=host, port=info.port, fingerprint_sha256=fingerprint if tls else "", tls=tls)


async def _resolve(zeroconf: Zeroconf, service_type: str, name: str, timeout_s: float) -> DiscoveredRelay | None:
    info = AsyncServiceInfo(service_type, name)
    if not await info.async_request(zeroconf, timeout_s * 1000):
        logger.debug("could not resolve %s within %.1f s", name, timeout_s)
        return None
    return relay_from_info(info)


async def discover_relays(timeout_s: float = 3.0, *, interfaces: Sequence[str] | None = None) -> list[DiscoveredRelay]:
    """Relays that answer on the LAN within `timeout_s` (plus up to `RESOLVE_TIMEOUT_S` to resolve the
    last ones seen), sorted by name. `DiscoveryError` if the mDNS sockets cannot be opened."""
    try:
        azc = AsyncZeroconf(interfaces=_interfaces(interfaces))
    except OSError as exc:
        raise DiscoveryError(f"cannot open the mDNS sockets: {exc}") from None
    loop = asyncio.get_running_loop()
    pending: dict[str, asyncio.Task[DiscoveredRelay | None]] = {}
    resolve_s = min(timeout_s, RESOLVE_TIMEOUT_S) if timeout_s > 0 else RESOLVE_TIMEOUT_S

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed and name not in pending:
            pending[name] = loop.create_task(_resolve(zeroconf, service_type, name, resolve_s))

    browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        await asyncio.sleep(timeout_s)
    finally:
        await browser.async_cancel()
        results = await asyncio.gather(*pending.values(), return_exceptions=True)
        await azc.async_close()
    relays: dict[str, DiscoveredRelay] = {}
    for result in results:
        if isinstance(result, DiscoveredRelay):
            relays[result.name] = result
        elif isinstance(result, BaseException):
            logger.debug("resolving a relay failed: %r", result)
    logger.debug("discovered %d relays", len(relays))
    return sorted(relays.values(), key=lambda relay: relay.name)
