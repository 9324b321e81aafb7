"""The settings dialog: pairing string, sim, voice, video, coaching verbosity, push-to-talk key,
audio devices and start with Windows, validated as the driver types.

Every change runs `driver_app.settings.validate`; each problem of the `SettingsError` is shown in
red under its field and together in a message above the buttons, and OK stays disabled until
the settings are usable (`accept()` refuses them too). OK saves with `save_settings` (to
`path`, or the platform's config directory) and emits `saved` with the new `Settings`.

Audio devices come from `sounddevice` when it is installed; otherwise (or with no sound card)
the lists hold only "System default" and stay editable, so a device name can be typed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from adapters import base
from driver_app.qt import autostart
from driver_app.settings import INT_RANGES, VERBOSITIES, Settings, SettingsError, save_settings, validate
from driver_app.video.config import UPLOAD_MODES
from driver_app.video.presets import RESOLUTIONS

logger = logging.getLogger(__name__)

SYSTEM_DEFAULT: Final = "System default"
FIELD_TITLES: Final = {
    "pairing": "Pairing string",
    "adapter": "Sim",
    "voice_enabled": "Voice",
    "video_enabled": "Video",
    "video_target": "Capture",
    "video_resolution": "Video size",
    "video_fps": "Frame rate",
    "video_upload": "Share video",
    "verbosity": "Coaching",
    "push_to_talk": "Push-to-talk",
    "audio_output": "Speaker",
    "audio_input": "Microphone",
    "speech_voice": "Speaking voice",
    "speech_rate_wpm": "Speaking rate",
    "speech_volume_pct": "Speech volume",
    "start_with_windows": "Start with Windows",
}
UPLOAD_TITLES: Final = {
    "all": "Live segments and clips",
    "clips": "Clips only",
    "none": "Keep on this PC",
}
VERBOSITY_TITLES: Final = {
    "quiet": "Quiet: spotter, flags and pit calls only",
    "normal": "Normal: adds fuel and race information",
    "coaching": "Coaching: adds braking points and driving tips",
}
ADAPTER_TITLES: Final = {
    "iracing": "iRacing",
    "f1": "EA SPORTS F1 (UDP telemetry)",
    "demo": "Demo sim (PitBox Park)",
    "ibt": "iRacing recording (.ibt)",
}
HIDDEN_ADAPTERS: Final = frozenset({"ibt"})
"""Adapters that need a file and make no sense for the live app (shown only if already chosen)."""
ERROR_STYLE: Final = "color: #c0392b;"
MESSAGE_STYLE: Final = (
    "color: #c0392b; background: #fdecea; border: 1px solid #f5c6c1; border-radius: 4px; padding: 6px;"
)


def audio_devices() -> tuple[list[str], list[str]]:
    """(output names, input names) from sounddevice; empty lists when it is missing or finds none."""
    try:
        import sounddevice
    except (ImportError, OSError):  # not installed, or PortAudio missing
        return [], []
    try:
        devices = sounddevice.query_devices()
    except Exception as exc:  # PortAudio errors have their own type
        logger.info("could not list audio devices: %s", exc)
        return [], []
    outputs = [str(d["name"]) for d in devices if d.get("max_output_channels", 0) > 0]
    inputs = [str(d["name"]) for d in devices if d.get("max_input_channels", 0) > 0]
    return outputs, inputs


class SettingsDialog(QDialog):
    """See the module docstring."""

    saved = Signal(object)
    """The `Settings` just saved."""

    def __init__(
        self,
        settings: Settings,
        path: Path | None = None,
        parent: QWidget | None = None,
        *,
        devices: tuple[list[str], list[str]] | None = None,
        save: bool = True,
    ) -> None:
        """`path` None: the platform's config directory; `save` False: OK only emits `saved`."""
        super().__init__(parent)
        self.setWindowTitle("PitBox settings")
        self.setObjectName("pitboxSettings")
        self.setMinimumWidth(560)
        self.original = settings
        self.path = path
        self.save = save
        self.result_settings: Settings | None = None
        self.problems: dict[str, str] = {}
        outputs, inputs = devices if devices is not None else audio_devices()

        self.pairing = QLineEdit(settings.pairing)
        self.pairing.setPlaceholderText("pitbox://host:port/?t=…  (empty: no team relay)")
        self.pairing.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.pairing.setClearButtonEnabled(True)
        self.pairing.setToolTip("The line `pitbox-relay invite` printed for you (it holds your secret token)")
        self.adapter = QComboBox()
        self.adapter.addItem("Automatic (a running sim, else the demo)", "auto")
        for spec in base.registered():
            if spec.name in HIDDEN_ADAPTERS and spec.name != settings.adapter:
                continue
            self.adapter.addItem(ADAPTER_TITLES.get(spec.name, spec.name), spec.name)
            self.adapter.setItemData(self.adapter.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self._select(self.adapter, settings.adapter)
        self.voice = QCheckBox("Speak the coach's calls")
        self.voice.setChecked(settings.voice_enabled)
        self.video = QCheckBox("Stream video to the team")
        self.video.setChecked(settings.video_enabled)
        self.video_target = QLineEdit(settings.video_target)
        self.video_target.setPlaceholderText("primary monitor; or monitor:2, region:0,0,1920,1080, window:iRacing")
        self.video_resolution = QComboBox()
        for name in RESOLUTIONS:
            self.video_resolution.addItem(name, name)
        self._select(self.video_resolution, settings.video_resolution)
        self.video_fps = QSpinBox()
        self.video_fps.setRange(*INT_RANGES["video_fps"])
        self.video_fps.setSuffix(" fps")
        self.video_fps.setValue(settings.video_fps)
        self.video_upload = QComboBox()
        for name in UPLOAD_MODES:
            self.video_upload.addItem(UPLOAD_TITLES.get(name, name), name)
        self._select(self.video_upload, settings.video_upload)
        self.verbosity = QComboBox()
        for name in VERBOSITIES:
            self.verbosity.addItem(VERBOSITY_TITLES.get(name, name), name)
        self._select(self.verbosity, settings.verbosity)
        self.push_to_talk = QLineEdit(settings.push_to_talk)
        self.push_to_talk.setPlaceholderText("none; e.g. F13, Space or joy0:button5")
        self.audio_output = self._device_combo(outputs, settings.audio_output)
        self.audio_input = self._device_combo(inputs, settings.audio_input)
        self.speech_voice = QLineEdit(settings.speech_voice)
        self.speech_voice.setPlaceholderText("system default; `pitbox voice voices` lists them")
        self.speech_rate = QSpinBox()
        self.speech_rate.setRange(*INT_RANGES["speech_rate_wpm"])
        self.speech_rate.setSuffix(" words/min")
        self.speech_rate.setValue(settings.speech_rate_wpm)
        self.speech_volume = QSpinBox()
        self.speech_volume.setRange(*INT_RANGES["speech_volume_pct"])
        self.speech_volume.setSuffix(" %")
        self.speech_volume.setValue(settings.speech_volume_pct)
        self.start_with_windows = QCheckBox("Start PitBox when I log on")
        self.start_with_windows.setChecked(settings.start_with_windows and autostart.is_supported())
        if not autostart.is_supported():
            self.start_with_windows.setEnabled(False)
            self.start_with_windows.setToolTip(autostart.UNSUPPORTED_REASON)

        self.fields: dict[str, QWidget] = {
            "pairing": self.pairing,
            "adapter": self.adapter,
            "voice_enabled": self.voice,
            "video_enabled": self.video,
            "video_target": self.video_target,
            "video_resolution": self.video_resolution,
            "video_fps": self.video_fps,
            "video_upload": self.video_upload,
            "verbosity": self.verbosity,
            "push_to_talk": self.push_to_talk,
            "audio_output": self.audio_output,
            "audio_input": self.audio_input,
            "speech_voice": self.speech_voice,
            "speech_rate_wpm": self.speech_rate,
            "speech_volume_pct": self.speech_volume,
            "start_with_windows": self.start_with_windows,
        }
        self.error_labels: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setVerticalSpacing(4)
        for name, widget in self.fields.items():
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(widget)
            error = QLabel()
            error.setObjectName(f"error-{name}")
            error.setStyleSheet(ERROR_STYLE)
            error.setWordWrap(True)
            error.hide()
            column.addWidget(error)
            if name == "start_with_windows" and not autostart.is_supported():
                note = QLabel(autostart.UNSUPPORTED_REASON)
                note.setStyleSheet("color: #6b7585;")
                column.addWidget(note)
            self.error_labels[name] = error
            form.addRow(FIELD_TITLES[name], column)

        self.message = QLabel()
        self.message.setObjectName("settingsMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(MESSAGE_STYLE)
        self.message.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

        for line in (self.pairing, self.push_to_talk, self.speech_voice, self.video_target):
            line.textChanged.connect(self._revalidate)
        for spin in (self.speech_rate, self.speech_volume, self.video_fps):
            spin.valueChanged.connect(self._revalidate)
        for combo in (
            self.adapter,
            self.verbosity,
            self.audio_output,
            self.audio_input,
            self.video_resolution,
            self.video_upload,
        ):
            combo.currentIndexChanged.connect(self._revalidate)
            if combo.isEditable():
                combo.editTextChanged.connect(self._revalidate)
        for box in (self.voice, self.video, self.start_with_windows):
            box.toggled.connect(self._revalidate)
        self._revalidate()

    # ---------------------------------------------------------------- public

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def values(self) -> dict[str, Any]:
        """What the fields say now, as `validate` takes it."""
        return {
            "pairing": self.pairing.text(),
            "adapter": str(self.adapter.currentData() or self.adapter.currentText()),
            "voice_enabled": self.voice.isChecked(),
            "video_enabled": self.video.isChecked(),
            "video_target": self.video_target.text(),
            "video_resolution": str(self.video_resolution.currentData()),
            "video_fps": self.video_fps.value(),
            "video_upload": str(self.video_upload.currentData()),
            "verbosity": str(self.verbosity.currentData() or self.verbosity.currentText()),
            "push_to_talk": self.push_to_talk.text(),
            "audio_output": self._device_value(self.audio_output),
            "audio_input": self._device_value(self.audio_input),
            "speech_voice": self.speech_voice.text(),
            "speech_rate_wpm": self.speech_rate.value(),
            "speech_volume_pct": self.speech_volume.value(),
            "start_with_windows": self.start_with_windows.isChecked(),
        }

    def check(self) -> Settings | None:
        """Validate the fields, show every problem; the settings when they are usable."""
        try:
            settings = validate(self.values(), self.original)
        except SettingsError as exc:
            self._show_problems(exc.problems)
            return None
        self._show_problems({})
        return settings

    def accept(self) -> None:
        settings = self.check()
        if settings is None:
            return  # refused: the problems are on screen
        if self.save:
            try:
                saved_to = save_settings(settings, self.path)
            except OSError as exc:
                self.message.setText(f"Could not save the settings: {exc}")
                self.message.show()
                return
            logger.info("settings saved to %s", saved_to)
        self.result_settings = settings
        self.saved.emit(settings)
        super().accept()

    # ---------------------------------------------------------------- internals

    def _revalidate(self, *_: object) -> None:
        self.check()

    def _show_problems(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        for name, label in self.error_labels.items():
            problem = problems.get(name)
            if problem:
                label.setText(problem[0].upper() + problem[1:])
                label.show()
            else:
                label.clear()
                label.hide()
        if problems:
            lines = [f"• {FIELD_TITLES.get(name, name)}: {why}" for name, why in problems.items()]
            count = len(problems)
            self.message.setText(
                f"Please fix {count} setting{'s' if count > 1 else ''} before saving:\n" + "\n".join(lines)
            )
            self.message.show()
        else:
            self.message.clear()
            self.message.hide()
        self.ok_button.setEnabled(not problems)

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        if index < 0:
            combo.addItem(value, value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    @staticmethod
    def _device_combo(names: list[str], current: str) -> QComboBox:
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.addItem(SYSTEM_DEFAULT, "")
        for name in names:
            combo.addItem(name, name)
        if current:
            index = combo.findData(current)
            if index < 0:
                combo.addItem(current, current)
                index = combo.count() - 1
            combo.setCurrentIndex(index)
        if not names:
            combo.setToolTip("No devices found: type a device name, or keep the system default")
        return combo

    @staticmethod
    def _device_value(combo: QComboBox) -> str:
        text = combo.currentText().strip()
        return "" if text in ("", SYSTEM_DEFAULT) else text


def focus_field(dialog: SettingsDialog, name: str) -> None:
    """Put the cursor in a field (the first-run flow opens the dialog on the pairing string)."""
    widget = dialog.fields.get(name)
    if widget is not None:
        widget.setFocus(Qt.FocusReason.OtherFocusReason)
