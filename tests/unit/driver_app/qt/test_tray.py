"""The tray icon and menu: the menu's switches reach the pipeline through the worker, and the
icon's colour and tooltip follow the pipeline's StatusChanged events."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from adapters.base import AdapterState
from coaching.messages import Verbosity
from driver_app.pipeline import RelayState, StatusChanged
from driver_app.qt.tray import STATUS_COLOURS, TrayController, status_pixmap
from driver_app.qt.worker import ConfigFactory, Controls

from .helpers import WAIT_MS, MakeApp, demo_config

STATUSES = [
    (StatusChanged(AdapterState.WAITING_FOR_SIM, RelayState.NONE, "iracing"), "waiting for sim", "waiting for the sim"),
    (StatusChanged(AdapterState.CONNECTED, RelayState.NONE, "demo"), "driving", "driving"),
    (StatusChanged(AdapterState.CONNECTED, RelayState.ONLINE, "demo"), "streaming", "streaming to the team"),
    (StatusChanged(AdapterState.CONNECTED, RelayState.OFFLINE, "demo"), "relay offline", "relay offline"),
]


def menu_action(tray: TrayController, text: str) -> QAction:
    (action,) = [a for a in tray.menu.actions() if a.text() == text]
    return action


def test_the_menu_has_every_entry_without_a_system_tray(qtbot: QtBot) -> None:
    tray = TrayController(use_tray=False)
    assert tray.tray is None and not tray.has_tray
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Show PitBox", "Mute coach", "Voice", "Video", "Save clip", "Settings…", "Quit PitBox"]
    assert [menu_action(tray, t).isChecked() for t in ("Mute coach", "Voice", "Video")] == [False, True, False]
    with qtbot.waitSignal(tray.show_requested, timeout=1000):
        menu_action(tray, "Show PitBox").trigger()


@pytest.mark.parametrize(("status", "summary", "words"), STATUSES, ids=[s[1] for s in STATUSES])
def test_icon_colour_and_tooltip_follow_the_status(
    qtbot: QtBot, status: StatusChanged, summary: str, words: str
) -> None:
    tray = TrayController(use_tray=False)
    tray.set_status(status)
    assert tray.summary == summary
    assert tray.colour == STATUS_COLOURS[summary]
    assert words in tray.tooltip and status.adapter in tray.tooltip
    image = status_pixmap(summary, 32).toImage()
    assert image.pixelColor(16, 6).name() == STATUS_COLOURS[summary]  # the disc, above the letter


def test_every_state_has_its_own_colour() -> None:
    assert len(set(STATUS_COLOURS.values())) >= 5


def test_controls_set_check_marks_without_firing_the_actions(qtbot: QtBot) -> None:
    tray = TrayController(use_tray=False)
    fired: list[bool] = []
    tray.action_mute.toggled.connect(fired.append)
    tray.set_controls(Controls(True, False, True, Verbosity.NORMAL))
    assert (tray.action_mute.isChecked(), tray.action_voice.isChecked(), tray.action_video.isChecked()) == (
        True,
        False,
        True,
    )
    assert fired == []


def test_menu_switches_change_the_pipeline_through_the_worker(qtbot: QtBot, make_app: MakeApp) -> None:
    app = make_app()
    worker = app.worker
    assert worker is not None
    qtbot.waitUntil(lambda: worker.pipeline is not None, timeout=WAIT_MS)
    pipeline = worker.pipeline
    assert pipeline is not None
    assert (pipeline.muted, pipeline.voice_enabled, pipeline.video_enabled) == (False, True, False)

    menu_action(app.tray, "Mute coach").trigger()
    qtbot.waitUntil(lambda: pipeline.muted, timeout=WAIT_MS)
    assert pipeline.speech.muted  # type: ignore[attr-defined]  (the console sink)

    menu_action(app.tray, "Voice").trigger()
    qtbot.waitUntil(lambda: not pipeline.voice_enabled, timeout=WAIT_MS)

    menu_action(app.tray, "Video").trigger()
    qtbot.waitUntil(lambda: pipeline.video_enabled, timeout=WAIT_MS)

    menu_action(app.tray, "Mute coach").trigger()
    qtbot.waitUntil(lambda: not pipeline.muted, timeout=WAIT_MS)
    assert pipeline.speech.muted  # type: ignore[attr-defined]  (voice is still off)
    assert app.settings.coach_muted is False and app.settings.voice_enabled is False
    assert app.settings.video_enabled is True


def test_check_marks_follow_what_the_pipeline_reports(qtbot: QtBot, make_app: MakeApp) -> None:
    app = make_app()
    assert app.worker is not None
    app.worker.set_muted(True)  # not through the menu: the confirmation still reaches it
    qtbot.waitUntil(app.tray.action_mute.isChecked, timeout=WAIT_MS)


def test_tray_follows_the_pipelines_status_events(qtbot: QtBot, make_app: MakeApp) -> None:
    driving = make_app()
    qtbot.waitUntil(lambda: driving.tray.summary == "driving", timeout=WAIT_MS)
    assert driving.tray.colour == STATUS_COLOURS["driving"]
    assert driving.window.status_title.text() == "Driving (no relay)"

    # A relay nobody listens on: the pipeline buffers and says so.
    offline = make_app(ConfigFactory(demo_config(relay_url="ws://127.0.0.1:9", relay_token="x"), flush_timeout_s=0))
    qtbot.waitUntil(lambda: offline.tray.summary == "relay offline", timeout=WAIT_MS)
    assert "offline" in offline.tray.tooltip
    assert offline.tray.colour == STATUS_COLOURS["relay offline"]

    # iRacing is not running (it cannot, here): waiting for the sim.
    waiting = make_app(ConfigFactory(demo_config(adapter="iracing", adapter_options={}), flush_timeout_s=0))
    qtbot.waitUntil(lambda: waiting.tray.summary == "waiting for sim", timeout=WAIT_MS)
    assert waiting.tray.colour == STATUS_COLOURS["waiting for sim"]
