"""The settings dialog refuses bad settings with a clear message next to each field, and saves good ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from driver_app import settings as settings_module
from driver_app.qt.settings_dialog import SYSTEM_DEFAULT, SettingsDialog
from driver_app.settings import Settings, load_settings
from relay.auth import PairingInfo, encode_pairing

GOOD_PAIRING = encode_pairing(PairingInfo("relay.example.net", 8765, "0123abcd.S3cr3tS3cr3tS3cr3tS3cr3t", "ab" * 32))


def make_dialog(qtbot: QtBot, path: Path, settings: Settings | None = None) -> SettingsDialog:
    dialog = SettingsDialog(settings if settings is not None else Settings(), path, devices=([], []))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_a_bad_pairing_string_is_refused_with_a_clear_message(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    dialog = make_dialog(qtbot, path)
    assert dialog.ok_button.isEnabled()  # the defaults are fine

    dialog.pairing.setText("pitbox://relay.example.net/?t=abc")  # no port
    error = dialog.error_labels["pairing"]
    assert error.isVisible()
    assert "not a pairing string" in error.text().lower() and "no port" in error.text()
    assert "pitbox-relay invite" in error.text()  # what to do about it
    assert dialog.message.isVisible() and "Pairing string" in dialog.message.text()
    assert not dialog.ok_button.isEnabled()
    dialog.accept()  # refused even when called directly
    assert dialog.isVisible() and not path.exists()
    assert dialog.result_settings is None

    dialog.pairing.setText(GOOD_PAIRING)
    assert not error.isVisible() and not dialog.message.isVisible()
    assert dialog.ok_button.isEnabled()
    with qtbot.waitSignal(dialog.saved, timeout=1000) as saved:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert saved.args[0].pairing == GOOD_PAIRING
    assert load_settings(path).pairing == GOOD_PAIRING


def test_every_bad_field_is_named(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = make_dialog(qtbot, tmp_path / "settings.json")
    dialog.pairing.setText("hello")
    dialog.push_to_talk.setText("Ctrl+Alt+Q")
    assert dialog.problems.keys() == {"pairing", "push_to_talk"}
    assert dialog.error_labels["push_to_talk"].isVisible()
    assert "joy0:button5" in dialog.error_labels["push_to_talk"].text()
    assert "Please fix 2 settings" in dialog.message.text()
    dialog.push_to_talk.setText("F13")
    assert dialog.problems.keys() == {"pairing"}
    assert not dialog.error_labels["push_to_talk"].isVisible()


def test_every_field_is_saved(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    dialog = make_dialog(qtbot, path, Settings(coach_muted=True))
    dialog.adapter.setCurrentIndex(dialog.adapter.findData("demo"))
    dialog.voice.setChecked(False)
    dialog.video.setChecked(True)
    dialog.verbosity.setCurrentIndex(dialog.verbosity.findData("coaching"))
    dialog.push_to_talk.setText("joy0:button5")
    dialog.audio_output.setEditText("Headset")
    assert dialog.audio_input.currentText() == SYSTEM_DEFAULT
    dialog.accept()
    saved = load_settings(path)
    assert saved == Settings(
        adapter="demo",
        voice_enabled=False,
        video_enabled=True,
        verbosity="coaching",
        push_to_talk="joy0:button5",
        audio_output="Headset",
        coach_muted=True,  # not in the dialog: kept
    )


def test_default_path_is_the_platform_config_dir(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "config_path", lambda: tmp_path / "pitbox" / "settings.json")
    dialog = SettingsDialog(Settings(), devices=(["Speakers"], ["Mic"]))
    qtbot.addWidget(dialog)
    assert dialog.audio_output.findText("Speakers") > 0 and dialog.audio_input.findText("Mic") > 0
    dialog.accept()
    assert (tmp_path / "pitbox" / "settings.json").exists()


def test_start_with_windows_is_explained_elsewhere(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = make_dialog(qtbot, tmp_path / "settings.json")
    from driver_app.qt import autostart

    if autostart.is_supported():
        assert dialog.start_with_windows.isEnabled()
    else:
        assert not dialog.start_with_windows.isEnabled()
        assert "Windows only" in dialog.start_with_windows.toolTip()
