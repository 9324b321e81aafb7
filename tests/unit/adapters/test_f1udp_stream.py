"""The sans-I/O F1 stream and adapter: ordering, duplicates, loss, restarts, sessions, unknown formats, units."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from adapters import base
from adapters.base import AdapterState, SessionChanged, StateChanged, TicksMissed
from adapters.datagrams import Datagram, read_recording
from adapters.errors import AdapterError, SimNotFoundError
from adapters.f1udp import F1Stream, F1UdpAdapter
from adapters.f1udp_frames import KPA_PER_PSI, STEERING_LOCK_RAD
from adapters.f1udp_layouts import PacketId
from adapters.model import CarLeftRight, SessionFlag, TelemetryFrame, TrackSurface
from tests.support.f1_session import SESSION_UID, build_packet, frame_packets

FMT = 2023
Fill = Callable[[PacketId, np.ndarray], object]


def speed_fill(kph: int) -> Fill:
    def fill(kind: PacketId, records: np.ndarray) -> None:
        if kind is PacketId.CAR_TELEMETRY:
            records["cars"]["speed_kph"][0, 0] = kph

    return fill


def frames_of(stream: F1Stream) -> list[TelemetryFrame]:
    out = []
    while (frame := stream.pop_frame()) is not None:
        out.append(frame)
    return out


def feed(stream: F1Stream, datagrams: list[bytes], at_s: float = 0.0) -> None:
    for data in datagrams:
        stream.feed(data, at_s)


def whole_frame(frame: int, fill: Fill | None = None, *, fmt: int = FMT, uid: int = SESSION_UID) -> list[bytes]:
    return list(frame_packets(fmt, frame, frame / 60.0, uid=uid, fill=fill).values())


# --------------------------------------------------------------------------- ordering, duplicates, loss


def test_frames_leave_in_frame_order_whatever_order_their_packets_arrive_in() -> None:
    packets = [p for f in (10, 11, 12) for p in whole_frame(f)]
    shuffled = [packets[i] for i in np.random.default_rng(3).permutation(len(packets))]
    stream = F1Stream()
    feed(stream, shuffled)
    stream.release_all()
    assert [f.tick for f in frames_of(stream)] == [10, 11, 12]
    assert (stream.stats.frames, stream.stats.packets_missing, stream.stats.duplicates) == (3, 0, 0)


def test_a_complete_frame_next_in_line_leaves_at_once() -> None:
    stream = F1Stream()
    feed(stream, whole_frame(1))
    assert [f.tick for f in frames_of(stream)] == [1]
    feed(stream, whole_frame(2)[:-1])
    assert frames_of(stream) == []  # one packet short: it waits
    feed(stream, whole_frame(2)[-1:])
    assert [f.tick for f in frames_of(stream)] == [2]


def test_a_frame_missing_a_packet_waits_for_the_window_then_holds_that_channel_s_last_value() -> None:
    stream = F1Stream(reorder_frames=3)
    feed(stream, whole_frame(1, speed_fill(200)))
    without_telemetry = frame_packets(FMT, 2, 2 / 60.0, fill=speed_fill(230))
    del without_telemetry[PacketId.CAR_TELEMETRY]
    feed(stream, list(without_telemetry.values()))
    for frame in (3, 4):
        feed(stream, whole_frame(frame, speed_fill(210)))
    assert [f.tick for f in frames_of(stream)] == [1]  # frame 2 waits: its telemetry may still come
    feed(stream, whole_frame(5, speed_fill(210)))
    released = frames_of(stream)
    assert [f.tick for f in released] == [2, 3, 4, 5]  # three frames on, 2 goes; the rest follow in line
    assert released[0].speed_mps == pytest.approx(200 / 3.6)  # the last telemetry seen, not 230
    assert stream.stats.packets_missing == 1


def test_a_frame_missing_a_packet_leaves_after_max_hold_s_of_quiet() -> None:
    stream = F1Stream(max_hold_s=0.1)
    feed(stream, whole_frame(1)[:-1], at_s=5.0)
    stream.release_idle(5.05)
    assert frames_of(stream) == []
    stream.release_idle(5.11)
    assert [f.tick for f in frames_of(stream)] == [1]


def test_duplicates_are_dropped_and_counted_before_and_after_their_frame_leaves() -> None:
    stream = F1Stream()
    first = whole_frame(1)
    feed(stream, [first[0], first[0], *first[1:]])
    feed(stream, [first[2]])  # frame 1 has left by now
    feed(stream, whole_frame(2))
    assert [f.tick for f in frames_of(stream)] == [1, 2]
    assert stream.stats.duplicates == 2
    assert stream.stats.late == 0


def test_a_packet_whose_frame_already_left_without_it_is_late() -> None:
    stream = F1Stream(reorder_frames=3)
    first = whole_frame(1)
    feed(stream, first[:-1])
    for frame in (2, 3, 4):
        feed(stream, whole_frame(frame))
    assert [f.tick for f in frames_of(stream)] == [1, 2, 3, 4]
    feed(stream, first[-1:])
    assert frames_of(stream) == []
    assert (stream.stats.late, stream.stats.duplicates, stream.stats.packets_missing) == (1, 0, 1)


def test_frames_of_which_nothing_arrived_are_counted_lost_and_reported() -> None:
    stream = F1Stream(max_hold_s=0.1)
    for frame in (1, 2, 3, 6, 7):
        feed(stream, whole_frame(frame))
    assert [f.tick for f in frames_of(stream)] == [1, 2, 3]  # 4 and 5 may still be on their way
    stream.release_idle(0.2)
    assert [f.tick for f in frames_of(stream)] == [6, 7]
    assert stream.stats.frames_lost == 2
    missed = [e for e in stream.drain_events() if isinstance(e, TicksMissed)]
    assert [(e.count, e.after_tick) for e in missed] == [(2, 3)]


def test_a_20_hz_stream_steps_three_frames_at_a_time_and_is_not_loss() -> None:
    stream = F1Stream()
    for frame in (30, 33, 36, 39, 45):
        feed(stream, whole_frame(frame))
    stream.release_all()
    assert [f.tick for f in frames_of(stream)] == [30, 33, 36, 39, 45]
    assert stream.stats.frames_lost == 1  # 42 never came


def test_a_reader_that_falls_behind_loses_the_oldest_frames_and_is_told_so() -> None:
    stream = F1Stream(max_queued_frames=2)
    for frame in (1, 2, 3, 4):
        feed(stream, whole_frame(frame))
    assert [f.tick for f in frames_of(stream)] == [3, 4]
    assert (stream.stats.frames, stream.stats.frames_dropped, stream.stats.frames_lost) == (4, 2, 0)


# --------------------------------------------------------------------------- restarts and sessions


def test_session_time_going_back_is_a_new_timeline_not_a_late_packet() -> None:
    stream = F1Stream()
    for frame in range(600, 606):
        feed(stream, whole_frame(frame))
    for frame in range(300, 303):  # a flashback: five seconds back
        feed(stream, whole_frame(frame))
    stream.release_all()
    assert [f.tick for f in frames_of(stream)] == [*range(600, 606), 300, 301, 302]
    assert stream.stats.restarts == 1
    assert stream.stats.late == 0


def test_a_flashback_event_starts_a_new_timeline() -> None:
    stream = F1Stream()
    for frame in range(100, 104):
        feed(stream, whole_frame(frame))

    def flashback(records: np.ndarray) -> None:
        records["event_string_code"] = b"FLBK"
        records["event_details"] = struct.pack("<If", 98, 98 / 60.0)

    feed(stream, [build_packet(FMT, PacketId.EVENT, frame=104, time_s=104 / 60.0, fill=flashback)])
    feed(stream, whole_frame(99))
    assert [f.tick for f in frames_of(stream)] == [100, 101, 102, 103, 99]
    assert stream.stats.restarts == 1
    assert [e.code for e in stream.events_seen] == ["FLBK"]


def session_packet(uid: int = SESSION_UID, *, frame: int = 1, length_m: int = 5000, laps: int = 10) -> bytes:
    def fill(records: np.ndarray) -> None:
        records["track_id"] = 7
        records["track_length_m"] = length_m
        records["session_type"] = 15  # race, from 2023
        records["total_laps"] = laps
        records["track_temperature_c"] = 31
        records["air_temperature_c"] = 22

    return build_packet(FMT, PacketId.SESSION, frame=frame, time_s=frame / 60.0, uid=uid, fill=fill)


def participants_packet(names: list[str], uid: int = SESSION_UID) -> bytes:
    def fill(records: np.ndarray) -> None:
        records["num_active_cars"] = len(names)
        for i, name in enumerate(names):
            row = records["participants"][0, i]
            row["name"], row["team_id"], row["race_number"], row["ai_controlled"] = name.encode(), i % 10, 10 + i, 1

    return build_packet(FMT, PacketId.PARTICIPANTS, frame=1, time_s=0.0, uid=uid, fill=fill)


def test_session_info_lists_every_car_and_is_published_again_only_when_it_changes() -> None:
    names = [f"DRIVER {i}" for i in range(22)]
    stream = F1Stream()
    feed(stream, [session_packet(), participants_packet(names), session_packet(frame=30)])
    published = [e.info for e in stream.drain_events() if isinstance(e, SessionChanged)]
    info = published[-1]
    assert len(published) == 2  # the session, then its drivers; the same session again says nothing new
    assert (info.sim, info.track.name, info.track.length_m, info.session_name, info.laps) == (
        "f1",
        "silverstone",
        5000.0,
        "Race",
        10,
    )
    assert [d.driver_name for d in info.drivers] == names
    assert (info.drivers[3].team_name, info.drivers[3].car_number, info.drivers[3].is_ai) == ("Williams", "13", True)
    feed(stream, [participants_packet(["NEW NAME", *names[1:]])])
    again = [e.info for e in stream.drain_events() if isinstance(e, SessionChanged)]
    assert [i.drivers[0].driver_name for i in again] == ["NEW NAME"]
    assert again[0].update_count == info.update_count + 1


def test_a_new_session_uid_is_a_new_session_and_stragglers_of_the_old_one_are_dropped() -> None:
    stream = F1Stream()
    feed(stream, [session_packet(uid=1), *whole_frame(50, uid=1)])
    old_straggler = whole_frame(51, uid=1)
    feed(stream, [session_packet(uid=2, length_m=4000), *whole_frame(5, uid=2)])
    feed(stream, old_straggler)
    stream.release_all()
    assert [f.tick for f in frames_of(stream)] == [50, 5]
    assert stream.session_uid == 2
    assert stream.session_info is not None and stream.session_info.track.length_m == 4000.0
    assert (stream.stats.sessions, stream.stats.stale_session) == (2, len(old_straggler))


def test_unknown_formats_and_garbage_are_counted_and_each_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    stream = F1Stream()
    old = struct.pack("<H", 2020) + bytes(1400)
    older = struct.pack("<H", 2019) + bytes(1400)
    with caplog.at_level(logging.WARNING, logger="adapters.f1udp"):
        feed(stream, [old] * 5 + [older] * 2 + [b"hello"] * 3 + whole_frame(1))
    assert dict(stream.stats.unknown_formats) == {2020: 5, 2019: 2}
    assert stream.stats.malformed == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "format 2020" in warnings[0] and "2021-2025" in warnings[0]
    assert "format 2019" in warnings[1]
    assert "not F1 telemetry" in warnings[2]
    assert [f.tick for f in frames_of(stream)] == [1]  # good packets still go through


# --------------------------------------------------------------------------- meaning and units


def test_game_units_become_si_and_wheels_the_model_s_order() -> None:
    def fill(kind: PacketId, records: np.ndarray) -> None:
        cars = records["cars"] if "cars" in (records.dtype.names or ()) else None
        if kind is PacketId.CAR_TELEMETRY:
            me = cars[0, 0]
            me["speed_kph"], me["clutch_pct"], me["steer"], me["gear"], me["engine_rpm"] = 252, 50, -0.5, 7, 11000
            me["tyres_pressure_psi"] = [20.0, 21.0, 22.0, 23.0]  # RL RR FL FR
            me["tyres_surface_temperature_c"] = [90, 91, 95, 96]
            me["surface_type"] = [4, 4, 4, 4]  # gravel under every wheel
        elif kind is PacketId.CAR_STATUS:
            cars[0, 0]["fuel_in_tank_kg"], cars[0, 0]["fuel_capacity_kg"] = 7.5, 110.0
            cars[0, 0]["vehicle_fia_flags"] = 3
        elif kind is PacketId.MOTION:
            cars[0, 0]["g_force_lateral_g"], cars[0, 0]["world_position_y_m"] = 2.0, 12.5
        elif kind is PacketId.MOTION_EX:
            records["angular_velocity_y_radps"] = 0.25
        elif kind is PacketId.LAP_DATA:
            me = cars[0, 0]
            me["lap_distance_m"], me["current_lap_num"], me["car_position"] = 2500.0, 10, 4
            me["result_status"], me["driver_status"], me["last_lap_time_ms"] = 2, 4, 83_456
            me["total_warnings"] = 2

    def damage(records: np.ndarray) -> None:
        records["cars"]["tyres_wear_pct"][0, 0] = [10.0, 20.0, 30.0, 40.0]

    stream = F1Stream()
    feed(stream, [session_packet(), build_packet(FMT, PacketId.CAR_DAMAGE, frame=1, time_s=0.0, fill=damage)])
    feed(stream, whole_frame(2, fill))
    (frame,) = frames_of(stream)
    assert frame.speed_mps == pytest.approx(70.0)
    assert frame.clutch == 0.5 and frame.gear == 7 and frame.rpm == 11000
    assert frame.steering_angle_rad == pytest.approx(STEERING_LOCK_RAD / 2)  # half lock left: positive
    assert frame.tyre_pressure_kpa == pytest.approx(np.array([22.0, 23.0, 20.0, 21.0]) * KPA_PER_PSI)
    assert frame.tyre_temp_c.tolist() == [95, 96, 90, 91]
    assert frame.tyre_wear_frac == pytest.approx([0.7, 0.6, 0.9, 0.8])
    assert frame.fuel_level_l == pytest.approx(10.0)
    assert frame.lat_accel_mps2 == pytest.approx(2.0 * 9.80665)
    assert (frame.yaw_rate_radps, frame.altitude_m) == (0.25, 12.5)
    assert (frame.lap, frame.lap_completed, frame.position, frame.incident_count) == (10, 9, 4, 2)
    assert (frame.lap_dist_m, frame.lap_dist_frac) == (2500.0, 0.5)
    assert frame.last_lap_time_s == pytest.approx(83.456)
    assert frame.track_surface == TrackSurface.OFF_TRACK
    assert frame.session_laps_remain == 1
    flags = SessionFlag(frame.session_flags)
    assert SessionFlag.YELLOW in flags and SessionFlag.WHITE in flags  # lap 10 of 10
    assert (frame.track_temp_c, frame.air_temp_c) == (31.0, 22.0)
    info = stream.session_info
    assert info is not None and info.max_fuel_l == pytest.approx(110.0 / 0.75)


def test_on_the_grid_before_the_line_the_lap_distance_is_held_at_zero() -> None:
    def grid(kind: PacketId, records: np.ndarray) -> None:
        if kind is PacketId.LAP_DATA:
            records["cars"]["lap_distance_m"][0, 0] = -180.0
            records["cars"]["current_lap_num"][0, 0] = 1
            records["cars"]["result_status"][0, 0] = 2
            records["cars"]["driver_status"][0, 0] = 4

    stream = F1Stream()
    feed(stream, [session_packet(), *whole_frame(2, grid)])
    (frame,) = frames_of(stream)
    assert (frame.in_world, frame.lap, frame.lap_dist_m, frame.lap_dist_frac) == (True, 1, 0.0, 0.0)


def test_every_car_of_the_field_is_in_the_per_car_arrays_and_the_spotter_sees_the_car_alongside() -> None:
    def field(kind: PacketId, records: np.ndarray) -> None:
        if kind is PacketId.MOTION_EX:
            return
        cars = records["cars"]
        if kind is PacketId.LAP_DATA:
            cars["result_status"][0, :20] = 2
            cars["driver_status"][0, :20] = 4
            cars["car_position"][0, :20] = np.arange(20) + 1
            cars["current_lap_num"][0, :20] = 3
            cars["lap_distance_m"][0, :20] = 1000.0 + 10.0 * np.arange(20)
            cars["pit_status"][0, 19] = 2
        elif kind is PacketId.MOTION:
            cars["world_forward_dir_z"][0, :] = 32767  # everyone heads along +z; the player's right is +x
            cars["world_right_dir_x"][0, :] = 32767
            cars["world_position_z_m"][0, :] = 100.0 + 50.0 * np.arange(22)
            cars["world_position_z_m"][0, 5] = 102.0  # car 5: 2 m ahead of the player, 3 m to its left
            cars["world_position_x_m"][0, 5] = -3.0

    stream = F1Stream()
    feed(stream, [session_packet(), *whole_frame(2, field)])
    (frame,) = frames_of(stream)
    assert frame.cars is not None
    cars = frame.cars
    assert cars["lap_dist_frac"][:20] == pytest.approx((1000.0 + 10.0 * np.arange(20)) / 5000.0)
    assert cars["position"][:20].tolist() == list(range(1, 21))
    assert (cars["lap_dist_frac"][20:] == -1).all()  # the two empty slots and beyond: not in the world
    assert cars["track_surface"][19] == TrackSurface.IN_PIT_STALL and cars["on_pit_road"][19]
    assert frame.car_left_right == CarLeftRight.CAR_LEFT


def test_best_laps_come_from_the_session_history() -> None:
    def history(records: np.ndarray) -> None:
        records["car_idx"], records["num_laps"], records["best_lap_time_lap_num"] = 4, 3, 2
        records["lap_history"]["lap_time_ms"][0, :3] = [91_000, 89_250, 90_000]

    def active(kind: PacketId, records: np.ndarray) -> None:
        if kind is PacketId.LAP_DATA:
            records["cars"]["result_status"][0, :6] = 2

    stream = F1Stream()
    feed(stream, [build_packet(FMT, PacketId.SESSION_HISTORY, frame=1, time_s=0.0, fill=history)])
    feed(stream, whole_frame(2, active))
    (frame,) = frames_of(stream)
    assert frame.cars is not None and frame.cars["best_lap_time_s"][4] == pytest.approx(89.25)


# --------------------------------------------------------------------------- the adapter


class ListSource:
    """A DatagramSource handing out what a test puts in."""

    description = "test datagrams"
    realtime = True
    finished = False

    def __init__(self) -> None:
        self.waiting: list[Datagram] = []
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def receive(self, now_s: float) -> list[Datagram]:
        taken, self.waiting = self.waiting, []
        return taken

    def close(self) -> None:
        self.closed += 1


def test_the_adapter_connects_on_the_first_frame_stalls_without_frames_and_recovers(tmp_path: Path) -> None:
    source = ListSource()
    adapter = F1UdpAdapter(source, record_to=tmp_path / "f1.pbxudp", stall_timeout_s=2.0)
    assert adapter.connect(0.0) is False and adapter.state is AdapterState.WAITING_FOR_SIM
    source.waiting = [(p, 1.0) for p in [session_packet(), *whole_frame(1)]]
    frame = adapter.read(1.0)
    assert frame is not None and frame.tick == 1 and adapter.state is AdapterState.CONNECTED
    assert adapter.read(2.0) is None and adapter.state is AdapterState.CONNECTED
    assert adapter.read(3.5) is None and adapter.state is AdapterState.STALLED  # the game paused
    source.waiting = [(p, 4.0) for p in whole_frame(2)]
    assert adapter.read(4.0) is not None and adapter.state is AdapterState.CONNECTED
    events = adapter.drain_events()
    states = [e.current for e in events if isinstance(e, StateChanged)]
    assert states == [AdapterState.CONNECTED, AdapterState.STALLED, AdapterState.CONNECTED]
    assert any(isinstance(e, SessionChanged) for e in events)
    adapter.close()
    assert source.closed == 1 and adapter.state is AdapterState.WAITING_FOR_SIM
    recording = read_recording(tmp_path / "f1.pbxudp")
    assert len(recording.datagrams) == 1 + 2 * len(whole_frame(1))
    assert recording.datagrams[0][1] == 0.0 and recording.datagrams[-1][1] == 3.0


def test_a_flashback_is_reported_as_the_game_going_away_and_coming_back() -> None:
    source = ListSource()
    adapter = F1UdpAdapter(source)
    ticks = []
    for first, at_s in ((600, 1.0), (100, 2.0)):
        source.waiting = [(p, at_s) for f in range(first, first + 3) for p in whole_frame(f)]
        while (frame := adapter.read(at_s)) is not None:
            ticks.append(frame.tick)
    assert ticks == [600, 601, 602, 100, 101, 102]
    states = [e.current for e in adapter.drain_events() if isinstance(e, StateChanged)]
    assert states[-3:] == [AdapterState.DISCONNECTED, AdapterState.WAITING_FOR_SIM, AdapterState.CONNECTED]


def test_the_f1_adapter_is_registered_and_needs_exactly_one_source(tmp_path: Path) -> None:
    assert "f1" in {spec.name for spec in base.registered()}
    with pytest.raises(AdapterError, match="exactly one"):
        base.create("f1")
    with pytest.raises(AdapterError, match="exactly one"):
        F1UdpAdapter(ListSource(), recording=tmp_path / "x")
    adapter = base.create("f1", recording=tmp_path / "none.pbxudp")
    assert adapter.name == "f1" and adapter.state is AdapterState.WAITING_FOR_SIM
    with pytest.raises(SimNotFoundError, match="no such file"):
        adapter.connect(0.0)
