"""The `SimAdapter` contract, the connection state machine every adapter shares, and the registry.

An adapter is polled: `read(now_s)` returns the next unread tick or None, never blocks, and is
where the adapter notices that the sim appeared, stalled, restarted or went away. `now_s` is a
monotonic clock value passed in by the caller (the pipeline), so adapters never read the clock and
tests can drive time.

State machine (`ConnectionTracker`):

    WAITING_FOR_SIM --sim found--> CONNECTED --no new tick for stall_timeout_s--> STALLED
    STALLED --ticks resume--> CONNECTED;   STALLED --reconnect attempt--> WAITING_FOR_SIM
    CONNECTED/STALLED --sim gone (header zeroed, process ended)--> DISCONNECTED --> WAITING_FOR_SIM

Events (state changes, new session info, driver swaps, missed ticks) are queued by the adapter and
collected with `drain_events()`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from adapters.errors import UnknownAdapterError
from adapters.model import DriverEntry, SessionInfo, TelemetryFrame

logger = logging.getLogger(__name__)

STALL_TIMEOUT_S = 2.0
"""A sim that produced no new tick for this long is stalled; the adapter reconnects."""
RECONNECT_INTERVAL_S = 1.0
"""How often a waiting adapter looks for the sim again."""


class AdapterState(enum.Enum):
    """Where an adapter is in its connection life cycle."""

    WAITING_FOR_SIM = "waiting_for_sim"
    CONNECTED = "connected"
    STALLED = "stalled"
    DISCONNECTED = "disconnected"


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The adapter moved from one state to another."""

    previous: AdapterState
    current: AdapterState
    at_s: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SessionChanged:
    """The sim published new session info (first connect, or an update)."""

    info: SessionInfo


@dataclass(frozen=True, slots=True)
class DriverSwap:
    """The driver in the player's car changed (a team session's driver swap)."""

    car_idx: int
    previous: DriverEntry | None
    current: DriverEntry
    session_time_s: float


@dataclass(frozen=True, slots=True)
class TicksMissed:
    """The reader fell behind the sim and `count` ticks were never seen."""

    count: int
    after_tick: int
    session_time_s: float


AdapterEvent = StateChanged | SessionChanged | DriverSwap | TicksMissed


# --------------------------------------------------------------------------- contract


@runtime_checkable
class SimAdapter(Protocol):
    """What every sim adapter offers the rest of PitBox."""

    name: str

    @property
    def state(self) -> AdapterState: ...

    @property
    def session_info(self) -> SessionInfo | None: ...

    def connect(self, now_s: float) -> bool:
        """Try once to attach to the sim; True when connected. Never blocks."""
        ...

    def read(self, now_s: float) -> TelemetryFrame | None:
        """The next tick not yet returned, oldest first, or None when there is none. Never blocks."""
        ...

    def drain_events(self) -> list[AdapterEvent]:
        """Events queued since the last call, oldest first."""
        ...

    def close(self) -> None:
        """Release the sim; the adapter can `connect` again afterwards."""
        ...


@dataclass(slots=True)
class ConnectionTracker:
    """The state machine shared by adapters; pure: observations and times in, state and events out."""

    stall_timeout_s: float = STALL_TIMEOUT_S
    reconnect_interval_s: float = RECONNECT_INTERVAL_S
    state: AdapterState = AdapterState.WAITING_FOR_SIM
    last_tick_at_s: float | None = None
    last_attempt_at_s: float | None = None
    events: list[AdapterEvent] = field(default_factory=list)

    def _move(self, to: AdapterState, now_s: float, reason: str) -> None:
        if to is self.state:
            return
        logger.info("adapter state %s -> %s (%s)", self.state.value, to.value, reason)
        self.events.append(StateChanged(self.state, to, now_s, reason))
        self.state = to

    def should_attempt(self, now_s: float) -> bool:
        """Whether a waiting adapter should look for the sim now (rate limited)."""
        if self.state is AdapterState.CONNECTED:
            return False
        if self.last_attempt_at_s is None or now_s - self.last_attempt_at_s >= self.reconnect_interval_s:
            self.last_attempt_at_s = now_s
            return True
        return False

    def connected(self, now_s: float, reason: str = "sim found") -> None:
        self.last_tick_at_s = now_s
        self._move(AdapterState.CONNECTED, now_s, reason)

    def tick(self, now_s: float) -> None:
        """A new tick arrived."""
        self.last_tick_at_s = now_s
        if self.state is AdapterState.STALLED:
            self._move(AdapterState.CONNECTED, now_s, "ticks resumed")

    def idle(self, now_s: float) -> bool:
        """No new tick this poll; returns True when the sim has just been declared stalled."""
        if (
            self.state is AdapterState.CONNECTED
            and self.last_tick_at_s is not None
            and now_s - self.last_tick_at_s > self.stall_timeout_s
        ):
            self._move(AdapterState.STALLED, now_s, f"no new tick for {self.stall_timeout_s:g} s")
            return True
        return False

    def lost(self, now_s: float, reason: str) -> None:
        """The sim went away: through DISCONNECTED back to waiting."""
        self._move(AdapterState.DISCONNECTED, now_s, reason)
        self.last_attempt_at_s = None
        self._move(AdapterState.WAITING_FOR_SIM, now_s, "looking for the sim again")

    def drain(self) -> list[AdapterEvent]:
        drained, self.events = self.events, []
        return drained


# --------------------------------------------------------------------------- registry


AdapterFactory = Callable[..., SimAdapter]
Detector = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """A registered adapter: how to build it and how to tell whether its sim is running."""

    name: str
    factory: AdapterFactory
    detect: Detector | None
    description: str


_REGISTRY: dict[str, AdapterSpec] = {}


def register(name: str, factory: AdapterFactory, *, detect: Detector | None = None, description: str = "") -> None:
    """Make an adapter available under `name` (later registrations replace earlier ones)."""
    _REGISTRY[name] = AdapterSpec(name, factory, detect, description)


def registered() -> tuple[AdapterSpec, ...]:
    """Every registered adapter, in registration order."""
    _load_builtin()
    return tuple(_REGISTRY.values())


def create(name: str, **options: Any) -> SimAdapter:
    """Build the adapter registered under `name`."""
    _load_builtin()
    spec = _REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownAdapterError(f"no sim adapter called {name!r} (known: {known})")
    return spec.factory(**options)


def detect_running(candidates: Iterable[str] | None = None) -> str | None:
    """The name of the first adapter whose sim is running now, or None."""
    _load_builtin()
    for name in candidates if candidates is not None else list(_REGISTRY):
        spec = _REGISTRY.get(name)
        if spec is not None and spec.detect is not None and spec.detect():
            return name
    return None


def auto_select(configured: str | None = None, fallback: str = "demo") -> str:
    """Choose an adapter: a running sim wins, then the configured adapter, then `fallback`."""
    running = detect_running()
    if running is not None:
        return running
    return configured or fallback


_builtin_loaded = False


def _load_builtin() -> None:
    """Register the adapters shipped with PitBox (imported lazily: pyirsdk only when needed)."""
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    from adapters import demo, f1udp, ibt, iracing

    iracing.register_adapter()
    ibt.register_adapter()
    demo.register_adapter()
    f1udp.register_adapter()
