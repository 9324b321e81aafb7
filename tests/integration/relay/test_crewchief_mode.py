"""CrewChief-compatible MQTT mode against a real mosquitto: the B4MAD backend's topics and fields out,
its coaching replies on /coach/{driver} back to the driver's app as `ai_coaching`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import numpy as np
import pytest

from adapters.model import FrameBlock, TrackSurface, empty_frames
from relay.auth import TokenStore
from relay.client import RelayClient
from relay.forwarder import Forwarder
from relay.protocol import MessageType, Role
from relay.server import RelayServer, ServerOptions
from relay.sinks.mqtt import CoachSubscriber, MqttSink
from relay.spool import Spool
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.integration
TOPIC = "crewchief/Alex/practice1/iRacing/pitbox_park/pitbox_gt3/Practice"
FIELDS = {
    "Clutch", "Brake", "Throttle", "Handbrake", "SteeringAngle", "Rpms", "Gear", "SpeedMs", "DistanceRoundTrack",
    "WorldPosition_x", "WorldPosition_y", "WorldPosition_z", "CurrentLap", "LapTimeCurrent", "LapTimePrevious",
    "CurrentLapIsValid", "PreviousLapWasValid", "CarClass",
}  # fmt: skip


def _frames(start: int, count: int) -> FrameBlock:
    block = empty_frames(count)
    i = np.arange(start, start + count)
    block["in_world"] = True
    block["session_time_s"] = i / 60.0
    block["speed_mps"] = 30.0 + i * 0.01
    block["rpm"] = 6000.0
    block["gear"] = 3
    block["throttle"] = 0.75
    block["brake"] = 0.0
    block["lap"] = 2
    block["lap_dist_m"] = 100.0 + i
    block["latitude_deg"], block["longitude_deg"], block["altitude_m"] = 52.0931, 5.3817, 12.0
    block["track_surface"] = TrackSurface.ON_TRACK
    return FrameBlock(block)


def test_crewchief_topics_fields_and_coach_replies_through_a_real_broker(tmp_path: Path) -> None:
    async def scenario(broker: Mosquitto) -> None:
        store = TokenStore(tmp_path / "tokens.json")
        _, token = store.invite("Alex", Role.DRIVER, 3, now_s=0)
        spool = Spool(tmp_path / "spool.sqlite3")
        sink = MqttSink(
            broker.host,
            broker.port,
            team="team",
            session="practice1",
            client_id="relay-under-test",
            mode="crewchief",
            crewchief_driver="Alex",
            crewchief_track="pitbox_park",
            crewchief_car="pitbox_gt3",
            crewchief_sessiontype="Practice",
            crewchief_car_class="GT3",
        )
        coach = CoachSubscriber(broker.host, broker.port, "Alex", car_id=3)
        server = RelayServer(
            store,
            spool,
            options=ServerOptions(host="127.0.0.1", port=0),
            forwarders=[Forwarder(spool, "mqtt", sink)],
            inbound=[coach],
        )
        received: list[dict[str, object]] = []
        async with aiomqtt.Client(broker.host, broker.port, identifier="backend") as backend:
            await backend.subscribe("crewchief/#", qos=1)
            await server.start()
            driver = RelayClient(server.url, token, car_id=3)
            driver.start()
            try:
                await asyncio.wait_for(driver.connected.wait(), 10)
                for k in range(5):
                    driver.send_frames(_frames(k * 6, 6))
                async with asyncio.timeout(15):
                    async for message in backend.messages:
                        assert str(message.topic) == TOPIC
                        received.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
                        if len(received) == 30:
                            break
                await asyncio.wait_for(coach.subscribed.wait(), 10)
                reply = {
                    "message": "Brake later into turn one",
                    "priority": 5,
                    "distance": 120.0,
                    "max_distance": 300.0,
                }
                await backend.publish("/coach/Alex", json.dumps(reply), qos=1)
                while True:
                    envelope = await asyncio.wait_for(driver.incoming.get(), 10)
                    if envelope.type is MessageType.AI_COACHING:
                        break
            finally:
                await driver.close()
                await server.stop()
                spool.close()
        assert envelope.data["message"] == "Brake later into turn one"
        assert envelope.data["distance"] == 120.0 and envelope.data["max_distance"] == 300.0
        telemetry = [r["telemetry"] for r in received]
        assert all(set(t) >= FIELDS for t in telemetry), sorted(FIELDS - set(telemetry[0]))
        assert [t["DistanceRoundTrack"] for t in telemetry] == pytest.approx([100.0 + i for i in range(30)], abs=0.01)
        first = telemetry[0]
        assert first["SpeedMs"] == pytest.approx(30.0, abs=0.01) and first["Gear"] == 3 and first["Rpms"] == 6000
        assert first["Throttle"] == pytest.approx(0.75, abs=1e-3) and first["CurrentLap"] == 2
        assert first["CurrentLapIsValid"] is True and first["CarClass"] == "GT3"

    with Mosquitto(tmp_path / "mosquitto") as broker:
        asyncio.run(scenario(broker))
