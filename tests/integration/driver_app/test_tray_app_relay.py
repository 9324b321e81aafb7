"""The tray app against a real relay on loopback: a handoff request from an engineer shows the
prompt, and Accept sends `accepted` to the relay; the first-run "local relay" choice streams.

The relay and the engineer's client run in a thread of their own with their own asyncio loop;
the pipeline runs in the app's worker thread; the test drives the window with qtbot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from driver_app.pipeline import PipelineConfig
from driver_app.qt.app import AppPipelineFactory, PitBoxApp
from driver_app.qt.app_state import AppState, load_app_state
from driver_app.qt.first_run import FirstRunChoice, FirstRunResult
from driver_app.qt.worker import ConfigFactory
from driver_app.settings import Settings
from relay.auth import TokenStore
from relay.client import RelayClient
from relay.protocol import Envelope, MessageType, Role
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool

pytestmark = pytest.mark.integration
WAIT_MS = 20_000
T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a thread of its own (the relay's side of the test)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relay-loop", daemon=True)
        self.thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 20.0) -> T:
        return self.submit(coroutine).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Relay:
    loop: LoopThread
    server: RelayServer
    spool: Spool
    driver_token: str
    engineer: RelayClient


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    loop = LoopThread()

    async def start() -> Relay:
        store = TokenStore(tmp_path / "tokens.json")
        _, driver_token = store.invite("Alex", Role.DRIVER, 1, now_s=time.time())
        _, engineer_token = store.invite("Erin", Role.ENGINEER, now_s=time.time())
        spool = Spool(tmp_path / "spool.sqlite3")
        server = RelayServer(store, spool, options=ServerOptions(host="127.0.0.1", port=0))
        await server.start()
        engineer = RelayClient(server.url, engineer_token)
        engineer.start()
        await asyncio.wait_for(engineer.connected.wait(), 20)
        return Relay(loop, server, spool, driver_token, engineer)

    running = loop.run(start())
    try:
        yield running
    finally:

        async def stop() -> None:
            await running.engineer.close()
            await running.server.stop()
            running.spool.close()

        loop.run(stop())
        loop.close()


async def next_of(client: RelayClient, kind: MessageType, **match: object) -> Envelope:
    while True:
        envelope = await client.incoming.get()
        if envelope.type is kind and all(envelope.data.get(k) == v for k, v in match.items()):
            return envelope


def test_handoff_request_shows_the_prompt_and_accept_reaches_the_relay(qtbot: QtBot, relay: Relay) -> None:
    config = PipelineConfig(
        adapter="demo",
        adapter_options={"speed": 5.0, "seed": 1, "laps": 3},
        relay_url=relay.server.url,
        relay_token=relay.driver_token,
    )
    app = PitBoxApp(lambda settings, state: ConfigFactory(config), Settings(), use_tray=False)
    qtbot.addWidget(app.window)
    try:
        app.start()
        window = app.window
        qtbot.waitUntil(lambda: app.tray.summary == "streaming", timeout=WAIT_MS)
        assert not window.handoff_prompt.isVisible()

        request = Envelope(
            MessageType.HANDOFF_REQUEST,
            "h",
            {"action": "request", "car_id": 1, "to_driver": "Sam", "reason": "stint over"},
        )
        requested = relay.loop.submit(next_of(relay.engineer, MessageType.HANDOFF_REQUEST, status="requested"))
        relay.loop.loop.call_soon_threadsafe(relay.engineer.send_control, request)
        qtbot.waitUntil(window.handoff_prompt.isVisible, timeout=WAIT_MS)
        assert "stint over" in window.handoff_text.text() and "Sam" in window.handoff_text.text()
        handoff_id = requested.result(WAIT_MS / 1000).data["handoff_id"]

        accepted = relay.loop.submit(next_of(relay.engineer, MessageType.HANDOFF_REQUEST, status="accepted"))
        qtbot.mouseClick(window.accept_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(accepted.done, timeout=WAIT_MS)
        update = accepted.result()
        assert update.data["handoff_id"] == handoff_id
        assert update.data["car_id"] == 1 and update.data["to_driver"] == "Sam"
        # The driver's app sees the outcome too.
        qtbot.waitUntil(lambda: window.handoff_title.text() == "Handoff accepted", timeout=WAIT_MS)
        assert not window.accept_button.isVisible()
    finally:
        app.shutdown()
    assert app.worker is not None and not app.worker.is_alive


def test_first_run_local_relay_starts_one_and_streams_to_it(qtbot: QtBot, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    state_path = tmp_path / "config" / "app-state.json"

    def make_factory(settings: Settings, state: AppState) -> AppPipelineFactory:
        return AppPipelineFactory(settings, state, data_dir, flush_timeout_s=1.0)

    app = PitBoxApp(make_factory, Settings(adapter="demo"), state_path=state_path, use_tray=False)
    qtbot.addWidget(app.window)
    try:
        app.start()
        qtbot.waitUntil(lambda: app.tray.summary == "driving", timeout=WAIT_MS)  # no relay yet
        app.apply_first_run(FirstRunResult(FirstRunChoice.LOCAL_RELAY))
        qtbot.waitUntil(lambda: app.tray.summary == "streaming", timeout=WAIT_MS)
        assert "Local relay running at ws://127.0.0.1:" in app.window.notice.text()
        assert "pitbox+insecure://127.0.0.1:" in app.window.notice.text()
        assert load_app_state(state_path) == AppState(first_run_done=True, local_relay=True)
        assert (data_dir / "relay" / "tokens.json").exists()
    finally:
        app.shutdown()
