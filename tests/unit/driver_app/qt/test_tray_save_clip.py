"""The "Save clip" menu entry (enabled while video is on, it asks the pipeline for a clip), and the video
check mark when recording stops by itself."""

from __future__ import annotations

from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from coaching.messages import Verbosity
from driver_app.pipeline import ClipRequested
from driver_app.qt.tray import TrayController
from driver_app.qt.worker import ConfigFactory, Controls
from driver_app.video import recorder as recorder_module
from driver_app.video.config import VideoConfig
from driver_app.video.recorder import VideoProblem

from .helpers import WAIT_MS, MakeApp, demo_config


def test_save_clip_is_enabled_only_while_video_is_on(qtbot: QtBot) -> None:
    tray = TrayController(use_tray=False)
    assert not tray.action_clip.isEnabled()
    tray.set_controls(Controls(False, True, True, Verbosity.NORMAL))
    assert tray.action_clip.isEnabled()
    tray.set_controls(Controls(False, True, False, Verbosity.NORMAL))
    assert not tray.action_clip.isEnabled()


def test_save_clip_asks_the_pipeline_for_a_clip_from_the_menu(qtbot: QtBot, make_app: MakeApp) -> None:
    app = make_app()
    assert app.worker is not None
    seen: list[object] = []
    app.worker.event.connect(seen.append)
    app.tray.action_video.trigger()
    qtbot.waitUntil(app.tray.action_clip.isEnabled, timeout=WAIT_MS)
    app.tray.action_clip.trigger()
    qtbot.waitUntil(lambda: any(isinstance(e, ClipRequested) for e in seen), timeout=WAIT_MS)
    (asked,) = [e for e in seen if isinstance(e, ClipRequested)]
    assert asked.source == "menu"
    assert app.tray.action_clip in app.window.toolbar.actions()


class StubRecorder:
    """Stands in for the video recorder (no screen capture in these tests)."""

    made: list[StubRecorder] = []

    def __init__(self, config: object, **parts: object) -> None:
        self.telemetry = parts["telemetry"]
        self.on_event: Any = None
        self.running = False
        StubRecorder.made.append(self)

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def note_time(self, session_s: float) -> None:
        pass

    def request_clip(self, source: str, **details: object) -> str:
        return "clip-1"


def test_when_video_stops_by_itself_the_menu_shows_it_off(
    qtbot: QtBot, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    StubRecorder.made = []
    monkeypatch.setattr(recorder_module, "VideoRecorder", StubRecorder)
    app = make_app(ConfigFactory(demo_config(video=VideoConfig()), flush_timeout_s=0.0))
    app.tray.action_video.trigger()
    qtbot.waitUntil(lambda: app.tray.action_clip.isEnabled() and bool(StubRecorder.made), timeout=WAIT_MS)
    StubRecorder.made[0].on_event(VideoProblem("Video capture stopped: the window closed", stopped=True))
    qtbot.waitUntil(lambda: not app.tray.action_video.isChecked(), timeout=WAIT_MS)
    assert not app.tray.action_clip.isEnabled()
    assert app.worker is not None and app.worker.pipeline is not None and not app.worker.pipeline.video_enabled
