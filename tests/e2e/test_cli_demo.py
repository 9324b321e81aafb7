"""`pitbox demo` run as a user would: laps printed as they finish, a JSON summary last."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_prints_a_line_per_lap_and_a_json_summary() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driver_app.cli", "demo", "--headless", "--laps", "2", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("PitBox demo: PitBox Park")
    lap_lines = [line for line in lines if line.startswith("lap ")]
    assert len(lap_lines) == 2
    summary = json.loads(lines[-1])
    assert summary["laps"] == 2
    assert summary["frames_produced"] > 2 * 90 * 60
    assert all(80.0 < t < 130.0 for t in summary["lap_times_s"])


def test_demo_rejects_nonsense_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "driver_app.cli", "demo", "--laps", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
