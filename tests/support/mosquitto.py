"""A real mosquitto broker for the tests: on a free loopback port, persistent, restartable.

`Mosquitto(workdir)` writes a config (listener on 127.0.0.1, anonymous access, persistence in
`workdir` so a restarted broker keeps QoS 1 sessions and their queued messages), and `start`,
`stop` (SIGTERM: mosquitto saves its persistence file on the way out) and `restart` it on the same
port. `mosquitto_or_skip` finds the binary or skips the test with the reason.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


def find_mosquitto() -> str | None:
    """The mosquitto binary (PATH first, then the usual sbin folders), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def mosquitto_or_skip() -> str:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip(
            "mosquitto is not installed (Debian: apt-get install mosquitto; see scripts/install-system-deps.sh)"
        )
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One broker process (see the module docstring)."""

    def __init__(self, workdir: Path, *, binary: str | None = None, port: int | None = None) -> None:
        self.binary = binary or mosquitto_or_skip()
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"
        self.config_path = workdir / "mosquitto.conf"
        data = workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        # `user`: mosquitto started as root drops to the user "mosquitto", which could not write the
        # persistence folder under pytest's private tmp_path; naming the current user keeps it.
        self.config_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {data}/",
                    "autosave_interval 1",
                    f"user {getpass.getuser()}",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "",
                ]
            )
        )

    def start(self, timeout_s: float = 10.0) -> None:
        if self.process is not None:
            raise RuntimeError("mosquitto is already running")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.process = None
                raise RuntimeError(f"mosquitto exited at start: {err.strip()} {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout_s} s: {self.log()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (persistence saved), then SIGKILL if it does not exit in time."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        if process.stderr is not None:
            process.stderr.close()

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down `down_s`, start again on the same port."""
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
