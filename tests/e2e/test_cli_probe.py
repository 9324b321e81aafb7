"""`pitbox probe` from the outside: a real process on the real Monza memory dump, and broken inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from driver_app import cli_probe
from tests.support.reference import REPO_ROOT, reference_path

pytestmark = pytest.mark.e2e

PROBE = "import sys; from driver_app.cli_probe import main; sys.exit(main())"


def run_probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
def monza_dump() -> Path:
    return reference_path("irsdk_memmap", "w13_monza_garage_2024.bin")


def test_probe_json_on_the_real_monza_dump(monza_dump: Path) -> None:
    done = run_probe("--test-file", str(monza_dump), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    document = json.loads(done.stdout)  # one JSON object, nothing else on stdout

    session = document["session"]
    assert session["track"]["name"] == "monza full"
    assert session["track"]["display_name"] == "Autodromo Nazionale Monza"
    assert session["track"]["length_m"] == 5750.0
    assert session["track"]["sectors"] == 5
    assert session["car"] == "Mercedes-AMG W13 E Performance"
    assert session["session_type"] == "testing"
    assert len(session["drivers"]) == 1
    assert session["drivers"][0]["class"] == "Mercedes W13"
    assert session["classes"] == [{"id": 0, "name": "Mercedes W13"}]

    assert document["on_track"] is False
    frame = document["frame"]
    assert frame["tick"] == 2005  # the newest of the three buffers
    assert frame["in_world"] is False
    assert frame["session_time_s"] == pytest.approx(53.15, abs=0.005)
    assert frame["latitude_deg"] is None  # NaN in the model, null in JSON
    assert frame["tyre_carcass_temp_c"] == pytest.approx([68.354, 68.354, 68.319, 68.319], abs=1e-3)


def test_probe_tables_on_the_real_monza_dump(monza_dump: Path) -> None:
    done = run_probe("--test-file", str(monza_dump))
    assert done.returncode == 0, done.stderr
    for text in ("Autodromo Nazionale Monza", "Mercedes-AMG W13 E Performance", "George v Rensburg", "tick 2005"):
        assert text in done.stdout


def test_probe_run_with_parsed_arguments(monza_dump: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_probe.main(["--test-file", str(monza_dump), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session"]["track"]["name"] == "monza full"


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pitbox probe: ")
    return lines[0]


def test_probe_on_a_missing_file(tmp_path: Path) -> None:
    line = one_error_line(run_probe("--test-file", str(tmp_path / "absent.bin"), "--json"))
    assert "no iRacing memory image" in line and "absent.bin" in line


def test_probe_on_a_truncated_file(tmp_path: Path, monza_dump: Path) -> None:
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(monza_dump.read_bytes()[:600_000])
    line = one_error_line(run_probe("--test-file", str(truncated)))
    assert "truncated" in line


def test_probe_on_a_file_that_is_not_iracing(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("lap notes: brake earlier into turn 1\n" * 100, encoding="utf-8")
    line = one_error_line(run_probe("--test-file", str(foreign)))
    assert "not iRacing telemetry" in line


@pytest.mark.skipif(sys.platform == "win32", reason="iRacing may be running on a Windows machine")
def test_probe_without_a_file_off_windows() -> None:
    line = one_error_line(run_probe())
    assert "--test-file" in line
