"""The tray app survives five minutes of 60 Hz updates with the window open.

A demo pipeline runs in the worker (calls, laps, strategy) while a task in the same loop posts
LiveValues at 60 Hz through the worker's queued signal into the window. At the end the
reference count of None must not have fallen (the PySide6 6.12 / Python 3.11 fault lowers it by
one per void Qt call: about 100,000 here) and the window must still answer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import sys
import time

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from adapters.base import AdapterState
from driver_app.pipeline import HandoffPrompt, LiveValues, Pipeline, RelayState, StatusChanged
from driver_app.qt.worker import ConfigFactory, EventCallback

from .helpers import WAIT_MS, MakeApp, demo_config

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

DURATION_S = float(os.environ.get("PITBOX_LONG_RUN_S", "300"))
"""Five minutes (PITBOX_LONG_RUN_S shortens it for a quick local check)."""
RATE_HZ = 60.0
DRIFT = 2_000
"""References of None the app may lose to ordinary churn in 5 minutes (a broken build loses ~100,000)."""


class SixtyHertzFactory(ConfigFactory):
    """The demo pipeline plus a task posting LiveValues at 60 Hz until told to stop."""

    posted = 0

    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        pipeline = await super().create(on_event, stop)
        self._task = asyncio.create_task(self._sixty_hertz(on_event, stop))
        return pipeline

    async def close(self, pipeline: Pipeline) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await super().close(pipeline)

    async def _sixty_hertz(self, on_event: EventCallback, stop: asyncio.Event) -> None:
        period = 1.0 / RATE_HZ
        start = next_s = time.monotonic()
        while not stop.is_set():
            t = next_s - start
            on_event(LiveValues(1 + int(t // 95), 45.0 + 25.0 * math.sin(t), 1 + int(t) % 6, 60.0 - t / 10, 3, t))
            self.posted += 1
            next_s += period
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))


def test_window_survives_five_minutes_of_60hz_updates(qtbot: QtBot, make_app: MakeApp) -> None:
    factory = SixtyHertzFactory(demo_config(adapter_options={"speed": 1.0, "seed": 1, "laps": 10}), flush_timeout_s=0)
    app = make_app(factory)
    window = app.window
    assert window.isVisible()
    worker = app.worker
    assert worker is not None
    qtbot.waitUntil(lambda: window.live_updates > 120, timeout=WAIT_MS)  # warm-up: caches, first lap
    qtbot.wait(2000)
    gc.collect()
    before_none = sys.getrefcount(None)
    before_updates = window.live_updates
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < DURATION_S:
        qtbot.wait(int(min(15.0, DURATION_S - elapsed) * 1000))
        logger.info(
            "%.0f s: %d window updates, refcount(None) %d (start %d)",
            time.monotonic() - started,
            window.live_updates - before_updates,
            sys.getrefcount(None),
            before_none,
        )
        assert worker.is_alive and worker.error is None
    updates = window.live_updates - before_updates
    gc.collect()
    after_none = sys.getrefcount(None)
    assert after_none >= before_none - DRIFT, f"refcount(None) fell from {before_none} to {after_none}"
    assert updates >= 0.9 * RATE_HZ * DURATION_S, f"only {updates} updates reached the window in {DURATION_S} s"

    # The window still answers: a status, a handoff prompt and a click on its button.
    window.apply(StatusChanged(AdapterState.CONNECTED, RelayState.OFFLINE, "demo"))
    assert window.status_title.text() == "Relay offline (buffering)"
    window.apply(HandoffPrompt("h1", "requested", "Sam", "Alex", "stint over", "normal"))
    qtbot.waitUntil(window.handoff_prompt.isVisible, timeout=WAIT_MS)
    with qtbot.waitSignal(window.handoff_answered, timeout=WAIT_MS):
        qtbot.mouseClick(window.reject_button, Qt.MouseButton.LeftButton)
    app.tray.action_mute.trigger()
    qtbot.waitUntil(lambda: worker.pipeline is not None and worker.pipeline.muted, timeout=WAIT_MS)
    assert worker.pipeline is not None and worker.pipeline.stats.laps >= int(DURATION_S // 120)  # ~95 s laps
