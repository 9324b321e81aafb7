"""One instance per user (a second start asks the first to show), and start with Windows."""

from __future__ import annotations

import sys
import uuid

import pytest
from pytestqt.qtbot import QtBot

from driver_app.qt import autostart
from driver_app.qt.single_instance import SingleInstance, default_server_name


def test_a_second_instance_asks_the_first_to_show(qtbot: QtBot) -> None:
    name = f"pitbox-test-{uuid.uuid4().hex[:12]}"
    first = SingleInstance(name)
    second = SingleInstance(name)
    try:
        assert first.acquire()
        with qtbot.waitSignal(first.show_requested, timeout=5000):
            assert not second.acquire()
        assert second.server is None
    finally:
        first.close()
    third = SingleInstance(name)  # the first has gone: the name is free again
    try:
        assert third.acquire()
    finally:
        third.close()


def test_the_name_is_per_user_and_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    name = default_server_name()
    assert name.startswith("pitbox-")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert default_server_name() != name


@pytest.mark.skipif(sys.platform == "win32", reason="checks the behaviour off Windows")
def test_autostart_is_windows_only() -> None:
    assert not autostart.is_supported()
    assert autostart.set_enabled(True) is False
    assert autostart.is_enabled() is False
    assert "Windows only" in autostart.UNSUPPORTED_REASON


@pytest.mark.skipif(sys.platform != "win32", reason="the Run key exists on Windows only")
def test_autostart_writes_and_removes_the_run_key() -> None:
    was = autostart.is_enabled()
    try:
        assert autostart.set_enabled(True, '"C:\\\\PitBox\\\\pitbox.exe"')
        assert autostart.is_enabled()
        assert autostart.set_enabled(False)
        assert not autostart.is_enabled()
    finally:
        autostart.set_enabled(was)


def test_autostart_command_runs_the_app() -> None:
    assert "driver_app.cli" in autostart.command() or getattr(sys, "frozen", False)
