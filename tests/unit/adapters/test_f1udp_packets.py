"""Decoding single F1 datagrams: headers of every format, packet sizes, unknown formats, event details."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from adapters.errors import TelemetryFormatError, UnknownPacketFormatError
from adapters.f1udp_layouts import PACKET_LAYOUTS, PacketId
from adapters.f1udp_packets import F1Event, decode_event, decode_packet, peek_header
from tests.support.f1_session import SESSION_UID, build_packet


@pytest.mark.parametrize("packet_format", [2021, 2022, 2023, 2024, 2025])
def test_the_header_is_read_by_the_packet_format_in_its_first_two_bytes(packet_format: int) -> None:
    data = build_packet(packet_format, PacketId.CAR_TELEMETRY, frame=4242, time_s=12.5, player=7)
    header = peek_header(data)
    assert header.packet_format == packet_format
    assert header.kind is PacketId.CAR_TELEMETRY
    assert (header.session_uid, header.frame_identifier, header.player_car_index) == (SESSION_UID, 4242, 7)
    assert header.session_time_s == 12.5
    assert header.game_version == "1.07"
    assert header.game_year == (0 if packet_format < 2023 else packet_format - 2000)
    assert header.overall_frame_identifier == 4242


def test_a_format_pitbox_does_not_read_is_its_own_error_saying_which() -> None:
    data = struct.pack("<H", 2020) + bytes(1300)
    with pytest.raises(UnknownPacketFormatError, match="format 2020") as raised:
        peek_header(data)
    assert raised.value.packet_format == 2020
    assert isinstance(raised.value, TelemetryFormatError)  # one hierarchy: callers may catch either


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01", "not an F1 packet"),
        (struct.pack("<H", 2024) + bytes(10), "shorter than an F1 2024 header"),
    ],
)
def test_a_datagram_too_short_is_a_format_error(data: bytes, message: str) -> None:
    with pytest.raises(TelemetryFormatError, match=message):
        decode_packet(data)


def test_a_packet_of_the_wrong_size_for_its_format_is_refused() -> None:
    data = build_packet(2023, PacketId.LAP_DATA, frame=1, time_s=0.0)
    with pytest.raises(TelemetryFormatError, match=r"lap_data packet of 1130 bytes \(expected 1131\)"):
        decode_packet(data[:-1])


def test_an_unknown_packet_id_is_refused_and_known_unread_ones_are_skipped() -> None:
    header = bytearray(build_packet(2024, PacketId.EVENT, frame=1, time_s=0.0))
    header[6] = 8  # final classification: a real packet PitBox does not read
    assert decode_packet(bytes(header)) is None
    header[6] = 40
    with pytest.raises(TelemetryFormatError, match="no packet id 40"):
        decode_packet(bytes(header))


def test_a_packet_is_a_view_of_the_datagram_with_every_field_of_its_layout() -> None:
    def fill(records: np.ndarray) -> None:
        records["cars"]["speed_kph"][0, 3] = 311
        records["cars"]["tyres_pressure_psi"][0, 3] = [21.0, 21.5, 23.0, 23.5]

    packet = decode_packet(build_packet(2022, PacketId.CAR_TELEMETRY, frame=9, time_s=1.0, player=3, fill=fill))
    assert packet is not None and packet.kind is PacketId.CAR_TELEMETRY
    me = packet.record["cars"][packet.header.player_car_index]
    assert me["speed_kph"] == 311
    assert me["tyres_pressure_psi"].tolist() == [21.0, 21.5, 23.0, 23.5]


def _event(packet_format: int, code: bytes, details: bytes) -> bytes:
    def fill(records: np.ndarray) -> None:
        records["event_string_code"] = code
        records["event_details"] = details

    return build_packet(packet_format, PacketId.EVENT, frame=5, time_s=3.0, fill=fill)


def _decoded_event(data: bytes) -> F1Event:
    packet = decode_packet(data)
    assert packet is not None
    return decode_event(packet)


def test_event_details_are_read_with_the_layout_of_the_code_and_year() -> None:
    trap = struct.pack("<Bf2B", 17, 307.5, 1, 0) + struct.pack("<Bf", 4, 309.0)
    in_2021 = _decoded_event(_event(2021, b"SPTP", trap[:8]))
    in_2022 = _decoded_event(_event(2022, b"SPTP", trap))
    assert in_2021.details == {
        "vehicle_idx": 17,
        "speed_kph": 307.5,
        "is_overall_fastest_in_session": 1,
        "is_driver_fastest_in_session": 0,
    }
    assert in_2022.details["fastest_vehicle_idx_in_session"] == 4
    assert in_2022.details["fastest_speed_in_session_kph"] == 309.0
    flashback = _decoded_event(_event(2024, b"FLBK", struct.pack("<If", 812, 40.25)))
    assert flashback.name == "flashback"
    assert flashback.details == {"flashback_frame_identifier": 812, "flashback_session_time_s": 40.25}
    started = _decoded_event(_event(2025, b"SSTA", b""))
    assert (started.code, started.name, dict(started.details)) == ("SSTA", "session started", {})


def test_every_format_declares_the_packets_pitbox_turns_into_frames() -> None:
    for packet_format, layouts in PACKET_LAYOUTS.items():
        assert {PacketId.MOTION, PacketId.LAP_DATA, PacketId.CAR_TELEMETRY, PacketId.CAR_STATUS} <= layouts.keys()
        assert (PacketId.MOTION_EX in layouts) == (packet_format >= 2023)
