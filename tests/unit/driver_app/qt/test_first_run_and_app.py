"""The first-run flow (sim found, pairing string or local relay or skip) and how the app applies
settings: live switches go to the running pipeline, a new pairing string or sim restarts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from coaching.messages import Verbosity
from driver_app.qt.app import AppPipelineFactory, PitBoxApp, choose_adapter, relay_url
from driver_app.qt.app_state import AppState, load_app_state, save_app_state
from driver_app.qt.first_run import FirstRunChoice, FirstRunDialog, FirstRunResult, sim_detection_text
from driver_app.qt.worker import ConfigFactory
from driver_app.settings import Settings, load_settings
from relay.auth import PairingInfo, decode_pairing, encode_pairing

from .helpers import WAIT_MS, MakeApp, demo_config

PAIRING = encode_pairing(PairingInfo("127.0.0.1", 9, "0123abcd.S3cr3tS3cr3tS3cr3tS3cr3t", tls=False))


def test_sim_detection_is_said_plainly() -> None:
    assert "iRacing is running" in sim_detection_text("iracing")[1]
    assert "connects as soon as it starts" in sim_detection_text(None, "win32")[1]
    assert "demo sim" in sim_detection_text(None, "linux")[1]


def test_first_run_checks_the_pairing_string_as_typed(qtbot: QtBot) -> None:
    dialog = FirstRunDialog(None)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.pairing.setText("pitbox://nope")
    assert dialog.pairing_error.isVisible() and "pitbox-relay invite" in dialog.pairing_error.text()
    assert not dialog.use_pairing.isEnabled()
    dialog.pairing.setText(PAIRING)
    assert not dialog.pairing_error.isVisible()
    with qtbot.waitSignal(dialog.chosen, timeout=1000) as chosen:
        qtbot.mouseClick(dialog.use_pairing, Qt.MouseButton.LeftButton)
    assert chosen.args == [FirstRunResult(FirstRunChoice.PAIRING, PAIRING)]


@pytest.mark.parametrize(
    ("button", "choice"), [("start_local", FirstRunChoice.LOCAL_RELAY), ("skip", FirstRunChoice.SKIP)]
)
def test_first_run_offers_a_local_relay_and_a_skip(qtbot: QtBot, button: str, choice: FirstRunChoice) -> None:
    dialog = FirstRunDialog("iracing")
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.chosen, timeout=1000) as chosen:
        qtbot.mouseClick(getattr(dialog, button), Qt.MouseButton.LeftButton)
    assert chosen.args[0].choice is choice
    assert not dialog.isVisible()


def test_app_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "app-state.json"
    assert load_app_state(path) == AppState()
    save_app_state(AppState(first_run_done=True, local_relay=True), path)
    assert load_app_state(path) == AppState(True, True)
    path.write_text("{not json", encoding="utf-8")
    assert load_app_state(path) == AppState()


def test_relay_url_and_adapter_choice() -> None:
    assert relay_url(decode_pairing(PAIRING)) == "ws://127.0.0.1:9"
    assert relay_url(PairingInfo("::1", 8765, "t", "ab" * 32)) == "wss://[::1]:8765"
    assert choose_adapter("demo") == "demo"
    assert choose_adapter("auto", "linux") == "demo"
    assert choose_adapter("auto", "win32") == "iracing"  # waits for iRacing rather than faking a race


def test_the_pipeline_runs_while_the_first_run_dialog_is_open(qtbot: QtBot, make_app: MakeApp) -> None:
    app = make_app()
    dialog = app.show_first_run(detected=None)
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: app.tray.summary == "driving", timeout=WAIT_MS)
    qtbot.mouseClick(dialog.skip, Qt.MouseButton.LeftButton)
    assert app.app_state.first_run_done and not app.app_state.local_relay
    assert app.restarts == 0


def test_choosing_a_pairing_string_saves_it_and_restarts_the_pipeline(qtbot: QtBot, tmp_path: Path) -> None:
    made: list[Settings] = []

    def make_factory(settings: Settings, state: AppState) -> ConfigFactory:
        made.append(settings)
        return ConfigFactory(demo_config(), flush_timeout_s=0)

    app = PitBoxApp(
        make_factory,
        Settings(),
        settings_path=tmp_path / "settings.json",
        state_path=tmp_path / "app-state.json",
        use_tray=False,
    )
    qtbot.addWidget(app.window)
    try:
        app.start()
        app.apply_first_run(FirstRunResult(FirstRunChoice.PAIRING, PAIRING))
        assert app.restarts == 1 and made[-1].pairing == PAIRING
        assert load_settings(tmp_path / "settings.json").pairing == PAIRING
        assert load_app_state(tmp_path / "app-state.json").first_run_done
        qtbot.waitUntil(lambda: app.worker is not None and app.worker.pipeline is not None, timeout=WAIT_MS)
    finally:
        app.shutdown()


def test_saved_settings_apply_live_or_restart(qtbot: QtBot, make_app: MakeApp) -> None:
    app = make_app()
    worker = app.worker
    assert worker is not None
    qtbot.waitUntil(lambda: worker.pipeline is not None, timeout=WAIT_MS)
    pipeline = worker.pipeline
    assert pipeline is not None
    app.apply_settings(Settings(voice_enabled=False, video_enabled=True, verbosity="quiet"))
    qtbot.waitUntil(lambda: not pipeline.voice_enabled and pipeline.video_enabled, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: pipeline.copilot.verbosity is Verbosity.QUIET, timeout=WAIT_MS)
    assert app.restarts == 0 and app.worker is worker
    qtbot.waitUntil(lambda: not app.tray.action_voice.isChecked(), timeout=WAIT_MS)

    app.apply_settings(Settings(adapter="demo", voice_enabled=False, video_enabled=True, verbosity="quiet"))
    assert app.restarts == 1 and app.worker is not worker and not worker.is_alive
    new = app.worker
    assert new is not None
    qtbot.waitUntil(lambda: new.pipeline is not None and not new.pipeline.voice_enabled, timeout=WAIT_MS)


def test_the_settings_menu_opens_one_dialog(qtbot: QtBot, make_app: MakeApp) -> None:
    app = make_app()
    app.tray.action_settings.trigger()
    dialog = app.settings_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.addWidget(dialog)
    assert app.open_settings() is dialog
    assert not dialog.save  # no settings path: the tests' app never writes the real config
    dialog.verbosity.setCurrentIndex(dialog.verbosity.findData("quiet"))
    dialog.accept()
    assert app.settings.verbosity == "quiet"


def test_quit_is_requested_from_the_menu_and_by_closing_the_window_without_a_tray(
    qtbot: QtBot, make_app: MakeApp
) -> None:
    app = make_app()
    with qtbot.waitSignal(app.quit_requested, timeout=1000):
        app.tray.action_quit.trigger()
    assert app.window.isVisible()
    with qtbot.waitSignal(app.quit_requested, timeout=1000):
        app.window.close()


def test_a_failed_pipeline_shows_as_an_error(qtbot: QtBot, make_app: MakeApp) -> None:
    factory = AppPipelineFactory(Settings(adapter="no-such-sim"), AppState(), Path("/nonexistent"))
    app = make_app(factory)
    qtbot.waitUntil(lambda: app.tray.summary == "error", timeout=WAIT_MS)
    assert "no-such-sim" in app.tray.tooltip
    assert app.window.summary == "error"
