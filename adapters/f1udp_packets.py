"""Decoding one EA SPORTS F1 datagram: its header, the packet behind it, and event details.

One job: bytes of one datagram in, typed values out, with the layout chosen by the header's
`packet_format` (`adapters.f1udp_layouts`). Pure functions, no state: `peek_header` reads only the
header, `decode_packet` the whole packet as a numpy record (no copy), `decode_event` an event's code
and details. Anything that is not an F1 packet in a supported format raises from the adapters'
error hierarchy: `UnknownPacketFormatError` for a format these tables do not describe,
`TelemetryFormatError` for a datagram too short, of the wrong size, or with an unknown packet id.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from adapters.errors import TelemetryFormatError, UnknownPacketFormatError
from adapters.f1udp_layouts import (
    EVENT_DETAIL_LAYOUTS,
    EVENT_NAMES,
    HEADERS,
    PACKET_LAYOUTS,
    SUPPORTED_FORMATS,
    PacketId,
)

_FORMAT: Final = struct.Struct("<H")
NOT_DECODED: Final = frozenset(
    {
        PacketId.FINAL_CLASSIFICATION,
        PacketId.LOBBY_INFO,
        PacketId.TYRE_SETS,
        PacketId.TIME_TRIAL,
        PacketId.LAP_POSITIONS,
    }
)
"""Packets PitBox knows but does not read (nothing in the canonical model needs them)."""
F1_FORMAT_YEARS: Final = range(2017, 2100)
"""Packet formats an F1 game may send: outside them, the datagram is not F1 telemetry at all."""
_KINDS: Final = {int(kind): kind for kind in PacketId}
_HEADER_NAMES: Final = {fmt: tuple(f.name for f in layout.fields) for fmt, layout in HEADERS.items()}


@dataclass(frozen=True, slots=True)
class PacketHeader:
    """The header every F1 datagram starts with (`game_year` and `overall_frame_identifier` exist
    from format 2023; before it they are 0 and the frame identifier)."""

    packet_format: int
    game_year: int
    game_major_version: int
    game_minor_version: int
    packet_version: int
    packet_id: int
    session_uid: int
    session_time_s: float
    frame_identifier: int
    overall_frame_identifier: int
    player_car_index: int
    secondary_player_car_index: int

    @property
    def game_version(self) -> str:
        return f"{self.game_major_version}.{self.game_minor_version:02d}"

    @property
    def kind(self) -> PacketId | None:
        """The packet id as a `PacketId`, or None for an id no format defines."""
        return _KINDS.get(self.packet_id)

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind
        return {
            "packet_format": self.packet_format,
            "game_year": self.game_year,
            "game_version": self.game_version,
            "packet_version": self.packet_version,
            "packet_id": self.packet_id,
            "packet": kind.name.lower() if kind is not None else None,
            "session_uid": self.session_uid,
            "session_time_s": self.session_time_s,
            "frame_identifier": self.frame_identifier,
            "overall_frame_identifier": self.overall_frame_identifier,
            "player_car_index": self.player_car_index,
            "secondary_player_car_index": self.secondary_player_car_index,
        }


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded datagram: its header and the whole packet as a record of its layout."""

    header: PacketHeader
    kind: PacketId
    record: np.void = field(repr=False)
    """Fields named as in `adapters.f1udp_layouts` (e.g. `record["cars"]["speed_kph"]`); a read-only
    view of the datagram's bytes."""


@dataclass(frozen=True, slots=True)
class F1Event:
    """An event packet: its four-letter code and the details that code carries."""

    code: str
    session_time_s: float
    frame_identifier: int
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return EVENT_NAMES.get(self.code, f"unknown event {self.code!r}")


def packet_format_of(datagram: bytes) -> int:
    """The first two bytes of a datagram as the F1 packet format (TelemetryFormatError if shorter)."""
    if len(datagram) < _FORMAT.size:
        raise TelemetryFormatError(f"a datagram of {len(datagram)} bytes is not an F1 packet")
    value: int = _FORMAT.unpack_from(datagram)[0]
    return value


def peek_header(datagram: bytes) -> PacketHeader:
    """The header of one datagram; raises UnknownPacketFormatError or TelemetryFormatError."""
    packet_format = packet_format_of(datagram)
    layout = HEADERS.get(packet_format)
    if layout is None and packet_format not in F1_FORMAT_YEARS:
        raise TelemetryFormatError(f"a datagram starting with {datagram[:4].hex()} is not an F1 packet")
    if layout is None:
        supported = f"{SUPPORTED_FORMATS[0]}-{SUPPORTED_FORMATS[-1]}"
        raise UnknownPacketFormatError(
            f"F1 UDP packet format {packet_format} is not one PitBox reads ({supported})", packet_format
        )
    if len(datagram) < layout.size:
        raise TelemetryFormatError(f"a datagram of {len(datagram)} bytes is shorter than an F1 {packet_format} header")
    values = dict(zip(_HEADER_NAMES[packet_format], layout.struct.unpack_from(datagram), strict=True))
    values.setdefault("game_year", 0)
    values.setdefault("overall_frame_identifier", values["frame_identifier"])
    return PacketHeader(**values)


def decode_packet(datagram: bytes, header: PacketHeader | None = None) -> Packet | None:
    """One datagram as a `Packet`; None for a valid packet PitBox does not read (`NOT_DECODED`).

    Raises UnknownPacketFormatError for an unsupported format, TelemetryFormatError for a datagram
    of the wrong size or with a packet id its format does not define.
    """
    header = header if header is not None else peek_header(datagram)
    kind = header.kind
    layouts = PACKET_LAYOUTS[header.packet_format]
    if kind is None or (kind not in layouts and kind not in NOT_DECODED):
        raise TelemetryFormatError(f"F1 {header.packet_format} has no packet id {header.packet_id}")
    if kind in NOT_DECODED:
        return None
    layout = layouts[kind]
    if len(datagram) != layout.size:
        raise TelemetryFormatError(
            f"F1 {header.packet_format} {kind.name.lower()} packet of {len(datagram)} bytes (expected {layout.size})"
        )
    return Packet(header, kind, layout.decode(datagram))


def decode_event(packet: Packet) -> F1Event:
    """The code and details of an event packet (details empty for codes that carry none)."""
    if packet.kind is not PacketId.EVENT:
        raise ValueError(f"not an event packet: {packet.kind.name}")
    raw_code = bytes(packet.record["event_string_code"])
    code = raw_code.decode("ascii", "replace")
    layout = EVENT_DETAIL_LAYOUTS[packet.header.packet_format].get(code)
    details: dict[str, Any] = {}
    if layout is not None:
        raw = bytes(packet.record["event_details"]).ljust(layout.size, b"\0")
        details = layout.unpack(raw)
    return F1Event(code, packet.header.session_time_s, packet.header.frame_identifier, details)
