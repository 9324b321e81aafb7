"""The adapter contract's shared state machine and the registry."""

from __future__ import annotations

import pytest

from adapters import base
from adapters.base import AdapterState, ConnectionTracker, StateChanged
from adapters.errors import UnknownAdapterError


def _states(events: list[base.AdapterEvent]) -> list[tuple[str, str]]:
    return [(e.previous.value, e.current.value) for e in events if isinstance(e, StateChanged)]


def test_connect_stall_resume_and_loss() -> None:
    tracker = ConnectionTracker(stall_timeout_s=2.0, reconnect_interval_s=1.0)
    assert tracker.state is AdapterState.WAITING_FOR_SIM
    tracker.connected(10.0)
    tracker.tick(10.5)
    assert tracker.idle(12.4) is False  # 1.9 s without a tick is not yet a stall
    assert tracker.idle(12.6) is True
    assert tracker.state is AdapterState.STALLED
    assert tracker.idle(20.0) is False  # reported once
    tracker.tick(21.0)
    assert tracker.state is AdapterState.CONNECTED
    tracker.lost(22.0, "header zeroed")
    assert tracker.state is AdapterState.WAITING_FOR_SIM
    assert _states(tracker.drain()) == [
        ("waiting_for_sim", "connected"),
        ("connected", "stalled"),
        ("stalled", "connected"),
        ("connected", "disconnected"),
        ("disconnected", "waiting_for_sim"),
    ]
    assert tracker.drain() == []


def test_reconnect_attempts_are_rate_limited() -> None:
    tracker = ConnectionTracker(reconnect_interval_s=1.0)
    assert tracker.should_attempt(0.0)
    assert not tracker.should_attempt(0.5)
    assert tracker.should_attempt(1.0)
    tracker.connected(1.1)
    assert not tracker.should_attempt(5.0)


def test_unknown_adapter_is_a_typed_error_listing_known_ones() -> None:
    with pytest.raises(UnknownAdapterError, match="known: .*demo.*ibt.*iracing"):
        base.create("rfactor3")


def test_builtin_adapters_are_registered() -> None:
    names = [spec.name for spec in base.registered()]
    assert {"iracing", "ibt", "demo"} <= set(names)


def test_auto_select_prefers_a_running_sim_then_configuration_then_demo() -> None:
    base.registered()
    base.register("fake-running", lambda **_: None, detect=lambda: True)  # type: ignore[arg-type,return-value]
    try:
        assert base.auto_select() == "fake-running"
    finally:
        del base._REGISTRY["fake-running"]
    # No sim runs on this machine: the configured adapter, else the demo.
    assert base.auto_select("ibt") == "ibt"
    assert base.auto_select() == "demo"
