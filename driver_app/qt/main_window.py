"""The main window: the state, live values, session, recent laps, fuel and strategy, coaching log,
team messages and the handoff prompt with Accept/Reject.

`MainWindow.apply(event)` takes every `PipelineEvent` (and the worker's `Notice`s) in the GUI thread;
updates are cheap enough for 60 a second (a label is only set when its text changes, the lists
are bounded). The window never talks to the pipeline: it emits `handoff_answered` and the app
hands that to the worker.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QCloseEvent, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from adapters.model import Lap, LapKind, SessionInfo
from coaching.messages import Call, Priority
from driver_app.pipeline import (
    CallMade,
    HandoffPrompt,
    LapFinished,
    LiveValues,
    SessionUpdated,
    StatusChanged,
    StrategyUpdated,
    TeamMessageReceived,
)
from driver_app.qt.tray import STATUS_TEXT, status_colour, status_pixmap, status_tooltip
from driver_app.qt.worker import Notice
from strategy.live import StrategySnapshot

logger = logging.getLogger(__name__)

MAX_LAPS_SHOWN: Final = 12
MAX_LOG_LINES: Final = 200
MAX_TEAM_MESSAGES: Final = 100
HANDOFF_RESULT_SHOWN_MS: Final = 8000
"""How long a rejected, cancelled or completed handoff stays on screen."""
DASH: Final = "–"

PRIORITY_COLOURS: Final = {
    Priority.SPOTTER: "#b03a2e",
    Priority.CRITICAL: "#b03a2e",
    Priority.VOICE_REPLY: "#1f5fae",
    Priority.IMPORTANT: "#a8650a",
}

STYLE: Final = """
QFrame#statusHeader { background: #1f2733; border-radius: 8px; }
QLabel#statusTitle { color: #ffffff; font-size: 17px; font-weight: 600; }
QLabel#statusDetail { color: #c4cbd6; }
QLabel#notice { color: #3b4656; background: #eef3fb; border: 1px solid #c9d7ee; border-radius: 6px; padding: 6px; }
QFrame#handoffPrompt { background: #fff4df; border: 2px solid #e6a23c; border-radius: 8px; }
QLabel#handoffTitle { font-size: 16px; font-weight: 700; color: #7a4a00; }
QLabel#handoffText { font-size: 13px; color: #3b2a0a; }
QLabel#handoffState { color: #6b5a3a; }
QPushButton#acceptButton { background: #2e9e52; color: white; font-weight: 700; padding: 8px 22px;
    border: none; border-radius: 5px; }
QPushButton#acceptButton:disabled { background: #9ccbab; }
QPushButton#rejectButton { background: #d64541; color: white; font-weight: 700; padding: 8px 22px;
    border: none; border-radius: 5px; }
QPushButton#rejectButton:disabled { background: #e9a3a1; }
QFrame#tile { background: #f4f6f9; border: 1px solid #dde2ea; border-radius: 6px; }
QLabel#tileCaption { color: #6b7585; font-size: 11px; }
QLabel#tileValue { color: #1f2733; font-size: 22px; font-weight: 600; }
QGroupBox { font-weight: 600; border: 1px solid #dde2ea; border-radius: 6px; margin-top: 14px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #3b4656; }
QLabel#fieldValue { font-weight: 400; color: #1f2733; }
QLabel#fieldName { font-weight: 400; color: #6b7585; }
QListWidget { font-weight: 400; }
QListWidget::item { padding: 2px 4px; }
QTableWidget { font-weight: 400; }
"""


@dataclass(frozen=True, slots=True)
class HandoffAnswer:
    handoff_id: str
    accept: bool


# ------------------------------------------------------------------------------------------- formats


def lap_time_text(seconds: float | None) -> str:
    """1:35.562 (or 58.312 under a minute); a dash when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:06.3f}" if minutes else f"{rest:.3f}"


def clock_text(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return DASH
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _number(value: float | None, fmt: str, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:{fmt}}{unit}"


def session_rows(info: SessionInfo) -> dict[str, str]:
    track = info.track
    player = info.player
    length = f"{track.length_m / 1000:.2f} km" if track.length_m > 0 else ""
    track_text = " · ".join(part for part in (track.display_name, track.config, length) if part)
    if info.laps is not None:
        extent = f"{info.laps} laps"
    elif info.time_limit_s is not None:
        extent = f"{clock_text(info.time_limit_s)} timed"
    else:
        extent = "open"
    session_text = f"{info.session_name.title() or info.session_type.value.title()} · {extent}"
    if player is not None:
        car = f"#{player.car_number} {player.car_name} ({player.class_name})"
        driver = player.driver_name + (f" · {player.team_name}" if player.team_name else "")
    else:
        car = driver = DASH
    return {"sim": info.sim, "track": track_text, "session": session_text, "car": car, "driver": driver}


def strategy_rows(snapshot: StrategySnapshot) -> dict[str, str]:
    rows: dict[str, str] = {}
    estimate = snapshot.fuel_estimate
    if estimate is not None:
        rows["fuel_per_lap"] = f"{estimate.fuel_per_lap_l:.2f} l (± {estimate.sd_l:.2f}, {estimate.laps_used} laps)"
    else:
        rows["fuel_per_lap"] = "measuring (needs a green-flag lap)"
    fuel = snapshot.fuel
    if fuel is not None:
        rows["fuel_left"] = f"{fuel.fuel_l:.1f} l = {fuel.laps_of_fuel_left:.1f} laps"
        rows["to_finish"] = f"{fuel.laps_remaining:.1f} laps to go, {fuel.fuel_to_finish_l:.1f} l needed"
        stops = f"{fuel.stops_needed} stop" + ("" if fuel.stops_needed == 1 else "s")
        add = f"add {fuel.fuel_to_add_l:.1f} l" if fuel.fuel_to_add_l > 0 else "no fuel needed"
        save = f", or save to {fuel.save_target_l_per_lap:.2f} l/lap" if fuel.save_target_l_per_lap is not None else ""
        rows["stops"] = f"{stops}, {add}{save}"
    else:
        rows["fuel_left"] = rows["to_finish"] = rows["stops"] = DASH
    prediction = snapshot.next_lap
    pace = f"next {lap_time_text(prediction.time_s)} ± {prediction.sd_s:.2f}" if prediction is not None else ""
    best_last = f"best {lap_time_text(snapshot.best_lap_s)}, last {lap_time_text(snapshot.last_lap_s)}"
    rows["pace"] = f"{pace}; {best_last}" if pace else best_last
    rows["tyres"] = f"{snapshot.tyre_age_laps} laps on this set"
    window = snapshot.pit_window
    if window:
        laps = window.get("window_laps")
        where = f", window laps {laps[0]}–{laps[1]}" if laps else ""
        confidence = window.get("confidence")
        sure = f" ({confidence * 100:.0f}% sure)" if isinstance(confidence, int | float) else ""
        rows["pit_call"] = f"{window.get('strategy', '?')}{where}{sure}"
    else:
        rows["pit_call"] = DASH
    return rows


def call_text(call: Call) -> str:
    return f"{clock_text(call.start_s)}  L{call.lap:<3} {call.lap_dist_m:6.0f} m   {call.message.text}"


# ------------------------------------------------------------------------------------------- widgets


class _Tile(QFrame):
    def __init__(self, caption: str) -> None:
        super().__init__()
        self.setObjectName("tile")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 8)
        layout.setSpacing(0)
        self.caption = QLabel(caption)
        self.caption.setObjectName("tileCaption")
        self.value = QLabel(DASH)
        self.value.setObjectName("tileValue")
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


def _form(rows: Iterable[tuple[str, str]]) -> tuple[QFormLayout, dict[str, QLabel]]:
    form = QFormLayout()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
    form.setHorizontalSpacing(14)
    form.setVerticalSpacing(5)
    labels: dict[str, QLabel] = {}
    for key, title in rows:
        name = QLabel(title)
        name.setObjectName("fieldName")
        value = QLabel(DASH)
        value.setObjectName("fieldValue")
        value.setWordWrap(True)
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(name, value)
        labels[key] = value
    return form, labels


class MainWindow(QMainWindow):
    """See the module docstring."""

    handoff_answered = Signal(object)
    """A `HandoffAnswer` (the driver clicked Accept or Reject)."""
    talk = Signal(bool)
    """The hold-to-talk button went down (True) or up (False): push-to-talk for voice commands."""
    closed = Signal()
    """The window was closed (not merely hidden to the tray)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PitBox")
        self.setObjectName("pitboxMainWindow")
        self.resize(1120, 800)
        self.setStyleSheet(STYLE)
        self.hide_on_close = False
        """True while a tray icon exists: closing hides the window instead."""
        self.live_updates = 0
        self.summary = "starting"
        self._texts: dict[int, str] = {}
        self._laps: deque[Lap] = deque(maxlen=MAX_LAPS_SHOWN)
        self._best_lap_s: float | None = None
        self._handoff: HandoffPrompt | None = None
        self._handoff_timer = QTimer(self)
        self._handoff_timer.setSingleShot(True)
        self._handoff_timer.timeout.connect(self._hide_finished_handoff)

        self.toolbar = QToolBar("Controls")
        self.toolbar.setObjectName("controls")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(self.toolbar)

        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(14, 10, 14, 12)
        root.setSpacing(10)
        root.addWidget(self._build_header())
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()
        root.addWidget(self.notice)
        root.addWidget(self._build_handoff())
        root.addLayout(self._build_tiles())

        middle = QHBoxLayout()
        middle.setSpacing(10)
        left = QVBoxLayout()
        left.setSpacing(10)
        left.addWidget(self._build_session())
        left.addWidget(self._build_strategy())
        left.addStretch(1)
        middle.addLayout(left, 5)
        middle.addWidget(self._build_laps(), 6)
        root.addLayout(middle, 5)

        bottom = QHBoxLayout()
        bottom.setSpacing(10)
        bottom.addWidget(self._build_coaching(), 3)
        bottom.addWidget(self._build_team(), 2)
        root.addLayout(bottom, 4)
        self.setCentralWidget(central)
        self.set_status("starting")

    # ---------------------------------------------------------------- building

    def _build_header(self) -> QWidget:
        header = QFrame()
        header.setObjectName("statusHeader")
        layout = QHBoxLayout(header)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(12)
        self.status_dot = QLabel()
        self.status_dot.setFixedSize(28, 28)
        self.status_title = QLabel()
        self.status_title.setObjectName("statusTitle")
        self.status_detail = QLabel()
        self.status_detail.setObjectName("statusDetail")
        self.status_detail.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.status_dot)
        layout.addWidget(self.status_title, 1)
        layout.addWidget(self.status_detail)
        self.talk_button = QPushButton("Hold to talk")
        self.talk_button.setToolTip("Hold while you say a voice command (or use the push-to-talk key)")
        self.talk_button.pressed.connect(lambda: self.talk.emit(True))
        self.talk_button.released.connect(lambda: self.talk.emit(False))
        layout.addWidget(self.talk_button)
        return header

    def _build_handoff(self) -> QWidget:
        self.handoff_prompt = QFrame()
        self.handoff_prompt.setObjectName("handoffPrompt")
        layout = QHBoxLayout(self.handoff_prompt)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(14)
        texts = QVBoxLayout()
        texts.setSpacing(3)
        self.handoff_title = QLabel("Handoff requested")
        self.handoff_title.setObjectName("handoffTitle")
        self.handoff_text = QLabel()
        self.handoff_text.setObjectName("handoffText")
        self.handoff_text.setWordWrap(True)
        self.handoff_state = QLabel()
        self.handoff_state.setObjectName("handoffState")
        texts.addWidget(self.handoff_title)
        texts.addWidget(self.handoff_text)
        texts.addWidget(self.handoff_state)
        layout.addLayout(texts, 1)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setObjectName("acceptButton")
        self.accept_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.reject_button = QPushButton("Reject")
        self.reject_button.setObjectName("rejectButton")
        self.reject_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.accept_button.clicked.connect(self._accept_handoff)
        self.reject_button.clicked.connect(self._reject_handoff)
        layout.addWidget(self.accept_button)
        layout.addWidget(self.reject_button)
        self.handoff_prompt.hide()
        return self.handoff_prompt

    def _build_tiles(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        self.tiles: dict[str, _Tile] = {}
        for column, (key, caption) in enumerate(
            (
                ("lap", "LAP"),
                ("position", "POSITION"),
                ("speed", "SPEED"),
                ("gear", "GEAR"),
                ("fuel", "FUEL"),
                ("time", "SESSION TIME"),
            )
        ):
            tile = _Tile(caption)
            self.tiles[key] = tile
            grid.addWidget(tile, 0, column)
        return grid

    def _build_session(self) -> QGroupBox:
        box = QGroupBox("Session")
        form, self.session_labels = _form(
            (("track", "Track"), ("session", "Session"), ("car", "Car"), ("driver", "Driver"), ("sim", "Sim"))
        )
        box.setLayout(form)
        return box

    def _build_strategy(self) -> QGroupBox:
        box = QGroupBox("Fuel and strategy")
        form, self.strategy_labels = _form(
            (
                ("fuel_per_lap", "Fuel per lap"),
                ("fuel_left", "Fuel left"),
                ("to_finish", "To the flag"),
                ("stops", "Stops"),
                ("pit_call", "Pit call"),
                ("pace", "Pace"),
                ("tyres", "Tyres"),
            )
        )
        box.setLayout(form)
        self.strategy_labels["fuel_per_lap"].setText("measuring (needs a green-flag lap)")
        return box

    def _build_laps(self) -> QGroupBox:
        box = QGroupBox("Recent laps")
        layout = QVBoxLayout(box)
        self.laps_table = QTableWidget(0, 6)
        self.laps_table.setHorizontalHeaderLabels(["Lap", "Time", "Gap to best", "Fuel", "Top speed", "Kind"])
        self.laps_table.verticalHeader().setVisible(False)
        self.laps_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.laps_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.laps_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.laps_table.setAlternatingRowColors(True)
        self.laps_table.setShowGrid(False)
        header = self.laps_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        layout.addWidget(self.laps_table)
        return box

    def _build_coaching(self) -> QGroupBox:
        box = QGroupBox("Coaching log")
        layout = QVBoxLayout(box)
        self.coaching_list = QListWidget()
        self.coaching_list.setUniformItemSizes(True)
        self.coaching_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.coaching_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(self.coaching_list)
        return box

    def _build_team(self) -> QGroupBox:
        box = QGroupBox("Team messages")
        layout = QVBoxLayout(box)
        self.team_list = QListWidget()
        self.team_list.setWordWrap(True)
        self.team_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.team_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(self.team_list)
        return box

    # ---------------------------------------------------------------- public

    def add_control_actions(self, actions: Iterable[QAction]) -> None:
        """Put the tray menu's switches in the window's toolbar too (the same QActions)."""
        for action in actions:
            self.toolbar.addAction(action)

    def show_and_raise(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def apply(self, event: object) -> None:
        """Show one pipeline event (unknown kinds are ignored)."""
        if isinstance(event, LiveValues):
            self.show_live(event)
        elif isinstance(event, StatusChanged):
            self.set_status(event)
        elif isinstance(event, CallMade):
            self.add_call(event.call)
        elif isinstance(event, LapFinished):
            self.add_lap(event.lap)
        elif isinstance(event, StrategyUpdated):
            self.show_strategy(event.snapshot)
        elif isinstance(event, SessionUpdated):
            self.show_session(event.info)
        elif isinstance(event, HandoffPrompt):
            self.show_handoff(event)
        elif isinstance(event, TeamMessageReceived):
            self.add_team_message(event)
        elif isinstance(event, Notice):
            self.show_notice(event)

    def set_status(self, status: StatusChanged | str, detail: str = "") -> None:
        summary = status.summary if isinstance(status, StatusChanged) else status
        self.summary = summary
        self.status_dot.setPixmap(status_pixmap(summary, 28))
        self._set(self.status_title, STATUS_TEXT.get(summary, summary).capitalize())
        lines = status_tooltip(status, detail).splitlines()[1:]
        self._set(self.status_detail, "   ·   ".join(lines))
        self.status_title.setToolTip(status_colour(summary).name())

    def show_live(self, values: LiveValues) -> None:
        self.live_updates += 1
        tiles = self.tiles
        self._set(tiles["lap"].value, str(values.lap) if values.lap > 0 else DASH)
        self._set(tiles["position"].value, f"P{values.position}" if values.position > 0 else DASH)
        self._set(tiles["speed"].value, _number(values.speed_mps * 3.6, ".0f", " km/h"))
        gear = "R" if values.gear < 0 else ("N" if values.gear == 0 else str(values.gear))
        self._set(tiles["gear"].value, gear)
        self._set(tiles["fuel"].value, _number(values.fuel_l, ".1f", " l"))
        self._set(tiles["time"].value, clock_text(values.session_time_s))

    def show_session(self, info: SessionInfo) -> None:
        for key, text in session_rows(info).items():
            self._set(self.session_labels[key], text)

    def show_strategy(self, snapshot: StrategySnapshot) -> None:
        for key, text in strategy_rows(snapshot).items():
            self._set(self.strategy_labels[key], text)

    def add_lap(self, lap: Lap) -> None:
        self._laps.appendleft(lap)
        if lap.kind is LapKind.FLYING and lap.time_s is not None:
            self._best_lap_s = lap.time_s if self._best_lap_s is None else min(self._best_lap_s, lap.time_s)
        table = self.laps_table
        table.setRowCount(len(self._laps))
        bold = QFont()
        bold.setBold(True)
        for row, shown in enumerate(self._laps):
            best = self._best_lap_s
            is_best = shown.time_s is not None and best is not None and shown.time_s == best
            gap = (
                f"+{shown.time_s - best:.3f}"
                if shown.time_s is not None and best is not None and not is_best and shown.kind is LapKind.FLYING
                else ("best" if is_best else DASH)
            )
            cells = (
                str(shown.number),
                lap_time_text(shown.time_s),
                gap,
                _number(shown.fuel_used_l, ".2f", " l"),
                _number(shown.top_speed_mps * 3.6, ".0f", " km/h"),
                shown.kind.value + (" (caution)" if shown.under_caution else ""),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if is_best:
                    item.setFont(bold)
                    item.setForeground(QBrush(QColor("#2e7d46")))
                elif shown.kind is LapKind.INVALID:
                    item.setForeground(QBrush(QColor("#9aa3b0")))
                table.setItem(row, column, item)

    def add_call(self, call: Call) -> None:
        item = QListWidgetItem(call_text(call))
        colour = PRIORITY_COLOURS.get(call.message.priority)
        if colour is not None:
            item.setForeground(QBrush(QColor(colour)))
        item.setToolTip(f"{call.message.priority.name.lower()} · {call.message.category}")
        self._append(self.coaching_list, item, MAX_LOG_LINES)

    def add_team_message(self, message: TeamMessageReceived) -> None:
        stamp = time.strftime("%H:%M")
        item = QListWidgetItem(f"{stamp}  {message.sender or 'Team'}: {message.text}")
        if message.priority in ("urgent", "high"):
            font = QFont()
            font.setBold(True)
            item.setFont(font)
            item.setForeground(QBrush(QColor("#b03a2e" if message.priority == "urgent" else "#a8650a")))
        item.setToolTip(f"priority {message.priority}")
        self._append(self.team_list, item, MAX_TEAM_MESSAGES)

    def show_notice(self, notice: Notice) -> None:
        self.notice.setText(notice.text + (f"\n{notice.detail}" if notice.detail else ""))
        self.notice.show()

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def show_handoff(self, prompt: HandoffPrompt) -> None:
        current = self._handoff
        if prompt.status != "requested" and current is not None and current.handoff_id != prompt.handoff_id:
            return  # the end of an older handoff: the one on screen matters
        self._handoff = prompt
        self._handoff_timer.stop()
        reason = f" Reason: {prompt.reason}." if prompt.reason else ""
        urgency = " Urgent." if prompt.urgency == "high" else ""
        to = prompt.to_driver or "the next driver"
        if prompt.status == "requested":
            self.handoff_title.setText("Handoff requested")
            self.handoff_text.setText(f"Hand the car over to {to}.{reason}{urgency}")
            self.handoff_state.setText("Accept to pit and swap at the end of this stint.")
            self._set_handoff_buttons(visible=True, enabled=True)
            self.handoff_prompt.show()
            return
        titles = {
            "accepted": "Handoff accepted",
            "rejected": "Handoff rejected",
            "completed": "Handoff completed",
            "cancelled": "Handoff cancelled",
        }
        texts = {
            "accepted": f"{to} takes over: box at the end of this stint.{reason}",
            "rejected": "You stay in the car.",
            "completed": f"{to} is in the car.",
            "cancelled": "The team cancelled the handoff.",
        }
        self.handoff_title.setText(titles.get(prompt.status, f"Handoff {prompt.status}"))
        self.handoff_text.setText(texts.get(prompt.status, ""))
        self.handoff_state.setText("")
        self._set_handoff_buttons(visible=False, enabled=False)
        self.handoff_prompt.show()
        if prompt.status != "accepted":
            self._handoff_timer.start(HANDOFF_RESULT_SHOWN_MS)

    # ---------------------------------------------------------------- internals

    def _accept_handoff(self) -> None:
        self._answer_handoff(True)

    def _reject_handoff(self) -> None:
        self._answer_handoff(False)

    def _answer_handoff(self, accept: bool) -> None:
        prompt = self._handoff
        if prompt is None or prompt.status != "requested":
            return
        self._set_handoff_buttons(visible=True, enabled=False)
        self.handoff_state.setText(("Accepting" if accept else "Rejecting") + "… waiting for the relay.")
        self.handoff_answered.emit(HandoffAnswer(prompt.handoff_id, accept))

    def _set_handoff_buttons(self, *, visible: bool, enabled: bool) -> None:
        for button in (self.accept_button, self.reject_button):
            button.setVisible(visible)
            button.setEnabled(enabled)

    def _hide_finished_handoff(self) -> None:
        if self._handoff is not None and self._handoff.status not in ("requested", "accepted"):
            self.handoff_prompt.hide()

    def _set(self, label: QLabel, text: str) -> None:
        key = id(label)
        if self._texts.get(key) != text:
            self._texts[key] = text
            label.setText(text)

    @staticmethod
    def _append(widget: QListWidget, item: QListWidgetItem, limit: int) -> None:
        bar = widget.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        widget.addItem(item)
        while widget.count() > limit:
            widget.takeItem(0)
        if at_bottom:
            widget.scrollToBottom()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.hide_on_close:
            event.ignore()
            self.hide()
            return
        event.accept()
        self.closed.emit()
