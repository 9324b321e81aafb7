"""`pitbox setup`, as the Windows installer runs it: it writes the settings the tray app starts with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay.auth import PairingInfo, encode_pairing

pytestmark = pytest.mark.e2e

PAIRING = encode_pairing(PairingInfo("192.168.1.20", 8765, "abc123.secretsecretsecret", "a" * 64))


def _setup(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return subprocess.run(
        [sys.executable, "-m", "driver_app", "setup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_setup_saves_start_with_windows_and_the_pairing(tmp_path: Path) -> None:
    result = _setup(tmp_path, "--start-with-windows", "yes", "--pairing", PAIRING)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / ".config" / "pitbox" / "settings.json").read_text(encoding="utf-8"))
    assert saved["start_with_windows"] is True
    assert saved["pairing"] == PAIRING
    if sys.platform != "win32":
        assert "available on Windows only" in result.stdout

    result = _setup(tmp_path, "--start-with-windows", "no")
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / ".config" / "pitbox" / "settings.json").read_text(encoding="utf-8"))
    assert saved["start_with_windows"] is False
    assert saved["pairing"] == PAIRING  # options not given stay as they were


def test_setup_without_options_shows_the_settings_but_not_the_token(tmp_path: Path) -> None:
    assert _setup(tmp_path, "--pairing", PAIRING).returncode == 0
    result = _setup(tmp_path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["pairing"] == "(set)"
    assert "secret" not in result.stdout


def test_a_bad_pairing_string_is_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    result = _setup(tmp_path, "--pairing", "https://example.com/?t=x")
    assert result.returncode == 1
    assert result.stderr.startswith("pitbox setup: pairing: not a pairing string")
    assert not (tmp_path / ".config" / "pitbox" / "settings.json").exists()
