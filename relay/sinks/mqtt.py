"""The MQTT sink (publishes spool records to a broker at QoS 1) and the CrewChief coach subscriber.

Topic scheme, `pitbox` mode (the default):

    pitbox/{team}/{car_id}/{session}/telemetry   binary telemetry batch, byte for byte as the driver
                                                 app sent it (its header carries car_id and seq: the
                                                 idempotency key)
    pitbox/{team}/{car_id}/{session}/control     a JSON control message as the relay stored it (its
                                                 `id`, where it has one, identifies it)

`car_id` is the decimal car id, or `all` for a control message that is about no one car (a team
message). A team's dashboard subscribes to `pitbox/{team}/+/{session}/#`; one car's telemetry is
`pitbox/{team}/{car_id}/{session}/telemetry`.

Messages go out at QoS 1 (`qos`), in spool order, at least once: a subscriber drops duplicates by
(car_id, seq) from the batch header.

`crewchief` mode feeds the original design's B4MAD copilot backend unchanged. Each telemetry batch is
decoded and every frame published as one JSON message

    crewchief/{driver}/{session}/{game}/{track}/{car}/{sessiontype}
    {"time": <wall-clock ns>, "telemetry": {...}}

(`session` is the sink's `session`, CrewChief's session id; `time`, as CrewChief itself sends it, is
the frame's wall-clock time: the record's arrival time less the frame's age within its batch)

with the field names that backend reads, mapped from the canonical frame:

    SpeedMs = speed_mps, Rpms = rpm, Gear = gear, Throttle / Brake / Clutch = the pedals (0..1),
    Handbrake = 0, SteeringAngle = steering_angle_rad (rad), DistanceRoundTrack = lap_dist_m,
    CurrentLap = lap, LapTimeCurrent and CurrentLapTime (the name the backend's lap logic reads) =
    current_lap_time_s, LapTimePrevious = last_lap_time_s (CrewChief's -1 when there is none),
    CurrentLapIsValid = no frame of this lap so far was off track or out of the world,
    PreviousLapWasValid = the same for the previous lap (true until a lap is seen to be invalid),
    WorldPosition_x / _y / _z = local metres east / altitude_m (up) / north of an origin (the
    configured `crewchief_origin_deg`, else each car's first GPS fix this sink saw; equirectangular,
    accurate to centimetres over a track), CarClass = the `crewchief_car_class` argument,
    PitBoxId = "{car_id}:{batch_seq}:{frame_index}" (duplicates from a resent batch are removable).

A missing value (NaN) is JSON null, except lap times, which use CrewChief's -1. Control records are
not published in crewchief mode (that backend has no use for them). Topic segments may not contain
`/`, `+`, `#` or NUL.

`CoachSubscriber` listens on `/coach/{driver}` for the backend's replies (JSON `message`, `priority`,
`distance` or `at`, `max_distance`) and yields them as `ai_coaching` envelopes for the driver app;
malformed replies are logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack
from typing import Any, Final

import aiomqtt
import numpy as np

from adapters.model import TrackSurface
from relay.errors import SinkError
from relay.protocol import Envelope, MessageType, ProtocolError, TelemetryBatch, decode_batch, validate_data
from relay.sinks import BackoffPolicy
from relay.spool import RecordKind, SpoolRecord

logger = logging.getLogger(__name__)

EARTH_RADIUS_M: Final = 6_371_008.8
"""Mean Earth radius (IUGG), for local east/north metres."""
MAX_INFLIGHT: Final = 100
"""QoS 1 messages awaiting PUBACK at once (paho queues the rest, in order)."""
ALL_CARS: Final = "all"
_BAD_TOPIC_CHARS: Final = frozenset("/+#\x00")


class MqttMode(enum.StrEnum):
    PITBOX = "pitbox"
    CREWCHIEF = "crewchief"


def _segment(name: str, value: str) -> str:
    if not value or _BAD_TOPIC_CHARS.intersection(value):
        raise SinkError(f"MQTT topic segment {name} must be non-empty, without '/', '+', '#' or NUL")
    return value


def pitbox_topic(team: str, car_id: int | None, session: str, channel: str) -> str:
    """`pitbox/{team}/{car_id|all}/{session}/{channel}` (channel: telemetry or control)."""
    car = ALL_CARS if car_id is None else str(car_id)
    return f"pitbox/{_segment('team', team)}/{car}/{_segment('session', session)}/{_segment('channel', channel)}"


def crewchief_topic(driver: str, session: str, game: str, track: str, car: str, sessiontype: str) -> str:
    """`crewchief/{driver}/{session}/{game}/{track}/{car}/{sessiontype}`."""
    parts = {"driver": driver, "session": session, "game": game, "track": track, "car": car}
    parts["sessiontype"] = sessiontype
    return "crewchief/" + "/".join(_segment(name, value) for name, value in parts.items())


def coach_topic(driver: str) -> str:
    """`/coach/{driver}`: where the B4MAD backend publishes its replies (note the leading slash)."""
    return f"/coach/{_segment('driver', driver)}"


# ------------------------------------------------------------------------------------------------
# CrewChief telemetry (pure)


def _num(value: Any, digits: int) -> float | None:
    number = float(value)
    return round(number, digits) if math.isfinite(number) else None


def _lap_time(value: Any) -> float:
    number = float(value)
    return round(number, 3) if math.isfinite(number) else -1.0


class _CarState:
    """What the CrewChief encoder remembers about one car between batches."""

    __slots__ = ("lap", "lap_valid", "origin_deg", "previous_valid")

    def __init__(self, origin_deg: tuple[float, float] | None) -> None:
        self.origin_deg = origin_deg
        self.lap: int | None = None
        self.lap_valid = True
        self.previous_valid = True

    def copy(self) -> _CarState:
        twin = _CarState(self.origin_deg)
        twin.lap, twin.lap_valid, twin.previous_valid = self.lap, self.lap_valid, self.previous_valid
        return twin


class CrewChiefEncoder:
    """Turns telemetry batches into CrewChief JSON messages, one per frame (see the module docstring).

    Lap validity carries over from batch to batch, so the encoder remembers each car's state before
    each of its last `REMEMBERED_BATCHES` batches: a batch encoded again (a retried send) starts from
    the same state and gives the same messages.
    """

    REMEMBERED_BATCHES: Final = 256

    def __init__(self, *, car_class: str = "", origin_deg: tuple[float, float] | None = None) -> None:
        self.car_class = car_class
        self.origin_deg = origin_deg
        self._cars: dict[int, _CarState] = {}
        self._before: dict[int, dict[int, _CarState]] = {}

    def encode(self, batch: TelemetryBatch, created_s: float) -> list[bytes]:
        """One `{"time", "telemetry"}` JSON message per frame of `batch` (received at `created_s`)."""
        before = self._before.setdefault(batch.car_id, {})
        if batch.seq in before:  # encoded before: start again from the state it started from
            state = before[batch.seq].copy()
        else:
            state = self._cars.get(batch.car_id) or _CarState(self.origin_deg)
            before[batch.seq] = state.copy()
            while len(before) > self.REMEMBERED_BATCHES:
                del before[next(iter(before))]
        self._cars[batch.car_id] = state
        f = batch.block.frames
        times = f["session_time_s"].astype(np.float64)
        last_time = float(times[-1])
        off = (~f["in_world"]) | (f["track_surface"] == int(TrackSurface.OFF_TRACK))
        messages: list[bytes] = []
        for i in range(len(f)):
            lap = int(f["lap"][i])
            if state.lap is None:
                state.lap = lap
            elif lap != state.lap:
                state.previous_valid = state.lap_valid
                state.lap_valid = True
                state.lap = lap
            if bool(off[i]):
                state.lap_valid = False
            x, y, z = self._position(state, f["latitude_deg"][i], f["longitude_deg"][i], f["altitude_m"][i])
            age_s = last_time - float(times[i])
            wall_s = created_s - (age_s if math.isfinite(age_s) and age_s >= 0 else 0.0)
            telemetry = {
                "Clutch": _num(f["clutch"][i], 3),
                "Brake": _num(f["brake"][i], 3),
                "Throttle": _num(f["throttle"][i], 3),
                "Handbrake": 0.0,
                "SteeringAngle": _num(f["steering_angle_rad"][i], 4),
                "Rpms": _num(f["rpm"][i], 1),
                "Gear": int(f["gear"][i]),
                "SpeedMs": _num(f["speed_mps"][i], 3),
                "DistanceRoundTrack": _num(f["lap_dist_m"][i], 2),
                "WorldPosition_x": x,
                "WorldPosition_y": y,
                "WorldPosition_z": z,
                "CurrentLap": lap,
                "LapTimeCurrent": _lap_time(f["current_lap_time_s"][i]),
                "CurrentLapTime": _lap_time(f["current_lap_time_s"][i]),
                "LapTimePrevious": _lap_time(f["last_lap_time_s"][i]),
                "CurrentLapIsValid": state.lap_valid,
                "PreviousLapWasValid": state.previous_valid,
                "CarClass": self.car_class,
                "PitBoxId": f"{batch.car_id}:{batch.seq}:{i}",
            }
            message = {"time": int(round(wall_s * 1e9)), "telemetry": telemetry}
            messages.append(json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8"))
        return messages

    @staticmethod
    def _position(
        state: _CarState, latitude: Any, longitude: Any, altitude: Any
    ) -> tuple[float | None, float | None, float | None]:
        lat, lon = float(latitude), float(longitude)
        up = _num(altitude, 2)
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None, up, None
        if state.origin_deg is None:
            state.origin_deg = (lat, lon)
        lat0, lon0 = state.origin_deg
        north = math.radians(lat - lat0) * EARTH_RADIUS_M
        east = math.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        return round(east, 2), up, round(north, 2)


# ------------------------------------------------------------------------------------------------
# The sink


def _disconnected(client: aiomqtt.Client) -> asyncio.Future[None] | None:
    """aiomqtt's (private) future that completes when the connection drops, if this version has it.

    aiomqtt does not fail pending QoS 1 publishes when the connection drops: they wait for their
    timeout. Watching this future fails the batch at once instead (without it: after `timeout_s`).
    """
    future = getattr(client, "_disconnected", None)
    return future if isinstance(future, asyncio.Future) else None


async def _settle(pending: set[asyncio.Future[None]], gone: asyncio.Future[None] | None) -> None:
    """Wait for at least one of `pending` to finish (removing it); MqttError if one failed or the connection dropped."""
    waiters: set[asyncio.Future[Any]] = set(pending)
    if gone is not None:
        waiters.add(gone)
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in done & pending:
        pending.discard(task)
        if task.cancelled():
            raise aiomqtt.MqttError("publish cancelled")
        error = task.exception()
        if error is not None:
            raise aiomqtt.MqttError(f"publish failed: {error}") from error
    if gone is not None and gone.done():
        raise aiomqtt.MqttError("connection to the broker lost")


class MqttSink:
    """Publishes spool records to an MQTT broker at QoS 1 (see the module docstring for topics).

    A `send` publishes all its messages, in order, and returns when the broker acknowledged every
    one (PUBACK); a dropped connection, a refused connect or a timeout is a `SinkError` and the next
    `send` reconnects.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        team: str,
        session: str,
        client_id: str,
        qos: int = 1,
        mode: str = MqttMode.PITBOX,
        username: str | None = None,
        password: str | None = None,
        crewchief_driver: str = "",
        crewchief_game: str = "iRacing",
        crewchief_track: str = "",
        crewchief_car: str = "",
        crewchief_sessiontype: str = "Practice",
        crewchief_car_class: str = "",
        crewchief_origin_deg: tuple[float, float] | None = None,
        batch_records: int = 50,
        timeout_s: float = 10.0,
        keepalive_s: int = 30,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        try:
            self.mode = MqttMode(mode)
        except ValueError:
            raise SinkError(f"MQTT sink mode must be one of {', '.join(MqttMode)}") from None
        if qos not in (0, 1, 2):
            raise SinkError("MQTT qos must be 0, 1 or 2")
        if batch_records < 1 or timeout_s <= 0:
            raise SinkError("batch_records must be >= 1 and timeout_s > 0")
        self.host = host
        self.port = port
        self.team = _segment("team", team)
        self.session = _segment("session", session)
        self.client_id = client_id
        self.qos = qos
        self.timeout_s = timeout_s
        self.keepalive_s = keepalive_s
        self._username = username
        self._password = password
        self._batch_records = batch_records
        self.backoff = BackoffPolicy(backoff_initial_s, backoff_max_s)
        self.crewchief_topic = ""
        if self.mode is MqttMode.CREWCHIEF:
            self.crewchief_topic = crewchief_topic(
                crewchief_driver, session, crewchief_game, crewchief_track, crewchief_car, crewchief_sessiontype
            )
        self.encoder = CrewChiefEncoder(car_class=crewchief_car_class, origin_deg=crewchief_origin_deg)
        self._failures = 0
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None
        self.published_messages = 0
        self.skipped_records = 0
        """Records not published: control records in crewchief mode, or batches that do not decode."""

    def __repr__(self) -> str:
        return f"MqttSink({self.host}:{self.port}, mode={self.mode.value}, team={self.team!r})"

    @property
    def batch_records(self) -> int:
        return self._batch_records

    def retry_delay_s(self) -> float:
        return self.backoff.delay_s(self._failures)

    def messages(self, records: Sequence[SpoolRecord]) -> tuple[list[tuple[str, bytes]], int]:
        """The (topic, payload) pairs `records` become, in order, and how many records publish nothing."""
        out: list[tuple[str, bytes]] = []
        skipped = 0
        for record in records:
            if self.mode is MqttMode.PITBOX:
                channel = "telemetry" if record.kind is RecordKind.TELEMETRY else "control"
                out.append((pitbox_topic(self.team, record.car_id, self.session, channel), record.payload))
                continue
            if record.kind is not RecordKind.TELEMETRY:
                skipped += 1
                continue
            try:
                batch = decode_batch(record.payload)
            except ProtocolError as exc:
                skipped += 1
                logger.warning("crewchief mode: record %s is not a valid batch (%s): skipped", record.key, exc.code)
                continue
            out.extend((self.crewchief_topic, payload) for payload in self.encoder.encode(batch, record.created_s))
        return out, skipped

    async def send(self, records: Sequence[SpoolRecord]) -> None:
        """Publish `records` (at `qos`) and wait for the broker's acknowledgements; SinkError on failure."""
        messages, skipped = self.messages(records)
        if not messages:
            self.skipped_records += skipped
            return
        try:
            client = await self._connect()
            await self._publish_all(client, messages)
        except (aiomqtt.MqttError, OSError) as exc:
            self._failures += 1
            await self._drop()
            raise SinkError(f"MQTT publish to {self.host}:{self.port} failed: {exc}") from exc
        self._failures = 0
        self.published_messages += len(messages)
        self.skipped_records += skipped

    async def close(self) -> None:
        """Disconnect (a later `send` reconnects)."""
        await self._drop()

    async def __aenter__(self) -> MqttSink:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            gone = _disconnected(self._client)
            if gone is None or not gone.done():
                return self._client
            await self._drop()
        stack = AsyncExitStack()
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self._username,
            password=self._password,
            clean_session=True,
            timeout=self.timeout_s,
            keepalive=self.keepalive_s,
            max_inflight_messages=MAX_INFLIGHT,
        )
        client.pending_calls_threshold = MAX_INFLIGHT + 1  # many publishes in flight is the design, not a leak
        await stack.enter_async_context(client)
        logger.info("MQTT sink connected to %s:%d", self.host, self.port)
        self._stack, self._client = stack, client
        return client

    async def _publish_all(self, client: aiomqtt.Client, messages: list[tuple[str, bytes]]) -> None:
        """Publish in order with up to MAX_INFLIGHT awaiting their PUBACK; MqttError at the first failure.

        Tasks start in creation order, so paho is handed the messages (and numbers them) in order.
        """
        gone = _disconnected(client)
        pending: set[asyncio.Future[None]] = set()
        try:
            for topic, payload in messages:
                while len(pending) >= MAX_INFLIGHT:
                    await _settle(pending, gone)
                pending.add(asyncio.ensure_future(client.publish(topic, payload, qos=self.qos, timeout=self.timeout_s)))
            while pending:
                await _settle(pending, gone)
        finally:
            if pending:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
                for task in pending:
                    if not task.cancelled():
                        task.exception()  # retrieved: the batch already failed

    async def _drop(self) -> None:
        stack, client = self._stack, self._client
        self._stack, self._client = None, None
        if stack is None or client is None:
            return
        gone = _disconnected(client)
        try:
            await stack.aclose()
        except (aiomqtt.MqttError, OSError) as exc:
            logger.debug("MQTT disconnect: %s", exc)
        if gone is not None and gone.done() and not gone.cancelled():
            gone.exception()  # retrieved: the drop was already reported as a SinkError


# ------------------------------------------------------------------------------------------------
# CrewChief coaching replies


class CoachSubscriber:
    """Async iterator over the B4MAD backend's replies on `/coach/{driver}`, as `ai_coaching` envelopes.

    Reconnects (with backoff) when the broker goes away. `subscribed` is set each time the
    subscription is in place; `received` counts replies, `malformed` those that were refused.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        driver: str = "",
        *,
        car_id: int | None = None,
        client_id: str | None = None,
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.driver = driver
        self.topic = coach_topic(driver)
        self.car_id = car_id
        self.client_id = client_id
        self.qos = qos
        self._username = username
        self._password = password
        self.timeout_s = timeout_s
        self.backoff = BackoffPolicy(backoff_initial_s, backoff_max_s)
        self.subscribed = asyncio.Event()
        self.received = 0
        self.malformed = 0

    def __aiter__(self) -> AsyncGenerator[Envelope, None]:
        return self._replies()

    def parse(self, payload: bytes | str) -> Envelope | None:
        """The `ai_coaching` envelope of one reply, or None (logged and counted) if it is malformed."""
        self.received += 1
        try:
            obj = json.loads(payload)
            if not isinstance(obj, dict):
                raise ValueError("a reply is a JSON object")
            data: dict[str, Any] = {"message": obj.get("message"), "driver": self.driver}
            for name, source in (("priority", "priority"), ("distance", "distance"), ("max_distance", "max_distance")):
                if obj.get(source) is not None:
                    data[name] = obj[source]
            if "distance" not in data and obj.get("at") is not None:
                data["distance"] = obj["at"]  # the backend's newer replies say `at`
            if self.car_id is not None:
                data["car_id"] = self.car_id
            validate_data(MessageType.AI_COACHING, data)
        except (ValueError, ProtocolError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            self.malformed += 1
            reason = exc.message if isinstance(exc, ProtocolError) else type(exc).__name__
            logger.warning("malformed coaching reply on %s (%s); %d so far", self.topic, reason, self.malformed)
            return None
        return Envelope(MessageType.AI_COACHING, uuid.uuid4().hex, data)

    async def _replies(self) -> AsyncGenerator[Envelope, None]:
        failures = 0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    username=self._username,
                    password=self._password,
                    timeout=self.timeout_s,
                ) as client:
                    await client.subscribe(self.topic, qos=self.qos)
                    self.subscribed.set()
                    failures = 0
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | str):
                            self.received += 1
                            self.malformed += 1
                            continue
                        envelope = self.parse(payload)
                        if envelope is not None:
                            yield envelope
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                failures += 1
                delay = self.backoff.delay_s(failures)
                logger.warning("coach subscriber: %s; reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)


__all__ = [
    "CoachSubscriber",
    "CrewChiefEncoder",
    "MqttMode",
    "MqttSink",
    "coach_topic",
    "crewchief_topic",
    "pitbox_topic",
]
