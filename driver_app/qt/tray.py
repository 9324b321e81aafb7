"""The tray icon and its menu: the state at a glance, the switches a driver needs mid-race.

The icon is a coloured disc drawn with QPainter (no image files): its colour and the tooltip
follow `StatusChanged.summary` (waiting for sim, driving, streaming, relay offline), plus the
app's own states (starting, stopped, error). The menu: show window, mute coach, voice, video,
save clip (enabled while video records), settings, quit. Where no system tray exists
(offscreen, a desktop without a tray host) there is no `QSystemTrayIcon`, but the menu and the
state are all the same: the app shows its window instead, and tests drive the `QMenu` directly.
"""

from __future__ import annotations

import logging
from typing import Final

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from adapters.base import AdapterState
from driver_app.pipeline import RelayState, StatusChanged
from driver_app.qt.worker import Controls

logger = logging.getLogger(__name__)

STATUS_COLOURS: Final = {
    "starting": "#8a94a6",
    "waiting for sim": "#e6a23c",
    "driving": "#2e9e52",
    "streaming": "#2f7de1",
    "relay offline": "#d64541",
    "stopped": "#8a94a6",
    "error": "#8e44ad",
}
"""Icon colour per state: grey, amber, green, blue, red; purple when the pipeline failed."""

STATUS_TEXT: Final = {
    "starting": "starting",
    "waiting for sim": "waiting for the sim",
    "driving": "driving (no relay)",
    "streaming": "streaming to the team",
    "relay offline": "relay offline (buffering)",
    "stopped": "stopped",
    "error": "error",
}

_SIM_TEXT: Final = {
    AdapterState.WAITING_FOR_SIM: "waiting for the sim",
    AdapterState.CONNECTED: "connected",
    AdapterState.STALLED: "stalled",
    AdapterState.DISCONNECTED: "disconnected",
}
_RELAY_TEXT: Final = {
    RelayState.NONE: "not configured",
    RelayState.ONLINE: "online",
    RelayState.OFFLINE: "offline, telemetry buffered",
}


def status_colour(summary: str) -> QColor:
    return QColor(STATUS_COLOURS.get(summary, STATUS_COLOURS["starting"]))


def status_pixmap(summary: str, size: int = 64) -> QPixmap:
    """A disc in the state's colour with a white "P" (needs a QGuiApplication)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = status_colour(summary)
        margin = size * 0.06
        rect = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
        painter.setPen(QPen(colour.darker(140), max(1.0, size / 24)))
        painter.setBrush(colour)
        painter.drawEllipse(rect)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(size * 0.56))
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "P")
    finally:
        painter.end()
    return pixmap


def status_icon(summary: str) -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32, 48, 64):
        icon.addPixmap(status_pixmap(summary, size))
    return icon


def status_tooltip(status: StatusChanged | str, detail: str = "") -> str:
    if isinstance(status, StatusChanged):
        lines = [
            f"PitBox: {STATUS_TEXT.get(status.summary, status.summary)}",
            f"Sim: {status.adapter}, {_SIM_TEXT.get(status.sim, status.sim.value)}",
            f"Relay: {_RELAY_TEXT.get(status.relay, status.relay.value)}",
        ]
    else:
        lines = [f"PitBox: {STATUS_TEXT.get(status, status)}"]
    if detail:
        lines.append(detail)
    return "\n".join(lines)


class TrayController(QObject):
    """The tray icon (when a tray exists), its menu and its actions. See the module docstring."""

    show_requested = Signal()

    def __init__(self, parent: QObject | None = None, *, use_tray: bool | None = None) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        self.menu.setObjectName("pitbox-tray-menu")
        self.action_show = self._action("Show PitBox", "show")
        self.menu.addSeparator()
        self.action_mute = self._action("Mute coach", "mute", checkable=True)
        self.action_voice = self._action("Voice", "voice", checkable=True, checked=True)
        self.action_video = self._action("Video", "video", checkable=True)
        self.action_clip = self._action("Save clip", "clip")
        self.menu.addSeparator()
        self.action_settings = self._action("Settings…", "settings")
        self.menu.addSeparator()
        self.action_quit = self._action("Quit PitBox", "quit")
        self.action_show.triggered.connect(self.show_requested)
        self.action_mute.setToolTip("Silence the coach's calls (the spotter too)")
        self.action_voice.setToolTip("Spoken calls on or off")
        self.action_video.setToolTip("Stream video to the team on or off")
        self.action_clip.setToolTip("Save the seconds before and after now, with their telemetry")
        self.action_clip.setEnabled(False)

        self.summary = "starting"
        self.tooltip = status_tooltip("starting")
        self._icons: dict[str, QIcon] = {}
        available = QSystemTrayIcon.isSystemTrayAvailable() if use_tray is None else use_tray
        self.tray: QSystemTrayIcon | None = None
        if available:
            self.tray = QSystemTrayIcon(self.icon_for(self.summary), self)
            self.tray.setContextMenu(self.menu)
            self.tray.setToolTip(self.tooltip)
            self.tray.activated.connect(self._on_activated)
            self.tray.show()
        else:
            logger.info("no system tray here: the window stays open instead")

    # ---------------------------------------------------------------- state

    @property
    def has_tray(self) -> bool:
        return self.tray is not None

    @property
    def colour(self) -> str:
        """The icon's colour now, as #rrggbb."""
        return status_colour(self.summary).name()

    @property
    def icon(self) -> QIcon:
        return self.icon_for(self.summary)

    def icon_for(self, summary: str) -> QIcon:
        if summary not in self._icons:
            self._icons[summary] = status_icon(summary)
        return self._icons[summary]

    def set_status(self, status: StatusChanged | str, detail: str = "") -> None:
        """Show a pipeline status (or one of the app's states: starting, stopped, error)."""
        summary = status.summary if isinstance(status, StatusChanged) else status
        tooltip = status_tooltip(status, detail)
        if summary == self.summary and tooltip == self.tooltip:
            return
        self.summary = summary
        self.tooltip = tooltip
        if self.tray is not None:
            self.tray.setIcon(self.icon_for(summary))
            self.tray.setToolTip(tooltip)

    def set_controls(self, controls: Controls) -> None:
        """Check marks as the pipeline reports them (without firing the actions again)."""
        for action, value in (
            (self.action_mute, controls.muted),
            (self.action_voice, controls.voice_enabled),
            (self.action_video, controls.video_enabled),
        ):
            if action.isChecked() != value:
                blocked = action.blockSignals(True)
                action.setChecked(value)
                action.blockSignals(blocked)
        self.action_clip.setEnabled(controls.video_enabled)

    def notify(self, title: str, text: str) -> None:
        """A balloon message, where a tray exists."""
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(title, text, self.icon, 8000)

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()

    # ---------------------------------------------------------------- internals

    def _action(self, text: str, name: str, *, checkable: bool = False, checked: bool = False) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"action-{name}")
        if checkable:
            action.setCheckable(True)
            action.setChecked(checked)
        self.menu.addAction(action)
        return action

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()
