"""Real F1 2021 packets (../shared/data/udp/f1_2021) sent through a real UDP socket on loopback to the
listening adapter: every header and the player's telemetry decode to the values in PROVENANCE.md."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.base import SessionChanged
from adapters.f1udp import F1UdpAdapter
from adapters.f1udp_layouts import PacketId
from adapters.f1udp_packets import PacketHeader
from adapters.model import SessionType, TelemetryFrame
from driver_app.udp_listener import UdpListener
from tests.support.reference import reference_path

pytestmark = pytest.mark.integration
TIMEOUT_S = 10.0

# PROVENANCE.md, udp/f1_2021: file -> (packet id, game version major, minor)
HEADERS = {
    "motion_data.bin": (0, 1, 8),
    "session_packet.bin": (1, 1, 6),
    "lap_data.bin": (2, 1, 7),
    "event_packet.bin": (3, 1, 4),
    "event_sptp.bin": (3, 1, 8),
    "participant_data.bin": (4, 1, 8),
    "car_setup.bin": (5, 1, 8),
    "car_telemetry.bin": (6, 1, 5),
    "car_status.bin": (7, 1, 5),
    "car_damage.bin": (10, 1, 8),
    "history_packet.bin": (11, 1, 6),
}


@pytest.fixture(scope="module")
def f1_2021() -> Path:
    return reference_path("udp", "f1_2021")


class Received:
    def __init__(self) -> None:
        self.headers: dict[str, PacketHeader] = {}
        self.frames: list[TelemetryFrame] = []
        self.adapter: F1UdpAdapter | None = None
        self.events: list[object] = []


async def send_one_by_one(folder: Path, extra: Sequence[bytes] = ()) -> Received:
    """Send each file to a listening adapter and wait until the adapter has taken it in."""
    got = Received()
    listener = UdpListener("127.0.0.1", 0)
    adapter = got.adapter = F1UdpAdapter(listener)
    adapter.connect(time.monotonic())
    await listener.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for name in HEADERS:
            sender.sendto((folder / name).read_bytes(), listener.address)
            await _until(adapter, got, adapter.stats.datagrams + 1)
            got.headers[name] = adapter.stream.last_headers[PacketId(HEADERS[name][0])]
        for data in extra:
            sender.sendto(data, listener.address)
        await _until(adapter, got, len(HEADERS) + len(extra))
    adapter.stream.release_all()
    while (frame := adapter.stream.pop_frame()) is not None:
        got.frames.append(frame)
    got.events.extend(adapter.drain_events())
    adapter.close()
    return got


async def _until(adapter: F1UdpAdapter, got: Received, datagrams: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while adapter.stats.datagrams < datagrams:
        assert time.monotonic() < deadline, f"only {adapter.stats.datagrams} of {datagrams} datagrams arrived"
        await asyncio.sleep(0.005)
        while (frame := adapter.read(time.monotonic())) is not None:
            got.frames.append(frame)
        got.events.extend(adapter.drain_events())


def test_every_real_packet_arrives_through_the_socket_with_the_header_the_notes_list(f1_2021: Path) -> None:
    got = asyncio.run(send_one_by_one(f1_2021))
    for name, (packet_id, major, minor) in HEADERS.items():
        header = got.headers[name]
        assert (header.packet_format, header.packet_id) == (2021, packet_id), name
        assert (header.game_major_version, header.game_minor_version) == (major, minor), name
        assert header.secondary_player_car_index == 255, name
    motion = got.headers["motion_data.bin"]
    assert (motion.player_car_index, motion.frame_identifier) == (19, 3453)
    assert got.adapter is not None
    stats = got.adapter.stats
    assert stats.datagrams == 11 and stats.sessions == 11  # each file comes from a different session
    assert (stats.malformed, sum(stats.unknown_formats.values()), stats.not_decoded) == (0, 0, 0)


def test_the_player_s_telemetry_decodes_to_the_values_in_the_notes(f1_2021: Path) -> None:
    got = asyncio.run(send_one_by_one(f1_2021))
    by_tick = {frame.tick: frame for frame in got.frames}
    telemetry_frame = got.headers["car_telemetry.bin"].frame_identifier
    player = by_tick[telemetry_frame]
    # "player: 253 km/h, throttle 1.0, gear 6, 11600 rpm", in SI units
    assert player.speed_mps == pytest.approx(253 / 3.6)
    assert (player.throttle, player.gear, player.rpm, player.brake) == (1.0, 6, 11600.0, 0.0)
    lap_frame = by_tick[got.headers["lap_data.bin"].frame_identifier]
    assert lap_frame.cars is not None
    assert int((lap_frame.cars["lap"] >= 0).sum()) == 20  # 22 slots, 20 cars in the race
    assert (lap_frame.lap, lap_frame.position) == (1, 14)  # the player, car 19
    status_frame = by_tick[got.headers["car_status.bin"].frame_identifier]
    assert status_frame.fuel_level_l == pytest.approx(10.0 / 0.75)  # 10 kg in the tank


def test_the_session_and_the_field_decode_to_what_the_notes_list(f1_2021: Path) -> None:
    got = asyncio.run(send_one_by_one(f1_2021))
    assert got.adapter is not None
    infos = [e.info for e in got.events if isinstance(e, SessionChanged)]
    melbourne = infos[-1]
    # "trackId 0 (Melbourne), length 5301 m, track 32 °C / air 24 °C, sessionType 13, totalLaps 200"
    assert (melbourne.track.name, melbourne.track.display_name, melbourne.track.length_m) == (
        "melbourne",
        "Melbourne",
        5301.0,
    )
    assert (melbourne.session_name, melbourne.session_type) == ("Time Trial", SessionType.TESTING)
    session = got.adapter.stream.last_packets[PacketId.SESSION].record
    assert (session["track_temperature_c"], session["air_temperature_c"], session["total_laps"]) == (32, 24, 200)
    participants = got.adapter.stream.last_packets[PacketId.PARTICIPANTS].record
    names = [bytes(n).decode() for n in participants["participants"]["name"][: participants["num_active_cars"]]]
    assert len(names) == 20 and names[:3] == ["PEREZ", "STROLL", "LECLERC"]
    codes = [(e.code, e.name) for e in got.adapter.stream.events_seen]
    assert codes == [("BUTN", "button status"), ("SPTP", "speed trap")]
    trap = got.adapter.stream.events_seen[1].details
    assert trap["vehicle_idx"] == 17 and trap["speed_kph"] == pytest.approx(307.86, abs=0.01)


def test_packets_of_a_format_pitbox_does_not_read_are_counted_through_the_socket(f1_2021: Path) -> None:
    f1_2020 = struct.pack("<H", 2020) + bytes(1462)
    got = asyncio.run(send_one_by_one(f1_2021, extra=[f1_2020] * 3 + [b"not telemetry"]))
    assert got.adapter is not None
    assert dict(got.adapter.stats.unknown_formats) == {2020: 3}
    assert got.adapter.stats.malformed == 1
