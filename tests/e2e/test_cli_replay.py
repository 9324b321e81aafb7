"""`pitbox replay` run as a user would: the installed console script, JSON and table output, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.reference import reference_path

pytestmark = pytest.mark.e2e

PITBOX = [sys.executable, "-m", "driver_app.cli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*PITBOX, *args], capture_output=True, text=True, timeout=120, env=env, check=False)


def test_replay_json_reports_martinsville_laps() -> None:
    path = reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")
    result = _run("replay", str(path), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["session"]["track"]["display_name"] == "Martinsville Speedway"
    assert doc["session"]["car"] == "Modified - Tour"
    assert doc["session"]["session_type"] == "practice"
    laps = {row["lap"]: row for row in doc["laps"]}
    assert abs(laps[32]["time_s"] - 19.300) <= 0.02 and abs(laps[33]["time_s"] - 19.550) <= 0.02
    for row in (laps[32], laps[33]):
        assert row["kind"] == "flying"
        assert abs(row["time_s"] - row["sim_time_s"]) <= 0.02
        assert row["fuel_used_l"] > 0 and row["top_speed_mps"] > 50
        assert set(row) >= {"lap", "time_s", "kind", "fuel_used_l", "top_speed_mps"}


def test_replay_table_is_readable() -> None:
    path = reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")
    result = _run("replay", str(path))
    assert result.returncode == 0, result.stderr
    assert "Martinsville Speedway" in result.stdout
    assert "19.301" in result.stdout and "19.546" in result.stdout
    assert "flying" in result.stdout and "out" in result.stdout


def test_replay_of_recordings_without_laps_says_so() -> None:
    path = reference_path("ibt", "w13_redbullring_pitstall_2024.ibt")
    result = _run("replay", str(path), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["laps"] == []
    table = _run("replay", str(path))
    assert "no complete lap" in table.stdout


@pytest.mark.parametrize("keep", [100, 20_000, -500])
def test_replay_of_truncated_file_prints_one_clear_line(keep: int, tmp_path: Path) -> None:
    data = reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt").read_bytes()
    cut = tmp_path / "cut.ibt"
    cut.write_bytes(data[:keep])
    result = _run("replay", str(cut), "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("pitbox replay:") and ("truncated" in lines[0] or "short" in lines[0])


def test_replay_of_missing_file_prints_one_clear_line(tmp_path: Path) -> None:
    result = _run("replay", str(tmp_path / "nope.ibt"))
    assert result.returncode != 0
    assert result.stderr.strip() == f"pitbox replay: {tmp_path / 'nope.ibt'}: no such file"


def test_replay_strategy_reports_fuel_pace_and_tyres() -> None:
    path = reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")
    result = _run("replay", str(path), "--strategy", "--json")
    assert result.returncode == 0, result.stderr
    strategy = json.loads(result.stdout)["strategy"]
    assert abs(strategy["fuel_estimate"]["fuel_per_lap_l"] - 0.456) < 0.01
    assert strategy["fuel"]["laps_of_fuel_left"] > 100
    assert strategy["next_lap"]["time_s"] == pytest.approx(19.4, abs=0.3)
    assert strategy["tyres_by_lap"][1]["lap"] == 32
    table = _run("replay", str(path), "--strategy")
    assert "fuel per lap: 0.456 l" in table.stdout
