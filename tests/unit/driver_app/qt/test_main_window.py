"""The main window shows each kind of pipeline event; the handoff prompt answers through a signal."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from adapters.base import AdapterState
from adapters.model import LapKind
from coaching.messages import Priority
from driver_app.pipeline import (
    CallMade,
    HandoffPrompt,
    LapFinished,
    LiveValues,
    RelayState,
    StatusChanged,
    TeamMessageReceived,
)
from driver_app.qt.main_window import MAX_LAPS_SHOWN, MAX_LOG_LINES, HandoffAnswer, MainWindow, lap_time_text
from driver_app.qt.worker import Notice

from .sample_data import call, lap, sample_events


def make_window(qtbot: QtBot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    return window


def test_sample_session_fills_every_panel(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    for event in sample_events(handoff=False):
        window.apply(event)
    assert window.status_title.text() == "Streaming to the team"
    assert "PitBox Park" in window.session_labels["track"].text()
    assert window.session_labels["driver"].text().startswith("Alex Demo")
    assert window.tiles["speed"].value.text() == "221 km/h"
    assert window.tiles["position"].value.text() == "P4"
    assert window.laps_table.rowCount() == 6
    assert window.laps_table.item(0, 0).text() == "6"  # newest first
    assert window.laps_table.item(1, 2).text() == "best"
    assert "2.95 l" in window.strategy_labels["fuel_per_lap"].text()
    assert "1 stop: lap 14" in window.strategy_labels["pit_call"].text()
    assert window.coaching_list.count() == 6
    assert window.team_list.count() == 2 and "Box this lap" in window.team_list.item(1).text()
    assert not window.handoff_prompt.isVisible()


def test_lists_stay_bounded(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    for number in range(1, MAX_LAPS_SHOWN + 10):
        window.apply(LapFinished(lap(number, 95.0 + number % 3, LapKind.FLYING)))
    for k in range(MAX_LOG_LINES + 50):
        window.apply(CallMade(call(f"call {k}", Priority.REGULAR, float(k), 1, 10.0)))
    assert window.laps_table.rowCount() == MAX_LAPS_SHOWN
    assert window.coaching_list.count() == MAX_LOG_LINES
    assert window.coaching_list.item(MAX_LOG_LINES - 1).text().endswith(f"call {MAX_LOG_LINES + 49}")


def test_handoff_prompt_accept_and_its_outcome(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    window.apply(HandoffPrompt("h7", "requested", "Sam", "Alex", "stint over", "high"))
    assert window.handoff_prompt.isVisible()
    assert "Sam" in window.handoff_text.text() and "stint over" in window.handoff_text.text()
    with qtbot.waitSignal(window.handoff_answered, timeout=1000) as answered:
        qtbot.mouseClick(window.accept_button, Qt.MouseButton.LeftButton)
    assert answered.args == [HandoffAnswer("h7", True)]
    assert not window.accept_button.isEnabled()  # one answer per request
    window.apply(HandoffPrompt("h7", "accepted", "Sam", "Alex", "stint over", "high"))
    assert window.handoff_title.text() == "Handoff accepted"
    assert not window.accept_button.isVisible()


def test_handoff_reject_then_the_prompt_goes(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("driver_app.qt.main_window.HANDOFF_RESULT_SHOWN_MS", 10)
    window = make_window(qtbot)
    window.apply(HandoffPrompt("h8", "requested", "Sam", "Alex", "", "normal"))
    with qtbot.waitSignal(window.handoff_answered, timeout=1000) as answered:
        qtbot.mouseClick(window.reject_button, Qt.MouseButton.LeftButton)
    assert answered.args == [HandoffAnswer("h8", False)]
    window.apply(HandoffPrompt("h8", "rejected", "Sam", "Alex", "", "normal"))
    assert window.handoff_title.text() == "Handoff rejected"
    qtbot.waitUntil(lambda: not window.handoff_prompt.isVisible(), timeout=2000)


def test_live_values_status_notice_and_team_message(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    window.apply(LiveValues(lap=3, speed_mps=50.0, gear=-1, fuel_l=12.34, position=2, session_time_s=3725.0))
    assert window.tiles["gear"].value.text() == "R"
    assert window.tiles["fuel"].value.text() == "12.3 l"
    assert window.tiles["time"].value.text() == "1:02:05"
    window.apply(StatusChanged(AdapterState.CONNECTED, RelayState.OFFLINE, "iracing"))
    assert window.summary == "relay offline"
    assert "iracing" in window.status_detail.text()
    window.apply(Notice("Local relay running", "Viewer pairing: x"))
    assert window.notice.isVisible() and "Viewer pairing" in window.notice.text()
    window.apply(TeamMessageReceived("m1", "Erin", "urgent", "Box now"))
    assert window.team_list.item(0).font().bold()


def test_lap_time_text() -> None:
    assert lap_time_text(94.402) == "1:34.402"
    assert lap_time_text(58.3) == "58.300"
    assert lap_time_text(None) == "–"
    assert lap_time_text(float("nan")) == "–"


def test_closing_hides_when_a_tray_exists(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    window.hide_on_close = True
    window.close()
    assert not window.isVisible()
    window.show()
    window.hide_on_close = False
    with qtbot.waitSignal(window.closed, timeout=1000):
        window.close()


def test_hold_to_talk_button_reports_press_and_release(qtbot: QtBot) -> None:
    window = make_window(qtbot)
    seen: list[bool] = []
    window.talk.connect(seen.append)
    qtbot.mousePress(window.talk_button, Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(window.talk_button, Qt.MouseButton.LeftButton)
    assert seen == [True, False]
