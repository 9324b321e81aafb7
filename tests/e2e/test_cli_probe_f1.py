"""`pitbox probe --sim f1` and `pitbox replay` on F1 recordings, from the outside: real processes, a real
UDP port on loopback, the real F1 2021 packets."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.datagrams import write_recording
from adapters.laps import split_laps
from driver_app import cli
from tests.support.f1_session import f1_session
from tests.support.reference import REPO_ROOT, reference_path

pytestmark = pytest.mark.e2e

PITBOX = "import sys; from driver_app.cli import main; sys.exit(main())"
FILES = [
    "motion_data.bin",
    "session_packet.bin",
    "lap_data.bin",
    "event_packet.bin",
    "event_sptp.bin",
    "participant_data.bin",
    "car_setup.bin",
    "car_telemetry.bin",
    "car_status.bin",
    "car_damage.bin",
    "history_packet.bin",
]


@pytest.fixture(scope="module")
def f1_2021() -> Path:
    return reference_path("udp", "f1_2021")


def pitbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PITBOX, *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60, check=False
    )


def probe_while_sending(folder: Path, *args: str) -> tuple[int, str, str]:
    """Start the probe on a free loopback port, send every real packet to it, and wait for it to end."""
    process = subprocess.Popen(
        [sys.executable, "-c", PITBOX, "probe", "--sim", "f1", "--listen", "127.0.0.1:0", "--count", "11", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        listening = re.search(r"listening on udp 127\.0\.0\.1:(\d+)", first)
        assert listening, first
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for name in FILES:
                sender.sendto((folder / name).read_bytes(), ("127.0.0.1", int(listening.group(1))))
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, first + err


def test_probe_json_shows_every_packet_type_that_arrived_and_records_them(f1_2021: Path, tmp_path: Path) -> None:
    recording = tmp_path / "probe.pbxudp"
    status, out, err = probe_while_sending(f1_2021, "--duration", "30", "--json", "--record", str(recording))
    assert status == 0, err
    document = json.loads(out)  # one JSON object, nothing else on stdout
    packets = document["packets"]
    assert set(packets) == {
        "motion",
        "session",
        "lap_data",
        "event",
        "participants",
        "car_setups",
        "car_telemetry",
        "car_status",
        "car_damage",
        "session_history",
    }
    assert packets["event"]["count"] == 2 and packets["motion"]["count"] == 1
    assert packets["motion"]["header"]["player_car_index"] == 19
    assert packets["motion"]["header"]["frame_identifier"] == 3453
    assert packets["car_telemetry"]["header"]["game_version"] == "1.05"
    assert document["stats"]["datagrams"] == 11 and document["recorded"] == 11
    assert document["source"].startswith("udp 127.0.0.1:") and not document["source"].endswith(":0")
    assert document["session"]["track"]["display_name"] == "Melbourne"
    assert [e["code"] for e in document["events"]] == ["BUTN", "SPTP"]
    assert "recorded 11 datagrams" in err

    replayed = pitbox("replay", str(recording), "--json")  # the recording reads back as a session
    assert replayed.returncode == 0, replayed.stderr
    summary = json.loads(replayed.stdout)
    assert summary["session"]["track"]["length_m"] == 5301.0 and summary["laps"] == []


def test_probe_tables_print_a_line_per_packet_type_then_the_player_s_frame(f1_2021: Path) -> None:
    status, out, err = probe_while_sending(f1_2021, "--duration", "30")
    assert status == 0, err
    assert re.search(r"car_telemetry\s+format 2021\s+game 1\.05\s+frame 3675", out)
    assert re.search(r"motion\s+format 2021\s+game 1\.08\s+frame 3453 .* player car 19", out)
    for text in ("F1 packets", "Melbourne", "frames lost 0", "speed trap"):
        assert text in out


def test_probe_with_no_f1_telemetry_says_so_in_one_line() -> None:
    done = pitbox("probe", "--sim", "f1", "--listen", "127.0.0.1:0", "--duration", "0.3")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("pitbox probe: listening on udp 127.0.0.1:")
    assert lines[1].startswith("pitbox probe: no F1 telemetry arrived on udp 127.0.0.1:")
    assert len(lines) == 2 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--listen", "127.0.0.1:20777"), "--listen: only with --sim f1"),
        (("--sim", "f1", "--listen", "somewhere:99"), "'somewhere' is not an IP address"),
        (("--sim", "f1", "--listen", "127.0.0.1:70000"), "the port must be 0-65535"),
    ],
)
def test_probe_refuses_f1_options_it_cannot_use(args: tuple[str, ...], message: str) -> None:
    done = pitbox("probe", *args)
    assert done.returncode == 1 and done.stdout == ""
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_replay_of_an_f1_recording_prints_the_laps_the_sim_drove(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = f1_session(2023, laps=2, step=3)  # the game's 20 Hz setting
    path = tmp_path / "race.pbxudp"
    write_recording(path, session.datagrams)
    assert cli.main(["replay", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = split_laps(session.demo)
    assert summary["session"]["track"]["length_m"] == session.info.track.length_m
    assert [(lap["lap"], lap["kind"]) for lap in summary["laps"]] == [(lap.number, lap.kind.value) for lap in expected]
    assert summary["laps"] and summary["laps"][0]["time_s"] == pytest.approx(expected[0].time_s, abs=1e-3)
