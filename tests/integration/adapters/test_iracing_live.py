"""The live iRacing adapter through pyirsdk's real reader, on memory images written like the sim writes.

Images are laid out exactly like iRacing's shared memory and written tick by tick through a shared
mapping (`tests/support/irsdk_image.py`) while the adapter reads the same file with pyirsdk. Time is
passed in as `now_s`; nothing sleeps.
"""

from __future__ import annotations

import logging
import mmap
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from adapters import base
from adapters.base import AdapterState, DriverSwap, SessionChanged, StateChanged, TicksMissed
from adapters.errors import SimNotFoundError, TelemetryFormatError
from adapters.iracing import IRacingAdapter, register_adapter, sim_running
from adapters.model import MAX_CARS, SessionType, TelemetryFrame
from tests.support.irsdk_image import IrsdkImageWriter, ScriptedSession, write_image
from tests.support.reference import reference_path

pytestmark = pytest.mark.integration

TICK_S = 1 / 60

MINIMAL_YAML = """---
WeekendInfo:
 TrackName: pitbox testring
 TrackID: 1
 TrackLength: 5.75 km
 TrackDisplayName: PitBox Test Ring
 TrackConfigName: Full
 TrackCity: Nowhere
 TrackCountry: Testland
 EventType: Practice
 TeamRacing: 0

SessionInfo:
 Sessions:
 - SessionNum: 0
   SessionLaps: unlimited
   SessionTime: 3600.0000 sec
   SessionType: Practice
   SessionName: PRACTICE

DriverInfo:
 DriverCarIdx: 0
 DriverCarFuelKgPerLtr: 0.750
 Drivers:
 - CarIdx: 0
   UserName: Test Driver
   UserID: 1
   TeamID: 0
   TeamName: Test Driver
   CarNumber: "7"
   CarPath: testcar
   CarClassID: 11
   CarScreenName: Test Car GT3
   CarClassShortName: GT3
   IsSpectator: 0

SplitTimeInfo:
 Sectors:
 - SectorNum: 0
   SectorStartPct: 0.000
 - SectorNum: 1
   SectorStartPct: 0.500
"""
"""A small session description in iRacing's format, written for these tests (not real data)."""


def session_yaml(name: str) -> bytes:
    return reference_path("session_yaml", name).read_bytes()


def states(events: list[object]) -> list[AdapterState]:
    return [e.current for e in events if isinstance(e, StateChanged)]


def drain(adapter: IRacingAdapter, now_s: float) -> list[TelemetryFrame]:
    frames = []
    while (frame := adapter.read(now_s)) is not None:
        frames.append(frame)
    return frames


def drive(
    image: IrsdkImageWriter, adapter: IRacingAdapter, script: ScriptedSession, ticks: int
) -> list[TelemetryFrame]:
    """The sim publishes `ticks` more ticks and the adapter is polled after each (now_s = sim time)."""
    frames = []
    for _ in range(ticks):
        tick = image.write_tick(script.values(image.last_tick + 1))
        frames.extend(drain(adapter, tick * TICK_S))
    return frames


@pytest.fixture
def image(tmp_path: Path) -> Iterator[IrsdkImageWriter]:
    with IrsdkImageWriter(tmp_path / "irsdk.bin", MINIMAL_YAML) as writer:
        yield writer


@pytest.fixture
def adapter(image: IrsdkImageWriter) -> Iterator[IRacingAdapter]:
    with IRacingAdapter(image.path) as live:
        yield live


def assert_matches_script(frame: TelemetryFrame, script: ScriptedSession) -> None:
    """The frame carries the scripted values of its own tick, in model units."""
    tick = frame.tick
    completed, lap_dist_m = script.lap_position(tick)
    assert frame.session_time_s == script.session_time_s(tick)  # a double: exact
    assert frame.lap == completed + 1
    assert frame.lap_completed == completed
    assert frame.lap_dist_m == pytest.approx(lap_dist_m, abs=1e-3)
    assert frame.lap_dist_frac == pytest.approx(lap_dist_m / script.track_length_m, abs=1e-6)
    assert frame.fuel_level_l == pytest.approx(script.fuel_level_l(tick), rel=1e-6)
    assert frame.rpm == 6000.0 + (tick % 100) * 10.0


# --------------------------------------------------------------------------- every tick, once, in order


def test_a_long_session_is_delivered_every_tick_exactly_once_in_order(
    image: IrsdkImageWriter, adapter: IRacingAdapter
) -> None:
    script = ScriptedSession()
    rng = random.Random(20240801)
    assert adapter.connect(0.0)
    delivered: list[TelemetryFrame] = []
    now_s = 0.0
    while image.last_tick < 10_000:
        burst = min(rng.randint(1, 3), 10_000 - image.last_tick)  # never more than the 3 buffers hold
        for _ in range(burst):
            image.write_tick(script.values(image.last_tick + 1))
        now_s += burst * TICK_S
        delivered.extend(drain(adapter, now_s))

    assert [f.tick for f in delivered] == list(range(1, 10_001))
    for frame in delivered[::97] + delivered[-3:]:
        assert_matches_script(frame, script)
    last = delivered[-1]
    assert last.speed_mps == pytest.approx(55.0)
    assert last.fuel_use_rate_lps == pytest.approx(90.0 / 0.75 / 3600.0)  # kg/h -> l/s
    assert last.track_temp_c == pytest.approx(31.5)
    assert list(last.tyre_carcass_temp_c) == pytest.approx([85.0] * 4)
    assert last.cars is not None and last.cars["lap"][0] == last.lap and last.cars["lap"][1] == -1
    events = adapter.drain_events()
    assert not [e for e in events if isinstance(e, TicksMissed)]
    assert states(events) == [AdapterState.CONNECTED]
    assert adapter.state is AdapterState.CONNECTED


def test_a_caller_reading_one_frame_per_poll_gets_every_tick_from_the_queue(
    image: IrsdkImageWriter, adapter: IRacingAdapter
) -> None:
    script = ScriptedSession()
    rng = random.Random(7)
    assert adapter.connect(0.0)
    delivered: list[TelemetryFrame] = []
    now_s = 0.0
    for _ in range(1500):
        for _ in range(rng.randint(0, 2)):
            image.write_tick(script.values(image.last_tick + 1))
        now_s += TICK_S
        if (frame := adapter.read(now_s)) is not None:  # one read per poll: a backlog builds up at times
            delivered.append(frame)
    delivered.extend(drain(adapter, now_s))

    assert [f.tick for f in delivered] == list(range(1, image.last_tick + 1))
    assert not [e for e in adapter.drain_events() if isinstance(e, TicksMissed)]


def test_ticks_the_reader_was_too_slow_for_are_counted_as_missed(
    image: IrsdkImageWriter, adapter: IRacingAdapter
) -> None:
    script = ScriptedSession()
    assert adapter.connect(0.0)
    delivered = drive(image, adapter, script, 1)  # counting starts at the first tick seen
    for poll in range(1, 101):
        for _ in range(5):  # 5 ticks between polls: only the newest 3 survive in the 3 buffers
            image.write_tick(script.values(image.last_tick + 1))
        delivered.extend(drain(adapter, poll * 5 * TICK_S))

    ticks = [f.tick for f in delivered]
    assert ticks == sorted(set(ticks))  # in order, no duplicates
    assert len(ticks) == 301
    missed = [e for e in adapter.drain_events() if isinstance(e, TicksMissed)]
    assert len(missed) == 100
    assert {e.count for e in missed} == {2}
    assert sum(e.count for e in missed) + len(ticks) == image.last_tick == 501
    assert set(ticks).isdisjoint(t for e in missed for t in range(e.after_tick + 1, e.after_tick + 1 + e.count))
    # Each event names the last tick seen before the gap, and the time of the first tick after it.
    assert [e.after_tick for e in missed] == list(range(1, 501, 5))
    assert missed[1].session_time_s == script.session_time_s(9)
    for frame in delivered[::17]:
        assert_matches_script(frame, script)


def test_a_full_queue_drops_the_oldest_frames_and_counts_them(tmp_path: Path) -> None:
    script = ScriptedSession()
    with (
        IrsdkImageWriter(tmp_path / "irsdk.bin", MINIMAL_YAML) as image,
        IRacingAdapter(image.path, max_queued_frames=5) as adapter,
    ):
        assert adapter.connect(0.0)
        delivered = []
        for poll in range(1, 11):
            for _ in range(3):
                image.write_tick(script.values(image.last_tick + 1))
            frame = adapter.read(poll * 3 * TICK_S)
            assert frame is not None
            delivered.append(frame)
        delivered.extend(drain(adapter, 1.0))
        missed = [e for e in adapter.drain_events() if isinstance(e, TicksMissed)]

    ticks = [f.tick for f in delivered]
    assert ticks == sorted(set(ticks))
    assert ticks[-5:] == [26, 27, 28, 29, 30]
    assert sum(e.count for e in missed) + len(ticks) == 30


def test_a_buffer_rewritten_while_it_is_copied_is_dropped_not_delivered_torn(tmp_path: Path) -> None:
    script = ScriptedSession()

    class SlowCopyAdapter(IRacingAdapter):
        """The sim writes three more ticks while one buffer is being copied, once."""

        def __init__(self, path: Path, writer: IrsdkImageWriter) -> None:
            super().__init__(path)
            self.writer = writer
            self.interfere = False

        def _copy_record(self, mem: mmap.mmap, offset: int, buf_len: int) -> bytes:
            data = super()._copy_record(mem, offset, buf_len)
            if self.interfere:
                self.interfere = False
                for _ in range(3):
                    self.writer.write_tick(script.values(self.writer.last_tick + 1))
            return data

    with (
        IrsdkImageWriter(tmp_path / "irsdk.bin", MINIMAL_YAML) as image,
        SlowCopyAdapter(image.path, image) as adapter,
    ):
        assert adapter.connect(0.0)
        for _ in range(3):
            image.write_tick(script.values(image.last_tick + 1))
        delivered = drain(adapter, 0.05)
        image.write_tick(script.values(image.last_tick + 1))  # tick 4, copied while ticks 5-7 land
        adapter.interfere = True
        delivered += drain(adapter, 0.07)
        delivered += drain(adapter, 0.12)
        missed = [e for e in adapter.drain_events() if isinstance(e, TicksMissed)]

    assert [f.tick for f in delivered] == [1, 2, 3, 5, 6, 7]
    assert [(e.count, e.after_tick) for e in missed] == [(1, 3)]
    for frame in delivered:
        assert_matches_script(frame, script)


# --------------------------------------------------------------------------- connection life cycle


def test_a_cleared_image_waits_for_the_sim_and_connects_when_it_publishes(tmp_path: Path) -> None:
    with IrsdkImageWriter(tmp_path / "irsdk.bin", MINIMAL_YAML) as image:
        image.zero_header()
        with IRacingAdapter(image.path, reconnect_interval_s=1.0) as adapter:
            assert not adapter.connect(0.0)
            assert adapter.read(0.5) is None  # rate limited: no new attempt yet
            assert adapter.state is AdapterState.WAITING_FOR_SIM
            image.initialise(MINIMAL_YAML)
            image.write_tick(ScriptedSession().values(1))
            assert adapter.read(0.9) is None  # still inside the reconnect interval
            frame = adapter.read(1.0)
            assert frame is not None and frame.tick == 1
            assert adapter.state is AdapterState.CONNECTED
            assert adapter.session_info is not None
            assert adapter.session_info.track.display_name == "PitBox Test Ring"


def test_the_sim_restarting_goes_through_disconnected_and_reads_the_new_session(tmp_path: Path) -> None:
    monza, tsukuba = session_yaml("monza_offline_test_2016.yaml"), session_yaml("tsukuba_f4_race_2025.yaml")
    first, second = ScriptedSession(), ScriptedSession(session_num=2, player_car_idx=63, track_length_m=2080.0)
    with IrsdkImageWriter(tmp_path / "irsdk.bin", monza) as image, IRacingAdapter(image.path) as adapter:
        assert adapter.connect(0.0)
        before = drive(image, adapter, first, 30)
        assert adapter.session_info is not None and adapter.session_info.track.name == "monza full"

        image.zero_header()  # the sim exits
        assert adapter.read(0.6) is None
        assert adapter.state is AdapterState.WAITING_FOR_SIM
        assert adapter.session_info is None
        assert adapter.read(0.7) is None  # looks again at once, finds nothing

        image.initialise(tsukuba)  # the sim starts a new session with another track and layout
        for _ in range(3):
            image.write_tick(second.values(image.last_tick + 1))
        after = drain(adapter, 1.8)
        events = adapter.drain_events()

    assert [f.tick for f in before] == list(range(1, 31))
    assert states(events) == [
        AdapterState.CONNECTED,
        AdapterState.DISCONNECTED,
        AdapterState.WAITING_FOR_SIM,
        AdapterState.CONNECTED,
    ]
    sessions = [e.info for e in events if isinstance(e, SessionChanged)]
    assert [s.track.name for s in sessions] == ["monza full", "tsukuba 2kfull"]
    assert sessions[1].session_type is SessionType.RACE
    assert [f.tick for f in after] == [1, 2, 3]
    assert after[-1].session_time_s == second.session_time_s(3)
    assert not [e for e in events if isinstance(e, TicksMissed)]


def test_a_tick_counter_going_backwards_is_a_new_session(image: IrsdkImageWriter, adapter: IRacingAdapter) -> None:
    script = ScriptedSession()
    assert adapter.connect(0.0)
    assert [f.tick for f in drive(image, adapter, script, 50)] == list(range(1, 51))
    image.set_session_yaml(MINIMAL_YAML)
    image.set_session_yaml(MINIMAL_YAML)
    adapter.read(1.0)
    adapter.drain_events()

    # The sim restarts in the same memory without clearing the header in between (as a reader
    # polling more slowly than the restart would see it): same layout, session_info_update back to 1.
    image.initialise(MINIMAL_YAML.replace("PitBox Test Ring", "PitBox Second Ring"))
    for _ in range(3):
        image.write_tick(script.values(image.last_tick + 1))
    frames = drain(adapter, 1.1)
    events = adapter.drain_events()

    assert [f.tick for f in frames] == [1, 2, 3]
    assert states(events) == []  # still connected: the sim is there, its session is new
    sessions = [e.info for e in events if isinstance(e, SessionChanged)]
    assert [s.track.display_name for s in sessions] == ["PitBox Second Ring"]
    assert sessions[0].update_count == 1


def test_a_stalled_sim_is_retried_and_connected_again_when_ticks_resume(
    image: IrsdkImageWriter, adapter: IRacingAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    script = ScriptedSession()
    assert adapter.connect(0.0)
    before = drive(image, adapter, script, 60)  # the last tick arrives at now_s = 1.0

    assert adapter.read(2.9) is None
    assert adapter.state is AdapterState.CONNECTED  # 1.9 s without a tick: not yet stalled
    with caplog.at_level(logging.INFO, logger="adapters.iracing"):
        assert adapter.read(3.1) is None
        assert adapter.state is AdapterState.STALLED
        assert adapter.read(3.5) is None
        assert adapter.read(4.2) is None  # a second retry, one reconnect interval later
    retries = [r for r in caplog.records if "mapping the sim again" in r.getMessage()]
    assert len(retries) == 2
    assert adapter.state is AdapterState.STALLED

    for _ in range(2):  # the sim ticks again
        image.write_tick(script.values(image.last_tick + 1))
    after = drain(adapter, 4.3)
    events = adapter.drain_events()

    assert adapter.state is AdapterState.CONNECTED
    assert [f.tick for f in before + after] == list(range(1, 63))
    assert states(events) == [AdapterState.CONNECTED, AdapterState.STALLED, AdapterState.CONNECTED]
    stalled = [e for e in events if isinstance(e, StateChanged) and e.current is AdapterState.STALLED]
    assert stalled[0].at_s == 3.1
    assert len([e for e in events if isinstance(e, SessionChanged)]) == 1  # not re-announced


def test_a_sim_gone_while_stalled_is_disconnected(image: IrsdkImageWriter, adapter: IRacingAdapter) -> None:
    assert adapter.connect(0.0)
    image.write_tick(ScriptedSession().values(1))
    assert adapter.read(0.1) is not None
    assert adapter.read(2.5) is None
    assert adapter.state is AdapterState.STALLED
    image.set_connected(False)  # status flag down: the sim left the session
    assert adapter.read(4.0) is None
    assert states(adapter.drain_events()) == [
        AdapterState.CONNECTED,
        AdapterState.STALLED,
        AdapterState.DISCONNECTED,
        AdapterState.WAITING_FOR_SIM,
    ]


def test_close_releases_the_image_and_connect_attaches_again(image: IrsdkImageWriter) -> None:
    adapter = IRacingAdapter(image.path)
    image.write_tick(ScriptedSession().values(1))
    assert adapter.connect(0.0)
    adapter.close()
    assert adapter.state is AdapterState.WAITING_FOR_SIM
    assert adapter.read(0.0) is not None  # attaches again at once and delivers the buffered tick
    adapter.close()


# --------------------------------------------------------------------------- session info


def test_a_driver_swap_in_a_team_session_is_reported_once(tmp_path: Path) -> None:
    motegi = session_yaml("motegi_team_practice_2015.yaml")
    swapped = (
        motegi.replace(b"UserName: Antti Pihlaja", b"UserName: Kaisa Virtanen")
        .replace(b"AbbrevName: Pihlaja, A", b"AbbrevName: Virtanen, K")
        .replace(b"UserID: 93910", b"UserID: 271828")
    )
    assert swapped.count(b"Kaisa Virtanen") == 1 and b"271828" in swapped
    script = ScriptedSession(track_length_m=4750.0)
    with IrsdkImageWriter(tmp_path / "irsdk.bin", motegi) as image, IRacingAdapter(image.path) as adapter:
        assert adapter.connect(0.0)
        drive(image, adapter, script, 120)
        image.set_session_yaml(motegi)  # an update that changes no driver
        drive(image, adapter, script, 1)
        image.set_session_yaml(swapped)  # the swap, seen with tick 122
        drive(image, adapter, script, 1)
        image.set_session_yaml(swapped)  # a later update with the same driver
        drive(image, adapter, script, 1)
        events = adapter.drain_events()
        info = adapter.session_info

    swaps = [e for e in events if isinstance(e, DriverSwap)]
    assert len(swaps) == 1
    swap = swaps[0]
    assert swap.car_idx == 0
    assert swap.previous is not None
    assert (swap.previous.driver_name, swap.previous.driver_id) == ("Antti Pihlaja", 93910)
    assert (swap.current.driver_name, swap.current.driver_id) == ("Kaisa Virtanen", 271828)
    assert swap.current.team_name == "Team Antti Pihlaja #37"
    assert swap.session_time_s == script.session_time_s(122)
    assert [e.info.update_count for e in events if isinstance(e, SessionChanged)] == [1, 2, 3, 4]
    assert info is not None and info.player is not None and info.player.driver_name == "Kaisa Virtanen"


REAL_SESSIONS = {
    "monza_offline_test_2016.yaml": dict(
        session_num=0,
        track=("monza full", "Autodromo Nazionale Monza", 5750.0),
        sectors=(0.0, 0.345, 0.476, 0.658, 0.853),
        session_type=SessionType.TESTING,
        team_racing=False,
        player=("Antti Pihlaja", "Ford GT GT3", "Ford GT GT3", "Antti Pihlaja"),
        racers=1,
        classes=["Ford GT GT3"],
    ),
    "motegi_team_practice_2015.yaml": dict(
        session_num=0,
        track=("twinring fullrc", "Twin Ring Motegi", 4750.0),
        sectors=(0.0, 0.157, 0.301, 0.449, 0.629, 0.780),
        session_type=SessionType.PRACTICE,
        team_racing=True,
        player=("Antti Pihlaja", "McLaren MP4-12C GT3", "GT3 Class", "Team Antti Pihlaja #37"),
        racers=1,
        classes=["GT3 Class"],
    ),
    "tsukuba_f4_race_2025.yaml": dict(
        session_num=2,
        track=("tsukuba 2kfull", "Tsukuba Circuit 2k Full", 2080.0),
        sectors=(0.0, 0.25, 0.5, 0.75),
        session_type=SessionType.RACE,
        team_racing=False,
        player=("Jonathan Glanz", "FIA F4", "FIA F4", "Jonathan Glanz"),
        racers=22,  # 24 entries: the pace car and the player, who is spectating, are not racing
        classes=["FIA F4"],
    ),
}


@pytest.mark.parametrize("name", sorted(REAL_SESSIONS))
def test_real_session_yaml_is_parsed_from_the_image(tmp_path: Path, name: str) -> None:
    expected = REAL_SESSIONS[name]
    script = ScriptedSession(session_num=expected["session_num"])
    path = write_image(tmp_path / "irsdk.bin", session_yaml(name), [script.values(1)])
    with IRacingAdapter(path) as adapter:
        assert adapter.connect(0.0)
        info = adapter.session_info

    assert info is not None
    assert (info.track.name, info.track.display_name, info.track.length_m) == expected["track"]
    assert info.track.sector_starts_frac == pytest.approx(expected["sectors"])
    assert info.session_type is expected["session_type"]
    assert info.session_num == expected["session_num"]
    assert info.team_racing is expected["team_racing"]
    player = info.player
    assert player is not None
    assert (player.driver_name, player.car_name, player.class_name, player.team_name) == expected["player"]
    racers = info.to_dict()["drivers"]
    assert len(racers) == expected["racers"]
    assert all(d["class"] and d["team"] for d in racers)
    assert [c.name for c in info.classes] == expected["classes"]


def test_tsukuba_names_keep_their_accents_and_the_session_follows_session_num(tmp_path: Path) -> None:
    script = ScriptedSession(session_num=1)
    with IrsdkImageWriter(tmp_path / "irsdk.bin", session_yaml("tsukuba_f4_race_2025.yaml")) as image:
        image.write_tick(script.values(1))
        with IRacingAdapter(image.path) as adapter:
            assert adapter.connect(0.0)
            info = adapter.session_info
            assert info is not None and info.session_type is SessionType.QUALIFY
            names = {d.driver_name for d in info.drivers}
            assert "Victor Padín Gómez" in names  # cp1252 in the image, decoded as the sim meant
            assert [d.class_id for d in info.drivers if d.car_idx == 1] == [3188]

            race = ScriptedSession(session_num=2)
            image.write_tick(race.values(2))  # the sim moves on to the race; no new YAML yet
            adapter.read(0.1)
            changes = [e.info for e in adapter.drain_events() if isinstance(e, SessionChanged)]
            assert [c.session_type for c in changes] == [SessionType.QUALIFY, SessionType.RACE]
            assert changes[-1].time_limit_s == 1200.0


# --------------------------------------------------------------------------- broken and missing files


@pytest.fixture
def monza_dump() -> Path:
    return reference_path("irsdk_memmap", "w13_monza_garage_2024.bin")


@pytest.mark.parametrize(
    ("keep_bytes", "message"),
    [(60, "too short"), (200_000, "truncated"), (560_000, "truncated"), (600_000, "truncated")],
)
def test_a_truncated_image_is_a_clear_format_error(
    tmp_path: Path, monza_dump: Path, keep_bytes: int, message: str
) -> None:
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(monza_dump.read_bytes()[:keep_bytes])
    adapter = IRacingAdapter(truncated)
    with pytest.raises(TelemetryFormatError, match=message):
        adapter.connect(0.0)
    assert adapter.state is AdapterState.WAITING_FOR_SIM


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 5000,
        b'{"not": "iracing"}\n' * 70_000,
        random.Random(3).randbytes(1_191_936),
    ],
    ids=["png", "json", "random"],
)
def test_a_file_that_is_not_an_iracing_image_is_a_clear_format_error(tmp_path: Path, content: bytes) -> None:
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(content)
    with pytest.raises(TelemetryFormatError, match="not iRacing telemetry"):
        IRacingAdapter(foreign).read(0.0)


def test_a_missing_image_is_sim_not_found(tmp_path: Path) -> None:
    with pytest.raises(SimNotFoundError, match="no iRacing memory image"):
        IRacingAdapter(tmp_path / "absent.bin").connect(0.0)


def test_buffers_that_run_past_the_end_of_the_image_are_a_format_error(tmp_path: Path) -> None:
    image = write_image(tmp_path / "irsdk.bin", MINIMAL_YAML, [ScriptedSession().values(1)])
    data = bytearray(image.read_bytes())
    data[48 + 4 : 48 + 8] = (len(data) - 10).to_bytes(4, "little")  # first buffer runs off the end
    image.write_bytes(bytes(data))
    with pytest.raises(TelemetryFormatError, match="buffers run past"):
        IRacingAdapter(image).connect(0.0)


# --------------------------------------------------------------------------- the real memory dump


def test_the_real_monza_dump(monza_dump: Path) -> None:
    with IRacingAdapter(monza_dump) as adapter:
        assert adapter.connect(0.0)
        frames = drain(adapter, 0.0)
        info = adapter.session_info
        assert adapter.read(2.5) is None  # a snapshot never ticks again
        assert adapter.state is AdapterState.STALLED

    assert [f.tick for f in frames] == [2003, 2004, 2005]  # the newest buffer is the middle slot
    assert info is not None
    assert (info.track.name, info.track.display_name) == ("monza full", "Autodromo Nazionale Monza")
    assert info.track.length_m == 5750.0
    assert len(info.track.sector_starts_frac) == 5
    assert info.session_type is SessionType.TESTING
    assert info.update_count == 3
    assert len(info.drivers) == 1
    player = info.player
    assert player is not None and player.car_name == "Mercedes-AMG W13 E Performance"
    assert player.car_path == "mercedesw13"
    newest = frames[-1]
    assert not newest.in_world and not newest.is_on_track
    assert newest.track_surface == -1
    assert newest.speed_mps == 0.0 and newest.rpm == 300.0
    assert newest.session_time_s == pytest.approx(53.15, abs=0.005)
    assert [f.session_time_s for f in frames] == sorted(f.session_time_s for f in frames)
    assert newest.cars is not None and newest.cars.shape == (MAX_CARS,)
    assert np.all(newest.cars["track_surface"] == -1)  # nobody is on track


# --------------------------------------------------------------------------- registry


def test_the_adapter_registers_itself_with_its_detector() -> None:
    register_adapter()
    spec = base._REGISTRY["iracing"]
    assert spec.factory is IRacingAdapter
    assert spec.detect is sim_running
    assert isinstance(IRacingAdapter(), base.SimAdapter)


@pytest.mark.skipif(sys.platform == "win32", reason="iRacing may be running on a Windows machine")
def test_no_sim_is_detected_or_found_off_windows() -> None:
    assert sim_running() is False
    adapter = IRacingAdapter()
    assert not adapter.connect(0.0)
    assert adapter.read(5.0) is None
    assert adapter.state is AdapterState.WAITING_FOR_SIM
