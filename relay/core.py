"""The relay's sans-I/O core: messages in, actions out (what to send to whom, what to persist, whom to close).

`RelayCore` knows clients by an opaque id. The asyncio server feeds it what arrives
(`connect`, `receive`, `disconnect`, `tick`) with the time, and carries out the returned actions in
order: `Persist` before the `Send` of the acknowledgement that follows it, so that nothing is
acknowledged before it is on disk.

Handshake: `connection_established` -> `authenticate` -> `authentication_result` with a role.
Roles: a `driver` publishes telemetry, session info, strategy and video notices for its own car
and answers handoffs; an `engineer` runs handoffs, team messages and stint plans; a `viewer` only
reads. Anything else is answered with a typed `error`; repeated abuse closes the connection with a
reason. Telemetry batches are routed on their header: subscribers at the full rate get the bytes
the driver sent (encoded once, the same object for everyone); subscribers at a lower rate get the
newest frame of each car at their rate, encoded once per rate and codec.

Video travels beside the core: drivers upload it to the dashboard site over HTTPS; once a video is
stored, the server has the core announce it (`announce_video`: `video_segment_ready` to everyone and
the spool), and clients that sign in later are told about the newest stored videos of each car.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from adapters.model import FrameBlock
from relay.auth import RateLimiter
from relay.handoffs import Handoff, HandoffStatus, TeamMessage, advance, request_handoff
from relay.protocol import (
    ALL_CHANNELS,
    PROTOCOL_VERSION,
    Envelope,
    ErrorCode,
    MessageType,
    ProtocolError,
    Role,
    TelemetryBatch,
    decode_batch,
    decode_header,
    decode_message,
    encode_batch,
    encode_message,
    error_message,
    validate_data,
)

logger = logging.getLogger(__name__)

CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_AUTH_TIMEOUT: Final = 4001
CLOSE_AUTH_FAILED: Final = 4003
CLOSE_RATE_LIMITED: Final = 4008
CLOSE_SHUTDOWN: Final = 1001
FULL_RATE_HZ: Final = 60.0
CODEC_BY_FLAG: Final = {0: "none", 1: "deflate", 2: "zstd"}
FLOW_CONTROL: Final = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.CONFLICT})
"""Refusals of a driver's batches that ask it to slow down or resend (never counted as abuse)."""
FLOW_CONTROL_REPLY_S: Final = 0.25


class IdentityLike(Protocol):
    """Who a token belongs to (`relay.auth.Identity`)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def car_id(self) -> int | None: ...


Authenticator = Callable[[str], IdentityLike | None]
PlanProposer = Callable[[int, dict[str, Any], dict[str, Any]], dict[str, Any] | None]
CATCH_UP_MESSAGES: Final = 50
"""Team messages a client gets when it signs in (the newest ones it may see)."""
CATCH_UP_VIDEOS: Final = 20
"""Stored videos per car a client is told about when it signs in (the newest ones)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send `payload` to a client. `telemetry_car` set: live telemetry of that car, which a slow
    client may have conflated (older batches of the car dropped); otherwise never dropped."""

    client_id: str
    payload: str | bytes
    telemetry_car: int | None = None


@dataclass(frozen=True, slots=True)
class Close:
    client_id: str
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Persist:
    """Append to the durable spool before anything after it is carried out (idempotent by `key`)."""

    key: str
    kind: str
    car_id: int | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class Frames:
    """New (not duplicate) frames of a car, decoded: for the session recording."""

    car_id: int
    block: FrameBlock


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Handoffs or team messages changed: the server saves `RelayCore.state()`."""


Action = Send | Close | Persist | StateChanged | Frames


@dataclass(frozen=True, slots=True)
class RelayLimits:
    auth_timeout_s: float = 10.0
    max_errors: int = 20
    """Refused messages a client may send before it is disconnected."""
    max_auth_failures: int = 3
    control_rate_per_s: float = 50.0
    control_burst: float = 100.0
    batch_rate_per_s: float = 240.0
    batch_burst: float = 480.0


@dataclass(slots=True)
class Client:
    client_id: str
    remote: str
    connected_s: float
    control: RateLimiter
    batches: RateLimiter
    identity: IdentityLike | None = None
    auth_failures: int = 0
    errors: int = 0
    subscribed: bool = False
    cars: frozenset[int] | None = None
    """Cars whose telemetry the client wants (None: all)."""
    rate_hz: float = FULL_RATE_HZ
    last_flow_reply_s: float = -1e9
    now_s: float = 0.0
    codec: str = "any"
    """"any": the bytes the driver sent, whatever their codec; "deflate" for browsers (no zstd there)."""

    @property
    def role(self) -> Role | None:
        return None if self.identity is None else self.identity.role

    def wants(self, car_id: int) -> bool:
        return self.subscribed and (self.cars is None or car_id in self.cars)


@dataclass(slots=True)
class _RateGroup:
    rate_hz: float
    codec: str
    next_due_s: float
    seq: int = 0
    sent_time_s: dict[int, float] = field(default_factory=dict)


# Which roles may send which message types (after authentication).
PERMISSIONS: Final[dict[MessageType, frozenset[Role]]] = {
    MessageType.SUBSCRIBE: frozenset(Role),
    MessageType.ACK: frozenset(Role),
    MessageType.ERROR: frozenset(Role),
    MessageType.TELEMETRY_UPDATE: frozenset({Role.DRIVER}),
    MessageType.SESSION_INFO: frozenset({Role.DRIVER}),
    MessageType.VIDEO_SEGMENT_READY: frozenset({Role.DRIVER}),
    MessageType.STRATEGY_UPDATE: frozenset({Role.DRIVER, Role.ENGINEER}),
    MessageType.TEAM_MESSAGE: frozenset({Role.DRIVER, Role.ENGINEER}),
    MessageType.HANDOFF_REQUEST: frozenset({Role.DRIVER, Role.ENGINEER}),
    MessageType.STINT_PLAN: frozenset({Role.ENGINEER}),
    MessageType.AI_COACHING: frozenset({Role.ENGINEER}),
    MessageType.AUTHENTICATE: frozenset(),
    MessageType.CONNECTION_ESTABLISHED: frozenset(),
    MessageType.AUTHENTICATION_RESULT: frozenset(),
}
"""The role matrix. `authenticate` is only valid before authentication; the relay's own types never."""
DRIVER_HANDOFF_ACTIONS: Final = frozenset({"accept", "reject"})
STATUS_ACTIONS: Final = {
    HandoffStatus.REQUESTED: "request",
    HandoffStatus.ACCEPTED: "accept",
    HandoffStatus.REJECTED: "reject",
    HandoffStatus.COMPLETED: "complete",
    HandoffStatus.CANCELLED: "cancel",
}
"""The action that led to each status (the `action` field of the updates the relay sends)."""
ENGINEER_HANDOFF_ACTIONS: Final = frozenset({"request", "complete", "cancel"})


def _default_ids() -> Callable[[str], str]:
    run = secrets.token_hex(3)
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}{run}-{next(counter)}"


class RelayCore:
    """Relay state and rules. Pure: no sockets, no clock, no disk (see the module docstring)."""

    def __init__(
        self,
        authenticate: Authenticator,
        *,
        relay_name: str = "PitBox relay",
        limits: RelayLimits | None = None,
        new_id: Callable[[str], str] | None = None,
        known_seq: Callable[[int], int | None] | None = None,
        propose_plan: PlanProposer | None = None,
    ) -> None:
        """`known_seq(car_id)`: the last batch seq of a car already stored (the spool), for a relay
        that restarted: resent batches it already has are then acknowledged, not stored again.
        `propose_plan(car_id, session, strategy)`: a stint plan to propose to the engineers after
        each strategy update of a car whose plan is not approved yet (None: nothing to propose)."""
        self._authenticate = authenticate
        self.relay_name = relay_name
        self.limits = limits if limits is not None else RelayLimits()
        self._new_id = new_id if new_id is not None else _default_ids()
        self._known_seq = known_seq
        self._propose_plan = propose_plan
        self.clients: dict[str, Client] = {}
        self.handoffs: dict[str, Handoff] = {}
        self.messages: dict[str, TeamMessage] = {}
        self.last_seq: dict[int, int] = {}
        self.session_info: dict[int, dict[str, Any]] = {}
        self.strategy: dict[int, dict[str, Any]] = {}
        self.stint_plans: dict[int | None, dict[str, Any]] = {}
        """The newest `stint_plan` message data per car: proposed (approved False) or approved."""
        self.counters: dict[str, int] = {"batches": 0, "duplicates": 0, "auth_failures": 0, "errors": 0, "frames": 0}
        self.videos: dict[tuple[int, str], dict[str, Any]] = {}
        """`video_segment_ready` data of the videos the relay stores, oldest first (newest CATCH_UP_VIDEOS per car)."""
        self._latest: dict[int, FrameBlock] = {}
        self._latest_s: dict[int, float] = {}
        self._groups: dict[tuple[float, str], _RateGroup] = {}

    # ---------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        """Handoffs, team messages, the last telemetry seq and the newest session, strategy and stint
        plan of each car, for saving across restarts (a restarted relay still knows the race)."""
        return {
            "handoffs": [h.to_dict() for h in self.handoffs.values()],
            "messages": [m.to_data() for m in self.messages.values()],
            "last_seq": {str(car): seq for car, seq in self.last_seq.items()},
            "session_info": {str(car): session for car, session in self.session_info.items()},
            "strategy": {str(car): strategy for car, strategy in self.strategy.items()},
            "stint_plans": [plan for plan in self.stint_plans.values()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        for data in state.get("handoffs", []):
            handoff = Handoff.from_dict(data)
            self.handoffs[handoff.handoff_id] = handoff
        for data in state.get("messages", []):
            message = TeamMessage(
                data["message_id"],
                data["from"],
                data["to"],
                data["priority"],
                data["text"],
                float(data["sent_s"]),
                tuple(data.get("read_by", ())),
            )
            self.messages[message.message_id] = message
        for car, seq in state.get("last_seq", {}).items():
            self.last_seq[int(car)] = max(int(seq), self.last_seq.get(int(car), -1))
        for car, session in state.get("session_info", {}).items():
            self.session_info[int(car)] = dict(session)
        for car, strategy in state.get("strategy", {}).items():
            self.strategy[int(car)] = dict(strategy)
        for plan in state.get("stint_plans", []):
            car_id = plan.get("car_id")
            self.stint_plans[None if car_id is None else int(car_id)] = dict(plan)

    @property
    def has_rate_groups(self) -> bool:
        """Some subscriber wants conflated telemetry: `tick` must run at least at its rate."""
        return bool(self._groups)

    # ---------------------------------------------------------------- inputs

    def connect(self, client_id: str, remote: str, now_s: float) -> list[Action]:
        limits = self.limits
        self.clients[client_id] = Client(
            client_id,
            remote,
            now_s,
            RateLimiter(limits.control_rate_per_s, limits.control_burst),
            RateLimiter(limits.batch_rate_per_s, limits.batch_burst),
        )
        hello = Envelope(
            MessageType.CONNECTION_ESTABLISHED,
            "",
            {"relay": self.relay_name, "protocol": PROTOCOL_VERSION, "client_id": client_id},
        )
        return [Send(client_id, encode_message(hello))]

    def disconnect(self, client_id: str, now_s: float) -> list[Action]:
        self._remove(client_id)
        return []

    def _remove(self, client_id: str) -> None:
        if self.clients.pop(client_id, None) is not None:
            self._drop_idle_groups()

    def _drop_idle_groups(self) -> None:
        """Forget rate groups no subscriber uses any more (one client must not grow them unbounded)."""
        used = {(c.rate_hz, c.codec) for c in self.clients.values() if c.subscribed and c.rate_hz < FULL_RATE_HZ}
        for key in [k for k in self._groups if k not in used]:
            del self._groups[key]

    def receive(self, client_id: str, payload: str | bytes, now_s: float) -> list[Action]:
        """One WebSocket message from a client: text is a control message, bytes a telemetry batch."""
        client = self.clients.get(client_id)
        if client is None:
            return []
        client.now_s = now_s
        ref = ""
        try:
            if isinstance(payload, bytes):
                ref = _batch_ref(payload)
                return self._on_batch(client, payload, now_s)
            if not client.control.allow(now_s):
                raise ProtocolError(ErrorCode.RATE_LIMITED, "too many messages: slow down")
            envelope = decode_message(payload)
            ref = envelope.id
            return self._on_message(client, envelope, now_s)
        except ProtocolError as error:
            return self._refuse(client, error, ref)

    def inject(self, envelope: Envelope, now_s: float, *, sender: str = "relay") -> list[Action]:
        """A message from inside the relay: the coaching replies of the CrewChief/B4MAD backend."""
        if envelope.type is MessageType.AI_COACHING:
            return self._on_ai_coaching(envelope, sender)
        raise ProtocolError(ErrorCode.FORBIDDEN, f"the relay does not inject {envelope.type.value}")

    def announce_video(self, data: dict[str, Any], now_s: float) -> list[Action]:
        """The relay stored a video a driver uploaded: tell every signed-in client (and, through the
        spool, the sinks), and keep it for the catch-up of clients that sign in later.

        `data` is a `video_segment_ready` message's data (ProtocolError when it is not valid)."""
        envelope = Envelope(MessageType.VIDEO_SEGMENT_READY, self._new_id("v"), dict(data))
        text = encode_message(envelope)
        self.remember_video(data)
        car_id = int(data["car_id"])
        key = f"v:{car_id}:{data['segment_id']}:{envelope.id}"
        return [Persist(key, "control", car_id, text.encode()), *self._broadcast_raw(text)]

    def remember_video(self, data: dict[str, Any]) -> None:
        """Keep a stored video for the catch-up without announcing it (a restarted relay's store)."""
        validate_data(MessageType.VIDEO_SEGMENT_READY, data)
        car_id = int(data["car_id"])
        key = (car_id, str(data["segment_id"]))
        self.videos.pop(key, None)
        self.videos[key] = dict(data)
        of_car = [k for k in self.videos if k[0] == car_id]
        for old in of_car[: max(0, len(of_car) - CATCH_UP_VIDEOS)]:
            del self.videos[old]

    def forget_video(self, car_id: int, segment_id: str) -> None:
        """A stored video was removed (rotation): new clients are no longer told about it."""
        self.videos.pop((car_id, segment_id), None)

    def tick(self, now_s: float) -> list[Action]:
        """Time passes: authentication timeouts, and conflated telemetry for lower-rate subscribers."""
        actions: list[Action] = []
        for client in list(self.clients.values()):
            if client.identity is None and now_s - client.connected_s > self.limits.auth_timeout_s:
                actions.append(Close(client.client_id, CLOSE_AUTH_TIMEOUT, "authentication timed out"))
                self._remove(client.client_id)
        for group in self._groups.values():
            if now_s >= group.next_due_s:
                # From now, not from the missed due time: never two sends closer than the period.
                group.next_due_s = now_s + 1.0 / group.rate_hz
                actions += self._send_conflated(group)
        return actions

    # ---------------------------------------------------------------- telemetry

    def _on_batch(self, client: Client, payload: bytes, now_s: float) -> list[Action]:
        identity = client.identity
        if identity is None:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "authenticate before sending telemetry")
        if identity.role is not Role.DRIVER:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"a {identity.role.value} cannot publish telemetry")
        if not client.batches.allow(now_s):
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many telemetry batches: slow down")
        batch = decode_batch(payload)
        if batch.car_id != identity.car_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"this driver publishes car {identity.car_id}, not {batch.car_id}")
        ack = encode_message(Envelope(MessageType.ACK, "", {"seq": batch.seq, "car_id": batch.car_id}))
        last = self._last_seq_of(batch.car_id)
        if batch.seq <= last:
            self.counters["duplicates"] += 1
            return [Send(client.client_id, ack)]  # a resend of what is already safe: acknowledge again
        if last >= 0 and batch.seq != last + 1:
            # Acknowledgements are cumulative: storing N+1 while N is missing would tell the
            # driver N is safe. The driver resends from the gap.
            raise ProtocolError(ErrorCode.CONFLICT, f"batch {batch.seq} came before {last + 1}: resend from {last + 1}")
        self.last_seq[batch.car_id] = batch.seq
        self.counters["batches"] += 1
        self.counters["frames"] += len(batch.block)
        actions: list[Action] = [
            Persist(f"t:{batch.car_id}:{batch.seq}", "telemetry", batch.car_id, payload),
            Send(client.client_id, ack),
            Frames(batch.car_id, batch.block),
        ]
        self._latest[batch.car_id] = batch.block.slice(len(batch.block) - 1, len(batch.block))
        self._latest_s[batch.car_id] = now_s
        driver_codec = CODEC_BY_FLAG.get(payload[3] & 0x03, "none")
        recoded: dict[str, bytes] = {driver_codec: payload}
        for other in self.clients.values():
            if other.rate_hz < FULL_RATE_HZ or not other.wants(batch.car_id) or other is client:
                continue
            wanted = driver_codec if other.codec == "any" and driver_codec != "none" else other.codec
            data = recoded.get(wanted)
            if data is None:
                codec = "auto" if wanted == "any" else wanted
                data = recoded[wanted] = encode_batch(batch, codec=codec, include_cars=True)
            actions.append(Send(other.client_id, data, telemetry_car=batch.car_id))
        return actions

    def _send_conflated(self, group: _RateGroup) -> list[Action]:
        members = [
            c for c in self.clients.values() if c.subscribed and c.rate_hz == group.rate_hz and c.codec == group.codec
        ]
        if not members:
            return []
        actions: list[Action] = []
        for car_id, block in self._latest.items():
            if group.sent_time_s.get(car_id) == self._latest_s[car_id]:
                continue  # nothing new from this car since the last send
            group.sent_time_s[car_id] = self._latest_s[car_id]
            group.seq = (group.seq + 1) & 0xFFFFFFFF
            data = encode_batch(
                TelemetryBatch(car_id, group.seq, block, ALL_CHANNELS),
                codec="auto" if group.codec == "any" else group.codec,
                include_cars=True,
            )
            actions += [Send(c.client_id, data, telemetry_car=car_id) for c in members if c.wants(car_id)]
        return actions

    # ---------------------------------------------------------------- control messages

    def _on_message(self, client: Client, envelope: Envelope, now_s: float) -> list[Action]:
        kind = envelope.type
        identity = client.identity
        if kind is MessageType.AUTHENTICATE:
            if identity is not None:
                raise ProtocolError(ErrorCode.CONFLICT, "already authenticated")
            return self._on_authenticate(client, envelope)
        if identity is None:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, f"authenticate before sending {kind.value}")
        if identity.role not in PERMISSIONS[kind]:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"a {identity.role.value} cannot send {kind.value}")
        data = envelope.data
        car_id = data.get("car_id")
        if identity.role is Role.DRIVER and car_id is not None and car_id != identity.car_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"this driver speaks for car {identity.car_id}, not {car_id}")
        if kind is MessageType.SUBSCRIBE:
            return self._on_subscribe(client, envelope, now_s)
        if kind is MessageType.ACK:
            return self._on_ack(client, envelope)
        if kind is MessageType.ERROR:
            logger.info("client %s reported an error: %s", client.client_id, data.get("code"))
            return []
        if kind is MessageType.TEAM_MESSAGE:
            return self._on_team_message(envelope, identity.name, now_s)
        if kind is MessageType.HANDOFF_REQUEST:
            return self._on_handoff(identity, envelope, now_s)
        if kind is MessageType.AI_COACHING:
            return self._on_ai_coaching(envelope, identity.name)
        if kind is MessageType.TELEMETRY_UPDATE:
            return self._publish_car_message(client, envelope, now_s)
        # session_info, strategy_update, stint_plan, video_segment_ready: keep the newest, tell everyone.
        own_car = identity.car_id if identity.role is Role.DRIVER else car_id
        stamped = dict(data)
        if own_car is not None:
            stamped["car_id"] = own_car
        if kind is MessageType.SESSION_INFO and own_car is not None:
            self.session_info[own_car] = dict(stamped["session"])
            return [
                StateChanged(),
                *self._broadcast(Envelope(kind, envelope.id, stamped), now_s),
                *self._complete_by_session(own_car, stamped["session"], now_s),
            ]
        if kind is MessageType.STINT_PLAN:
            stamped["approved"] = bool(stamped.get("approved", False))
        actions = self._broadcast(Envelope(kind, envelope.id, stamped), now_s)
        if kind is MessageType.STINT_PLAN:
            self.stint_plans[own_car] = stamped
            actions.append(StateChanged())
        if kind is MessageType.STRATEGY_UPDATE and own_car is not None:
            self.strategy[own_car] = dict(stamped["strategy"])
            actions += [StateChanged(), *self._propose(own_car, now_s)]
        return actions

    def _propose(self, car_id: int, now_s: float) -> list[Action]:
        """A new strategy for a car without an approved plan: propose a stint plan from it."""
        current = self.stint_plans.get(car_id)
        session = self.session_info.get(car_id)
        if self._propose_plan is None or session is None or (current is not None and current["approved"]):
            return []
        plan = self._propose_plan(car_id, session, self.strategy[car_id])
        if plan is None:
            return []
        data = {"car_id": car_id, "plan": plan, "approved": False}
        self.stint_plans[car_id] = data
        return self._broadcast(Envelope(MessageType.STINT_PLAN, self._new_id("p"), data), now_s)

    def _on_authenticate(self, client: Client, envelope: Envelope) -> list[Action]:
        identity = self._authenticate(str(envelope.data["token"]))
        if identity is None:
            client.auth_failures += 1
            self.counters["auth_failures"] += 1
            result = Envelope(
                MessageType.AUTHENTICATION_RESULT, envelope.id, {"ok": False, "error": "unknown or revoked token"}
            )
            actions: list[Action] = [Send(client.client_id, encode_message(result))]
            if client.auth_failures >= self.limits.max_auth_failures:
                actions.append(Close(client.client_id, CLOSE_AUTH_FAILED, "too many failed authentications"))
                self._remove(client.client_id)
            return actions
        client.identity = identity
        data: dict[str, Any] = {"ok": True, "role": identity.role.value, "name": identity.name}
        if identity.car_id is not None:
            data["car_id"] = identity.car_id
            last = self._last_seq_of(identity.car_id)
            if last >= 0:
                data["last_seq"] = last
        actions = [
            Send(client.client_id, encode_message(Envelope(MessageType.AUTHENTICATION_RESULT, envelope.id, data)))
        ]
        # Catch up: open handoffs, the newest session, strategy and plan of every car, stored videos.
        for handoff in self.handoffs.values():
            if handoff.open:
                actions.append(Send(client.client_id, self._handoff_message(handoff)))
        for car, session in self.session_info.items():
            message = Envelope(MessageType.SESSION_INFO, "", {"car_id": car, "session": session})
            actions.append(Send(client.client_id, encode_message(message)))
        for car, strategy in self.strategy.items():
            message = Envelope(MessageType.STRATEGY_UPDATE, "", {"car_id": car, "strategy": strategy})
            actions.append(Send(client.client_id, encode_message(message)))
        for plan in self.stint_plans.values():
            actions.append(Send(client.client_id, encode_message(Envelope(MessageType.STINT_PLAN, "", plan))))
        for video in self.videos.values():
            actions.append(Send(client.client_id, encode_message(Envelope(MessageType.VIDEO_SEGMENT_READY, "", video))))
        mine = [m for m in self.messages.values() if _may_read(m, identity)]
        for team_message in mine[-CATCH_UP_MESSAGES:]:
            text = encode_message(Envelope(MessageType.TEAM_MESSAGE, "", team_message.to_data()))
            actions.append(Send(client.client_id, text))
        return actions

    def _on_subscribe(self, client: Client, envelope: Envelope, now_s: float) -> list[Action]:
        data = envelope.data
        cars = data.get("cars")
        if cars is not None:
            if len(cars) > 64 or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 0xFFFF for c in cars
            ):
                raise ProtocolError(ErrorCode.BAD_FIELD, "subscribe.cars must be a list of up to 64 car ids")
            client.cars = frozenset(cars)
        else:
            client.cars = None
        client.subscribed = bool(data.get("telemetry", True))
        rate = data.get("rate_hz")  # a null field is an absent one
        client.rate_hz = FULL_RATE_HZ if rate is None else min(float(rate), FULL_RATE_HZ)
        codec = data.get("codec")
        client.codec = "any" if codec is None else str(codec)
        self._drop_idle_groups()
        if client.subscribed and client.rate_hz < FULL_RATE_HZ:
            key = (client.rate_hz, client.codec)
            if key not in self._groups:
                self._groups[key] = _RateGroup(client.rate_hz, client.codec, now_s)
        ack = Envelope(MessageType.ACK, envelope.id, {})
        return [Send(client.client_id, encode_message(ack))]

    def _on_ack(self, client: Client, envelope: Envelope) -> list[Action]:
        message_id = envelope.data.get("message_id")
        if message_id is None or not envelope.data.get("read"):
            return []  # a plain acknowledgement: nothing to do
        message = self.messages.get(str(message_id))
        if message is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no team message {str(message_id)[:64]!r}")
        reader = client.identity.name if client.identity is not None else client.client_id
        updated = message.read(reader)
        if updated is message:
            return []
        self.messages[message.message_id] = updated
        update = encode_message(Envelope(MessageType.TEAM_MESSAGE, "", updated.to_data()))
        return [StateChanged(), *self._to_names({updated.sender, reader}, update)]

    def _on_team_message(self, envelope: Envelope, sender: str, now_s: float) -> list[Action]:
        data = envelope.data
        message = TeamMessage(
            message_id=self._new_id("m"),
            sender=sender,
            to=str(data.get("to") or "all"),
            priority=str(data.get("priority") or "normal"),
            text=str(data["text"]),
            sent_s=now_s,
        )
        self.messages[message.message_id] = message
        text = encode_message(Envelope(MessageType.TEAM_MESSAGE, envelope.id, message.to_data()))
        actions: list[Action] = [Persist(f"m:{message.message_id}", "control", None, text.encode()), StateChanged()]
        if message.to == "all":
            return actions + self._broadcast_raw(text)
        return actions + self._to_names({message.to, sender}, text)

    def _on_handoff(self, identity: IdentityLike, envelope: Envelope, now_s: float) -> list[Action]:
        by, role = identity.name, identity.role
        data = envelope.data
        action = str(data["action"])
        allowed = DRIVER_HANDOFF_ACTIONS if role is Role.DRIVER else ENGINEER_HANDOFF_ACTIONS
        if action not in allowed:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"a {role.value} cannot {action} a handoff")
        if action == "request":
            car_id = data.get("car_id")
            if car_id is None:
                raise ProtocolError(ErrorCode.BAD_FIELD, "handoff_request.car_id is required to request a handoff")
            if any(h.open and h.car_id == car_id for h in self.handoffs.values()):
                raise ProtocolError(ErrorCode.CONFLICT, f"car {car_id} already has an open handoff")
            current = self._driver_in_car(int(car_id))
            handoff = request_handoff(
                self._new_id("h"),
                int(car_id),
                str(data.get("to_driver") or ""),
                current,
                str(data.get("reason") or ""),
                str(data.get("urgency") or "normal"),
                by=by,
                now_s=now_s,
            )
        else:
            handoff_id = str(data.get("handoff_id") or "")
            known = self.handoffs.get(handoff_id)
            if known is None:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no handoff {handoff_id[:64]!r}")
            if role is Role.DRIVER and identity.car_id != known.car_id:
                raise ProtocolError(ErrorCode.FORBIDDEN, "only the driver of that car answers this handoff")
            handoff = advance(known, action, by=by, now_s=now_s, note=str(data.get("reason") or ""))
        return self._store_handoff(handoff, ref=envelope.id)

    def _complete_by_session(self, car_id: int, session: dict[str, Any], now_s: float) -> list[Action]:
        """The sim reports who is in the car: an open handoff to that driver is completed."""
        driver = _driver_of(session)
        actions: list[Action] = []
        for handoff in list(self.handoffs.values()):
            if handoff.car_id == car_id and handoff.status is HandoffStatus.ACCEPTED and driver == handoff.to_driver:
                done = advance(handoff, "complete", by="sim", now_s=now_s, note="new driver in the car")
                actions += self._store_handoff(done)
        return actions

    def _store_handoff(self, handoff: Handoff, ref: str = "") -> list[Action]:
        """Keep, persist and tell everyone; `ref` (the id of the message that caused it) is the update's id."""
        self.handoffs[handoff.handoff_id] = handoff
        text = self._handoff_message(handoff, ref)
        key = f"h:{handoff.handoff_id}:{len(handoff.history)}"
        return [Persist(key, "control", handoff.car_id, text.encode()), StateChanged(), *self._broadcast_raw(text)]

    def _handoff_message(self, handoff: Handoff, ref: str = "") -> str:
        """The update every party gets: the handoff's status and its whole audit log."""
        record = handoff.to_dict()
        data = {
            "action": STATUS_ACTIONS[handoff.status],
            "handoff_id": handoff.handoff_id,
            "car_id": handoff.car_id,
            "to_driver": handoff.to_driver,
            "from_driver": handoff.from_driver,
            "reason": handoff.reason,
            "urgency": handoff.urgency,
            "status": handoff.status.value,
            "history": record["history"],
        }
        return encode_message(Envelope(MessageType.HANDOFF_REQUEST, ref or handoff.handoff_id, data))

    def _on_ai_coaching(self, envelope: Envelope, sender: str) -> list[Action]:
        car_id = envelope.data.get("car_id")
        driver = envelope.data.get("driver")
        text = encode_message(envelope)
        targets = [
            c.client_id
            for c in self.clients.values()
            if c.identity is not None
            and c.identity.role is Role.DRIVER
            and (
                (car_id is not None and c.identity.car_id == car_id)
                or (driver is not None and c.identity.name == driver)
            )
        ]
        return [Send(target, text) for target in targets]

    def _publish_car_message(self, client: Client, envelope: Envelope, now_s: float) -> list[Action]:
        text = encode_message(envelope)
        car_id = int(envelope.data["car_id"])
        actions: list[Action] = [
            Persist(f"j:{car_id}:{now_s:.6f}:{client.client_id}", "control", car_id, text.encode())
        ]
        actions += [
            Send(c.client_id, text, telemetry_car=car_id)
            for c in self.clients.values()
            if c is not client and c.identity is not None and c.wants(car_id)
        ]
        return actions

    # ---------------------------------------------------------------- helpers

    def _broadcast(self, envelope: Envelope, now_s: float) -> list[Action]:
        text = encode_message(envelope)
        key = f"c:{envelope.type.value}:{envelope.data.get('car_id', '-')}:{now_s:.6f}"
        return [Persist(key, "control", envelope.data.get("car_id"), text.encode()), *self._broadcast_raw(text)]

    def _broadcast_raw(self, text: str) -> list[Action]:
        return [Send(c.client_id, text) for c in self.clients.values() if c.identity is not None]

    def _to_names(self, names: Iterable[str], text: str) -> list[Action]:
        wanted = set(names)
        return [
            Send(c.client_id, text)
            for c in self.clients.values()
            if c.identity is not None and (c.identity.name in wanted or c.identity.role is Role.ENGINEER)
        ]

    def _last_seq_of(self, car_id: int) -> int:
        if car_id not in self.last_seq and self._known_seq is not None:
            known = self._known_seq(car_id)
            if known is not None:
                self.last_seq[car_id] = known
        return self.last_seq.get(car_id, -1)

    def _driver_in_car(self, car_id: int) -> str:
        session = self.session_info.get(car_id)
        return "" if session is None else _driver_of(session)

    def _refuse(self, client: Client, error: ProtocolError, ref: str) -> list[Action]:
        self.counters["errors"] += 1
        if ref.startswith("seq:") and error.code in FLOW_CONTROL:
            # Too fast, or a gap to fill: the driver slows down and resends; not abuse. One answer
            # per FLOW_CONTROL_REPLY_S is enough for it to act on.
            if client.last_flow_reply_s + FLOW_CONTROL_REPLY_S > client.now_s:
                return []
            client.last_flow_reply_s = client.now_s
            return [Send(client.client_id, error_message(error, ref))]
        client.errors += 1
        actions: list[Action] = [Send(client.client_id, error_message(error, ref))]
        if client.errors > self.limits.max_errors:
            actions.append(
                Close(client.client_id, CLOSE_POLICY, f"too many refused messages (last: {error.code.value})")
            )
            self._remove(client.client_id)
        return actions


def _batch_ref(payload: bytes) -> str:
    """`seq:N` for a batch whose header can be read (the driver maps a refusal to its batch)."""
    try:
        return f"seq:{decode_header(payload).seq}"
    except ProtocolError:
        return ""


def _may_read(message: TeamMessage, identity: IdentityLike) -> bool:
    """Who sees a team message: everyone when it is for all, else its sender, its addressee and engineers."""
    return message.to == "all" or identity.role is Role.ENGINEER or identity.name in (message.to, message.sender)


def _driver_of(session: dict[str, Any]) -> str:
    driver = session.get("driver")
    if isinstance(driver, str):
        return driver
    player = session.get("player")
    if isinstance(player, dict) and isinstance(player.get("driver_name"), str):
        return str(player["driver_name"])
    return ""
