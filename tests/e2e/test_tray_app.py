"""`pitbox` with no arguments starts the tray app; a second start only shows the first; a signal
quits it cleanly. `pitbox demo` with a display runs the demo in the window and prints the summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
PITBOX = [sys.executable, "-m", "driver_app.cli"]
READY = "PitBox running"


def app_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TMPDIR": str(tmp_path / "tmp"),  # where Qt puts the single-instance socket
    }


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if text in content:
            return content
        if process.poll() is not None:
            pytest.fail(f"pitbox exited ({process.returncode}) before saying {text!r}:\n{content}")
        time.sleep(0.1)
    pytest.fail(f"pitbox did not say {text!r} within {timeout_s} s:\n{path.read_text(errors='replace')}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_tray_app_runs_once_per_user_and_quits_on_a_signal(tmp_path: Path, signum: signal.Signals) -> None:
    env = app_env(tmp_path)
    log = tmp_path / "first.log"
    with log.open("wb") as stderr:
        first = subprocess.Popen([*PITBOX, "--log-level", "INFO"], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_text(log, READY, first)

        started = time.monotonic()
        second = subprocess.run(PITBOX, env=env, capture_output=True, text=True, timeout=30, check=False)
        assert second.returncode == 0, second.stderr
        assert time.monotonic() - started < 15
        wait_for_text(log, "another PitBox was started", first)
        assert first.poll() is None  # the first one keeps running

        first.send_signal(signum)
        assert first.wait(timeout=20) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "PitBox stopped" in text
    assert "Traceback" not in text
    assert f"settings in {tmp_path / 'config' / 'pitbox' / 'settings.json'}" in text  # platformdirs, per user


def test_pitbox_without_a_display_explains_itself(tmp_path: Path) -> None:
    env = {k: v for k, v in app_env(tmp_path).items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    if sys.platform == "win32":
        pytest.skip("Windows always has a display")
    result = subprocess.run(PITBOX, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "no display" in result.stderr and "demo" in result.stderr  # the commands are listed


def test_demo_with_a_display_runs_in_the_window_and_prints_the_summary(tmp_path: Path) -> None:
    env = {**app_env(tmp_path), "DISPLAY": os.environ.get("DISPLAY", ":99")}  # offscreen: no X needed
    result = subprocess.run(
        [*PITBOX, "demo", "--laps", "1", "--speed", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("PitBox demo: PitBox Park")
    assert len([line for line in lines if line.startswith("lap ")]) == 1
    summary = json.loads(lines[-1])
    assert summary["laps"] == 1
    assert summary["frames_acked_by_relay"] == summary["frames_produced"] > 0
