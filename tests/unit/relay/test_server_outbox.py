"""A client's outgoing queue at the relay: control never dropped, live telemetry conflated per car."""

from __future__ import annotations

import asyncio

from relay.core import Send
from relay.server import _Outbox


def drain(outbox: _Outbox) -> list[str | bytes]:
    async def take_all() -> list[str | bytes]:
        taken = []
        while not outbox.empty():
            taken.append(await outbox.get())
        return taken

    return asyncio.run(take_all())


def test_a_slow_client_keeps_the_newest_batches_of_each_car_in_order() -> None:
    outbox = _Outbox(max_control=100, max_per_car=8)
    for k in range(20):
        assert outbox.put(Send("c1", f"car7-{k}".encode(), telemetry_car=7))
    for k in range(3):
        assert outbox.put(Send("c1", f"car8-{k}".encode(), telemetry_car=8))
    taken = drain(outbox)
    assert [p for p in taken if p.startswith(b"car7")] == [f"car7-{k}".encode() for k in range(12, 20)]
    assert [p for p in taken if p.startswith(b"car8")] == [f"car8-{k}".encode() for k in range(3)]
    assert outbox.dropped == 12


def test_control_messages_go_first_and_are_never_conflated() -> None:
    outbox = _Outbox(max_control=100, max_per_car=2)
    for k in range(5):
        outbox.put(Send("c1", f"batch-{k}".encode(), telemetry_car=7))
    for k in range(30):
        assert outbox.put(Send("c1", f"control-{k}"))
    taken = drain(outbox)
    assert taken[:30] == [f"control-{k}" for k in range(30)]
    assert taken[30:] == [b"batch-3", b"batch-4"]


def test_an_overflowing_control_queue_is_reported_not_truncated() -> None:
    outbox = _Outbox(max_control=3, max_per_car=8)
    assert all(outbox.put(Send("c1", f"control-{k}")) for k in range(3))
    assert not outbox.put(Send("c1", "control-3"))
    assert drain(outbox) == ["control-0", "control-1", "control-2"]
