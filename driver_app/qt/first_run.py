"""The first-run flow: which sim was found, and how to reach a team relay (all optional).

Shown once, without blocking: the pipeline already runs behind it (offline, or on the demo sim).
The driver pastes a pairing string (checked as typed, with the same message as the settings
dialog), starts a relay on this PC, or skips; `chosen` carries a `FirstRunResult`.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from driver_app.qt.tray import status_pixmap
from driver_app.settings import SettingsError, validate


class FirstRunChoice(enum.Enum):
    PAIRING = "pairing"
    LOCAL_RELAY = "local_relay"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class FirstRunResult:
    choice: FirstRunChoice
    pairing: str = ""


def sim_detection_text(detected: str | None, platform: str = sys.platform) -> tuple[str, str]:
    """(state for the dot colour, sentence) about the sim found at start."""
    if detected == "iracing":
        return "driving", "iRacing is running: PitBox is reading it."
    if detected is not None:
        return "driving", f"{detected} is running: PitBox is reading it."
    if platform == "win32":
        return "waiting for sim", "iRacing is not running yet: PitBox connects as soon as it starts."
    return "waiting for sim", "iRacing runs on Windows only: the built-in demo sim drives here."


class FirstRunDialog(QDialog):
    chosen = Signal(object)
    """A `FirstRunResult`."""

    def __init__(self, detected: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to PitBox")
        self.setObjectName("pitboxFirstRun")
        self.setMinimumWidth(540)
        self.result_choice: FirstRunResult | None = None

        title = QLabel("Welcome to PitBox")
        title.setStyleSheet("font-size: 18px; font-weight: 700;")
        state, sentence = sim_detection_text(detected)
        sim_row = QHBoxLayout()
        dot = QLabel()
        dot.setPixmap(status_pixmap(state, 18))
        self.sim_label = QLabel(sentence)
        self.sim_label.setWordWrap(True)
        sim_row.addWidget(dot)
        sim_row.addWidget(self.sim_label, 1)

        intro = QLabel(
            "Connecting to a team relay is optional: coaching and strategy work without one. "
            "You can change this later in Settings."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet("color: #4a5566;")

        pair_box = QFrame()
        pair_box.setFrameShape(QFrame.Shape.StyledPanel)
        pair_layout = QVBoxLayout(pair_box)
        pair_layout.addWidget(QLabel("<b>Join my team</b>: paste the pairing string from <tt>pitbox-relay invite</tt>"))
        row = QHBoxLayout()
        self.pairing = QLineEdit()
        self.pairing.setPlaceholderText("pitbox://host:port/?t=…")
        self.pairing.setClearButtonEnabled(True)
        self.use_pairing = QPushButton("Use this pairing string")
        self.use_pairing.setEnabled(False)
        row.addWidget(self.pairing, 1)
        row.addWidget(self.use_pairing)
        pair_layout.addLayout(row)
        self.pairing_error = QLabel()
        self.pairing_error.setObjectName("error-pairing")
        self.pairing_error.setStyleSheet("color: #c0392b;")
        self.pairing_error.setWordWrap(True)
        self.pairing_error.hide()
        pair_layout.addWidget(self.pairing_error)

        local_box = QFrame()
        local_box.setFrameShape(QFrame.Shape.StyledPanel)
        local_layout = QHBoxLayout(local_box)
        local_text = QLabel("<b>No team relay?</b> Run one on this PC, for your own dashboard and tools.")
        local_text.setWordWrap(True)
        self.start_local = QPushButton("Start a local relay")
        local_layout.addWidget(local_text, 1)
        local_layout.addWidget(self.start_local)

        self.skip = QPushButton("Skip for now")
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.skip)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addLayout(sim_row)
        layout.addWidget(intro)
        layout.addWidget(pair_box)
        layout.addWidget(local_box)
        layout.addLayout(bottom)

        self.pairing.textChanged.connect(self._check_pairing)
        self.pairing.returnPressed.connect(self._use_pairing)
        self.use_pairing.clicked.connect(self._use_pairing)
        self.start_local.clicked.connect(self._local_relay)
        self.skip.clicked.connect(self._skip)
        self.pairing.setFocus(Qt.FocusReason.OtherFocusReason)

    def _check_pairing(self, text: str) -> str | None:
        """The problem with the pairing string typed (None when usable)."""
        problem: str | None = None
        if not text.strip():
            problem = None
            self.use_pairing.setEnabled(False)
        else:
            try:
                validate({"pairing": text})
            except SettingsError as exc:
                problem = exc.problems.get("pairing", str(exc))
            self.use_pairing.setEnabled(problem is None)
        if problem:
            self.pairing_error.setText(problem[0].upper() + problem[1:])
            self.pairing_error.show()
        else:
            self.pairing_error.hide()
        return problem

    def _use_pairing(self) -> None:
        text = self.pairing.text().strip()
        if text and self._check_pairing(text) is None:
            self._finish(FirstRunResult(FirstRunChoice.PAIRING, text))

    def _local_relay(self) -> None:
        self._finish(FirstRunResult(FirstRunChoice.LOCAL_RELAY))

    def _skip(self) -> None:
        self._finish(FirstRunResult(FirstRunChoice.SKIP))

    def _finish(self, result: FirstRunResult) -> None:
        self.result_choice = result
        self.chosen.emit(result)
        self.accept()
