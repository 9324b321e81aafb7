"""`pitbox replay FILE --coach`: the calls as the driver would hear them, identical from run to run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.reference import reference_path

pytestmark = pytest.mark.e2e

PITBOX = [sys.executable, "-m", "driver_app.cli"]


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*PITBOX, *args], capture_output=True, timeout=120, env=env, check=False)


def test_coach_json_is_byte_identical_across_runs_and_lists_calls_and_segments() -> None:
    path = str(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt"))
    first = _run("replay", path, "--coach", "--json")
    second = _run("replay", path, "--coach", "--json")
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout == second.stdout
    coaching = json.loads(first.stdout)["coaching"]
    assert [s["id"] for s in coaching["segments"]] == ["C1", "C2"]
    assert coaching["calls"], "the copilot said nothing over three laps"
    for call in coaching["calls"]:
        assert set(call) >= {"t", "lap", "lap_dist_m", "priority", "text"}
        assert call["t"] <= call["deadline_s"]


def test_coach_prints_one_line_per_call_in_time_order() -> None:
    path = str(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt"))
    result = _run("replay", path, "--coach", "--verbosity", "quiet")
    assert result.returncode == 0, result.stderr.decode()
    lines = [line for line in result.stdout.decode().splitlines() if " lap " in line and "s  " in line]
    times = [float(line.split("s", 1)[0]) for line in lines]
    assert times == sorted(times) and lines
    assert all("regular" not in line for line in lines)  # quiet: no coaching chatter
