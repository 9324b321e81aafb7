"""`pitbox-relay` as a team uses it: invite, serve, status, handoff, message, revoke; one-line errors."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relay.auth import decode_pairing
from relay.client import RelayClient
from relay.protocol import MessageType

pytestmark = pytest.mark.e2e
RELAY = [sys.executable, "-m", "relay.cli"]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RELAY, "--data-dir", str(data_dir), *args], capture_output=True, text=True, timeout=60)


def _pairing(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("pitbox"))


def test_invite_prints_one_pairing_string_and_a_qr_code_and_revoke_takes_it_back(tmp_path: Path) -> None:
    done = _cli(tmp_path, "invite", "--role", "viewer", "--name", "Vic", "--host", "192.168.1.20")
    assert done.returncode == 0, done.stderr
    info = decode_pairing(_pairing(done.stdout))
    assert (info.host, info.port, info.tls) == ("192.168.1.20", 8765, True)
    assert len(info.fingerprint_sha256) == 64
    assert "█" in done.stdout or "▀" in done.stdout  # the QR code, drawn in the terminal
    assert info.token not in (tmp_path / "tokens.json").read_text()  # stored hashed only
    revoked = _cli(tmp_path, "revoke", "Vic")
    assert revoked.returncode == 0 and "revoked 1 invite" in revoked.stdout
    again = _cli(tmp_path, "revoke", "Vic")
    assert again.returncode == 1
    assert again.stderr.strip() == "pitbox-relay: no active invite for 'Vic'"


def test_a_driver_needs_a_car_and_errors_are_one_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "invite", "--role", "driver", "--name", "Alex")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("pitbox-relay: ")
    nothing = _cli(tmp_path, "handoff", "--to", "Sam", "--car", "7")
    assert nothing.returncode == 1 and "no relay is running" in nothing.stderr


def test_serve_then_handoff_and_message_reach_the_driver_and_status_reports_them(tmp_path: Path) -> None:
    invite = _cli(
        tmp_path,
        "invite",
        "--role",
        "driver",
        "--name",
        "Alex",
        "--car",
        "7",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-qr",
    )
    assert invite.returncode == 0, invite.stderr
    pairing = decode_pairing(_pairing(invite.stdout))
    relay = subprocess.Popen(
        [*RELAY, "--data-dir", str(tmp_path), "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "runtime.json").exists():
            assert relay.poll() is None and time.monotonic() < deadline, "the relay did not start"
            time.sleep(0.1)
        port = json.loads((tmp_path / "runtime.json").read_text())["port"]

        async def driver_sees(commands: list[list[str]]) -> list[str]:
            client = RelayClient(
                f"wss://127.0.0.1:{port}", pairing.token, car_id=7, fingerprint_sha256=pairing.fingerprint_sha256
            )
            client.start()
            await asyncio.wait_for(client.connected.wait(), 15)
            outputs = []
            for command in commands:
                done = await asyncio.to_thread(_cli, tmp_path, *command)
                assert done.returncode == 0, done.stderr
                outputs.append(done.stdout)
            seen = []
            while len(seen) < 2:
                envelope = await asyncio.wait_for(client.incoming.get(), 15)
                if envelope.type is MessageType.HANDOFF_REQUEST:
                    seen.append(f"handoff to {envelope.data['to_driver']}: {envelope.data['status']}")
                elif envelope.type is MessageType.TEAM_MESSAGE:
                    seen.append(f"message {envelope.data['priority']}: {envelope.data['text']}")
            await client.close()
            return outputs + seen

        results = asyncio.run(
            driver_sees(
                [
                    ["handoff", "--to", "Sam", "--car", "7", "--reason", "stint over"],
                    ["message", "Box this lap", "--priority", "urgent"],
                ]
            )
        )
        assert "for car 7 to Sam: requested" in results[0]
        assert "sent to all (urgent)" in results[1]
        assert "handoff to Sam: requested" in results[2:] and "message urgent: Box this lap" in results[2:]
        status = _cli(tmp_path, "status")
        assert status.returncode == 0, status.stderr
        assert f"relay: running on wss://127.0.0.1:{port}" in status.stdout
        assert "open handoffs: 1" in status.stdout and "to Sam (requested)" in status.stdout
        assert "invites: 1 active" in status.stdout
    finally:
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=30)
    assert relay.returncode == 0, out
    assert "serving on wss://127.0.0.1" in out
    assert not (tmp_path / "runtime.json").exists()
    assert pairing.token not in out  # tokens are never logged
