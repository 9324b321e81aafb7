"""`pitbox --self-test` from the source checkout: every check that can run on this machine passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_self_test_from_source_passes_and_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("PITBOX_VOSK_MODEL", None)
    result = subprocess.run(
        [sys.executable, "-m", "driver_app", "--self-test", "--self-test-report", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    statuses = {line.split()[1]: line.split()[0] for line in lines[1:-1]}
    assert set(statuses) == {"imports", "files", "qt", "audio", "speech", "recognizer", "vosk", "video", "relay"}
    assert {statuses[name] for name in ("imports", "files", "qt", "recognizer", "video", "relay")} == {"ok"}
    assert statuses["vosk"] == "skipped"  # no model in this fresh home
    assert lines[-1] == "self-test passed"
    assert report.read_text(encoding="utf-8").splitlines() == lines


def test_a_failing_check_fails_the_run(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), PITBOX_VOSK_MODEL=str(tmp_path))  # a folder that is no vosk model
    result = subprocess.run(
        [sys.executable, "-m", "driver_app", "--self-test", "--self-test-only", "vosk"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].startswith("FAILED   vosk ")
    assert "is not a vosk model" in result.stdout
