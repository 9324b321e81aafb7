"""`pitbox demo` run as a user would: the whole product on the demo sim, a JSON summary last."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "driver_app.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_demo_streams_every_frame_to_the_relay_with_calls_laps_and_strategy() -> None:
    result = _demo("--headless", "--laps", "3", "--speed", "20")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("PitBox demo: PitBox Park")
    assert any(line.startswith("relay: ws://127.0.0.1:") for line in lines)
    assert any(line.startswith("viewer pairing: pitbox+insecure://127.0.0.1:") for line in lines)
    assert any(line.startswith("team dashboard: http://127.0.0.1:") and "#pair=pitbox" in line for line in lines)
    calls = [line for line in lines if line.startswith("call ")]
    laps = [line for line in lines if line.startswith("lap ")]
    strategy = [line for line in lines if line.startswith("strategy: ")]
    assert len(laps) == 3 and len(strategy) == 3
    assert any("l/lap" in line for line in strategy)
    assert len(calls) >= 5
    summary = json.loads(lines[-1])
    assert summary["laps"] == 3
    assert summary["frames_produced"] > 3 * 90 * 60
    assert summary["frames_acked_by_relay"] == summary["frames_produced"]
    assert summary["coaching_calls"] == len(calls)
    assert all(80.0 < t < 130.0 for t in summary["lap_times_s"])


def test_demo_runs_as_fast_as_possible_with_speed_zero() -> None:
    result = _demo("--headless", "--laps", "1", "--speed", "0")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["laps"] == 1 and summary["frames_acked_by_relay"] == summary["frames_produced"]


def test_demo_rejects_nonsense_arguments() -> None:
    result = _demo("--laps", "0")
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
