"""The MQTT sink and the coach subscriber against a real mosquitto on loopback.

pitbox mode: every batch arrives (at least once, in order) although the broker restarts mid-stream;
crewchief mode: the B4MAD backend's topic and field names, one message per frame, values from the
frames; the coach subscriber turns `/coach/{driver}` replies into `ai_coaching` envelopes.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiomqtt
import numpy as np
import pytest

from adapters.model import FrameBlock, TrackSurface, empty_frames
from relay.errors import SinkError
from relay.forwarder import Forwarder
from relay.protocol import Envelope, MessageType, TelemetryBatch, decode_header, encode_batch, encode_message
from relay.sinks.mqtt import CoachSubscriber, CrewChiefEncoder, MqttSink, coach_topic, pitbox_topic
from relay.spool import RecordKind, Spool, SpoolEntry, message_key, telemetry_key
from tests.support.mosquitto import Mosquitto, mosquitto_or_skip

pytestmark = pytest.mark.integration

TEAM, SESSION = "blue-team", "s20261121"
CREWCHIEF_FIELDS = {
    "Clutch",
    "Brake",
    "Throttle",
    "Handbrake",
    "SteeringAngle",
    "Rpms",
    "Gear",
    "SpeedMs",
    "DistanceRoundTrack",
    "WorldPosition_x",
    "WorldPosition_y",
    "WorldPosition_z",
    "CurrentLap",
    "LapTimeCurrent",
    "CurrentLapTime",
    "LapTimePrevious",
    "CurrentLapIsValid",
    "PreviousLapWasValid",
    "CarClass",
    "PitBoxId",
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto_or_skip()
    with Mosquitto(tmp_path / "broker") as running:
        yield running


def _frames(start_frame: int, count: int) -> np.ndarray:
    """Plausible frames of a lap: 60 Hz, accelerating along a straight heading north-east."""
    i = np.arange(start_frame, start_frame + count, dtype=np.float64)
    f = empty_frames(count)
    f["session_time_s"] = 100.0 + i / 60.0
    f["tick"] = i.astype(np.int32)
    f["in_world"] = True
    f["is_on_track"] = True
    f["track_surface"] = int(TrackSurface.ON_TRACK)
    f["lap"] = np.where(i < 30, 1, 2)
    f["lap_dist_m"] = np.where(i < 30, 5500.0 + i * 0.9, (i - 30) * 0.9)
    f["speed_mps"] = 40.0 + i * 0.25
    f["rpm"] = 5000.0 + i * 20.0
    f["gear"] = (3 + (i // 25)).astype(np.int16)
    f["throttle"] = np.clip(0.5 + i / 100.0, 0.0, 1.0)
    f["brake"] = np.where(i % 20 < 5, 0.3, 0.0)
    f["clutch"] = 0.0
    f["steering_angle_rad"] = 0.1 * np.sin(i / 10.0)
    f["latitude_deg"] = 27.45 + i * 1e-5
    f["longitude_deg"] = -81.35 + i * 1e-5
    f["altitude_m"] = 12.0 + i * 0.01
    f["current_lap_time_s"] = np.where(i < 30, 90.0 + i / 60.0, (i - 30) / 60.0)
    f["last_lap_time_s"] = np.where(i < 30, np.nan, 120.5)
    return f


def _batch_entry(car_id: int, seq: int, frames: np.ndarray) -> SpoolEntry:
    payload = encode_batch(TelemetryBatch(car_id, seq, FrameBlock(frames)))
    return SpoolEntry(telemetry_key(car_id, seq), RecordKind.TELEMETRY, car_id, payload, created_s=1_700_000_000.0)


async def _until(
    condition: Callable[[], bool], timeout_s: float, what: str, state: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state()}")
        await asyncio.sleep(0.01)


async def _subscribe_persistently(
    broker: Mosquitto, topic: str, on_message: Callable[[aiomqtt.Message], None], ready: asyncio.Event
) -> None:
    """A QoS 1 subscriber with a persistent session: reconnects (same client id) until cancelled."""
    while True:
        try:
            async with aiomqtt.Client(
                broker.host, broker.port, identifier="test-dashboard", clean_session=False, timeout=5
            ) as client:
                await client.subscribe(topic, qos=1)
                ready.set()
                async for message in client.messages:
                    on_message(message)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.05)


@pytest.mark.slow
def test_pitbox_mode_delivers_every_batch_in_order_across_a_broker_restart(broker: Mosquitto, tmp_path: Path) -> None:
    cars, per_car = (3, 11), 250
    entries = [_batch_entry(car, seq, _frames(seq % 40, 10)) for seq in range(per_car) for car in cars]
    arrived: list[tuple[str, int, int]] = []
    control: list[tuple[str, bytes]] = []

    def on_message(message: aiomqtt.Message) -> None:
        assert isinstance(message.payload, bytes)
        if str(message.topic).endswith("/control"):
            control.append((str(message.topic), message.payload))
            return
        header = decode_header(message.payload)
        arrived.append((str(message.topic), header.car_id, header.seq))

    async def scenario() -> Forwarder:
        ready = asyncio.Event()
        dashboard = asyncio.create_task(
            _subscribe_persistently(broker, f"pitbox/{TEAM}/+/{SESSION}/#", on_message, ready)
        )
        await asyncio.wait_for(ready.wait(), 5)
        with Spool(tmp_path / "spool.db") as spool:
            sink = MqttSink(
                broker.host,
                broker.port,
                team=TEAM,
                session=SESSION,
                client_id="relay-test",
                batch_records=25,
                timeout_s=5.0,
                backoff_initial_s=0.05,
                backoff_max_s=0.3,
            )
            forwarder = Forwarder(spool, "mqtt", sink)
            stop = asyncio.Event()
            task = asyncio.create_task(forwarder.run(stop))
            try:
                spool.append_many(entries[:300])
                spool.append(message_key("m1"), "control", None, b'{"type":"team_message","id":"m1","data":{}}')
                forwarder.notify()
                await _until(lambda: len(arrived) >= 100, 10, "the first batches")
                # The broker goes away mid-stream (persistence saved), the relay keeps appending.
                await asyncio.to_thread(broker.stop)
                spool.append_many(entries[300:])
                forwarder.notify()
                await asyncio.sleep(0.5)
                await asyncio.to_thread(broker.start)

                def state() -> str:
                    return (
                        f"pending={forwarder.pending} sent={forwarder.sent_records} failures={forwarder.failures} "
                        f"last_error={forwarder.last_error} arrived={len(arrived)} unique={len(set(arrived))} "
                        f"broker log: {broker.log()}"
                    )

                await _until(lambda: forwarder.pending == 0, 15, "the spool to drain", state)
                await _until(lambda: len(set(arrived)) == len(entries), 15, "every batch at the dashboard", state)
            finally:
                stop.set()
                await asyncio.wait_for(task, 5)
                dashboard.cancel()
                await asyncio.gather(dashboard, return_exceptions=True)
        return forwarder

    forwarder = asyncio.run(scenario())
    for topic, car_id, _ in arrived:
        assert (
            topic == pitbox_topic(TEAM, car_id, SESSION, "telemetry") == f"pitbox/{TEAM}/{car_id}/{SESSION}/telemetry"
        )
    for car in cars:
        seqs = [seq for _, car_id, seq in arrived if car_id == car]
        first_seen = list(dict.fromkeys(seqs))
        assert first_seen == list(range(per_car)), f"car {car}: batches missing or out of order"
    assert control and control[0][0] == f"pitbox/{TEAM}/all/{SESSION}/control"
    assert json.loads(control[0][1])["id"] == "m1"
    assert forwarder.failures >= 1 and forwarder.sent_records == len(entries) + 1


def test_crewchief_mode_publishes_one_backend_message_per_frame(broker: Mosquitto, tmp_path: Path) -> None:
    frames = _frames(0, 60)
    off_track = [10, 45]
    frames["track_surface"][off_track] = int(TrackSurface.OFF_TRACK)
    entries = [_batch_entry(4, seq, frames[seq * 20 : seq * 20 + 20]) for seq in range(3)]
    entries.insert(1, SpoolEntry(message_key("x"), RecordKind.CONTROL, 4, b'{"type":"team_message"}'))
    topic = "crewchief/durandom/1669233999/iRacing/sebring international/Ferrari 488 GT3 Evo 2021/Race"
    received: list[tuple[str, dict[str, object]]] = []

    async def scenario() -> MqttSink:
        ready = asyncio.Event()

        def on_message(message: aiomqtt.Message) -> None:
            assert isinstance(message.payload, bytes)
            received.append((str(message.topic), json.loads(message.payload)))

        listener = asyncio.create_task(_subscribe_persistently(broker, "crewchief/#", on_message, ready))
        await asyncio.wait_for(ready.wait(), 5)
        sink = MqttSink(
            broker.host,
            broker.port,
            team=TEAM,
            session="1669233999",
            client_id="relay-crewchief",
            mode="crewchief",
            crewchief_driver="durandom",
            crewchief_game="iRacing",
            crewchief_track="sebring international",
            crewchief_car="Ferrari 488 GT3 Evo 2021",
            crewchief_sessiontype="Race",
            crewchief_car_class="GT3",
        )
        with Spool(tmp_path / "spool.db") as spool:
            spool.append_many(entries)
            forwarder = Forwarder(spool, "crewchief", sink)
            stop = asyncio.Event()
            task = asyncio.create_task(forwarder.run(stop))
            try:
                await _until(lambda: len(received) >= 60, 10, "60 frames")
                await asyncio.sleep(0.1)  # nothing more should come
            finally:
                stop.set()
                await asyncio.wait_for(task, 5)
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
        return sink

    sink = asyncio.run(scenario())
    assert len(received) == 60 and sink.published_messages == 60 and sink.skipped_records == 1
    for i, (got_topic, message) in enumerate(received):
        assert got_topic == topic
        assert set(message) == {"time", "telemetry"}
        t = message["telemetry"]
        assert isinstance(t, dict) and set(t) == CREWCHIEF_FIELDS
        f = frames[i]
        assert t["PitBoxId"] == f"4:{i // 20}:{i % 20}"
        assert t["SpeedMs"] == pytest.approx(float(f["speed_mps"]), abs=0.006)
        assert t["Rpms"] == pytest.approx(float(f["rpm"]), abs=0.6)
        assert t["Gear"] == int(f["gear"]) and t["CurrentLap"] == int(f["lap"])
        assert t["Throttle"] == pytest.approx(float(f["throttle"]), abs=0.001)
        assert t["Brake"] == pytest.approx(float(f["brake"]), abs=0.001)
        assert t["Clutch"] == 0.0 and t["Handbrake"] == 0.0
        assert t["SteeringAngle"] == pytest.approx(float(f["steering_angle_rad"]), abs=0.001)
        assert t["DistanceRoundTrack"] == pytest.approx(float(f["lap_dist_m"]), abs=0.01)
        assert t["LapTimeCurrent"] == t["CurrentLapTime"] == pytest.approx(float(f["current_lap_time_s"]), abs=0.002)
        expected_previous = -1.0 if math.isnan(f["last_lap_time_s"]) else float(f["last_lap_time_s"])
        assert t["LapTimePrevious"] == pytest.approx(expected_previous, abs=0.002)
        assert t["CurrentLapIsValid"] is (not (10 <= i < 30 or i >= 45))  # off track at 10 (lap 1) and 45 (lap 2)
        assert t["PreviousLapWasValid"] is (i < 30)  # lap 1 was invalid
        assert t["CarClass"] == "GT3"
        # Local metres from the first fix: x east, y altitude, z north.
        north = math.radians(i * 1e-5) * 6_371_008.8
        east = north * math.cos(math.radians(27.45))
        assert t["WorldPosition_x"] == pytest.approx(east, abs=0.05)
        assert t["WorldPosition_z"] == pytest.approx(north, abs=0.05)
        assert t["WorldPosition_y"] == pytest.approx(float(f["altitude_m"]), abs=0.01)
        assert isinstance(message["time"], int)
    times = [int(str(m["time"])) for _, m in received]
    assert times[19] - times[0] == pytest.approx(19 / 60 * 1e9, abs=1e6)  # frame times (ms precision)


def test_coach_replies_become_ai_coaching_envelopes_and_malformed_ones_are_counted(broker: Mosquitto) -> None:
    async def scenario() -> tuple[list[Envelope], CoachSubscriber]:
        subscriber = CoachSubscriber(broker.host, broker.port, "durandom", car_id=4, backoff_initial_s=0.05)
        replies = subscriber.__aiter__()
        envelopes: list[Envelope] = []
        try:
            first = asyncio.ensure_future(anext(replies))
            await asyncio.wait_for(subscriber.subscribed.wait(), 5)
            async with aiomqtt.Client(broker.host, broker.port, identifier="b4mad-backend") as backend:
                for bad in (b"{not json", b'{"priority": 5}', b'{"message": "brake", "priority": 500}', b"[1, 2]"):
                    await backend.publish(coach_topic("durandom"), bad, qos=1)
                good = {"message": "brake at the 100 board", "priority": 5, "distance": 120.5, "max_distance": 300}
                await backend.publish("/coach/durandom", json.dumps(good).encode(), qos=1)
                await backend.publish("/coach/durandom", b'{"message": "throttle to 80", "at": 410}', qos=1)
                envelopes.append(await asyncio.wait_for(first, 5))
                envelopes.append(await asyncio.wait_for(anext(replies), 5))
        finally:
            await replies.aclose()
        return envelopes, subscriber

    envelopes, subscriber = asyncio.run(scenario())
    first, second = envelopes
    assert first.type is MessageType.AI_COACHING
    assert dict(first.data) == {
        "message": "brake at the 100 board",
        "priority": 5,
        "distance": 120.5,
        "max_distance": 300,
        "driver": "durandom",
        "car_id": 4,
    }
    assert second.data["distance"] == 410 and second.data["message"] == "throttle to 80"
    encode_message(first)  # valid on the wire to the driver app
    assert subscriber.malformed == 4 and subscriber.received == 6


def test_a_retried_batch_encodes_to_the_same_crewchief_messages() -> None:
    frames = _frames(0, 60)
    frames["track_surface"][[10, 45]] = int(TrackSurface.OFF_TRACK)
    batches = [TelemetryBatch(4, seq, FrameBlock(frames[seq * 20 : seq * 20 + 20])) for seq in range(3)]
    encoder = CrewChiefEncoder(car_class="GT3")
    first = [encoder.encode(batch, 1_700_000_000.0) for batch in batches]
    assert encoder.encode(batches[1], 1_700_000_000.0) == first[1]  # a retried send: same state, same messages
    assert encoder.encode(batches[2], 1_700_000_000.0) == first[2]
    last = json.loads(first[2][-1])["telemetry"]
    assert last["CurrentLapIsValid"] is False and last["PreviousLapWasValid"] is False


def test_topic_segments_are_checked() -> None:
    assert coach_topic("durandom") == "/coach/durandom"
    assert pitbox_topic("t", None, "s", "control") == "pitbox/t/all/s/control"
    for bad in ("a/b", "a+b", "a#", ""):
        with pytest.raises(SinkError):
            MqttSink("127.0.0.1", 1883, team=bad, session="s", client_id="c")
        with pytest.raises(SinkError):
            MqttSink(
                "h",
                1,
                team="t",
                session="s",
                client_id="c",
                mode="crewchief",
                crewchief_driver="d",
                crewchief_track=bad,
                crewchief_car="c",
            )
    with pytest.raises(SinkError):
        MqttSink("h", 1, team="t", session="s", client_id="c", mode="influx")
