"""Fixtures for the tray app's tests: a `PitBoxApp` on a real pipeline, shut down after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from driver_app.qt.app import PitBoxApp
from driver_app.qt.worker import ConfigFactory, PipelineFactory
from driver_app.settings import Settings

from .helpers import MakeApp, demo_config


@pytest.fixture
def make_app(qtbot: QtBot) -> Iterator[MakeApp]:
    """`make_app(factory=..., settings=...)`: a started PitBoxApp without a tray (offscreen has none)."""
    apps: list[PitBoxApp] = []

    def make(
        factory: PipelineFactory | None = None, settings: Settings | None = None, *, start: bool = True
    ) -> PitBoxApp:
        chosen = factory if factory is not None else ConfigFactory(demo_config(), flush_timeout_s=0.0)
        app = PitBoxApp(lambda current, state: chosen, settings if settings is not None else Settings(), use_tray=False)
        qtbot.addWidget(app.window)
        apps.append(app)
        if start:
            app.start()
        return app

    yield make
    for app in apps:
        app.shutdown()
        assert app.worker is None or not app.worker.is_alive
