"""Dashboard test rig: a real `pitbox-relay serve` process with TLS, a demo-sim pipeline as its driver, invites.

`RelayProcess` runs the relay's own command line in a child process (so a test can kill it and
start it again on the same ports, certificate and data), `PipelineThread` runs the driver app's
headless pipeline on the demo sim in a thread with its own event loop.

    with RelayProcess(tmp_path / "relay") as relay:
        tokens = relay.invite(...)
        with PipelineThread(relay, tokens["driver"]) as pipeline: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from driver_app.pipeline import Pipeline, PipelineConfig, PipelineEvent
from relay.auth import PairingInfo, TokenStore, encode_pairing
from relay.protocol import Role
from relay.tls import CertificateFiles, ensure_certificate
from tests.support.polling import wait_for

T = TypeVar("T")
START_TIMEOUT_S: Final = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RelayProcess:
    """`pitbox-relay serve` with TLS on loopback, in a child process that can be killed and restarted."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.dashboard_port = free_port()
        self.certificate: CertificateFiles = ensure_certificate(data_dir / "tls", ["127.0.0.1", "localhost"])
        self.store = TokenStore(data_dir / "tokens.json")
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "relay.log"

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"https://127.0.0.1:{self.dashboard_port}/"

    def invite(self, name: str, role: Role, car_id: int | None = None) -> str:
        """A pairing string for a new invite (written to the relay's token store)."""
        _, token = self.store.invite(name, role, car_id, now_s=time.time())
        return encode_pairing(PairingInfo("127.0.0.1", self.port, token, self.certificate.fingerprint_sha256))

    def start(self) -> None:
        runtime = self.data_dir / "runtime.json"
        with contextlib.suppress(FileNotFoundError):
            runtime.unlink()
        command = [
            str(Path(sys.executable).with_name("pitbox-relay")),
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dashboard-port",
            str(self.dashboard_port),
            "--no-advertise",
            "--no-record",
            "--name",
            "test relay",
        ]
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        wait_for(
            lambda: runtime.exists() or self.process is None or self.process.poll() is not None,
            "the relay to start",
            START_TIMEOUT_S,
        )
        if self.process.poll() is not None:
            raise AssertionError(f"the relay exited with {self.process.returncode}: {self.log_path.read_text()}")
        assert json.loads(runtime.read_text())["dashboard_port"] == self.dashboard_port

    def kill(self) -> None:
        """Cut the relay the hard way (SIGKILL: no goodbye to anyone)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> RelayProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PipelineThread:
    """The driver app's headless pipeline on the demo sim, publishing to `relay`, in its own thread."""

    def __init__(
        self, relay: RelayProcess, driver_pairing: str, *, speed: float = 8.0, laps: int = 40, seed: int = 3
    ) -> None:
        token = driver_pairing.split("t=", 1)[1].split("&", 1)[0]
        self.config = PipelineConfig(
            adapter="demo",
            adapter_options={"speed": speed, "seed": seed, "laps": laps},
            relay_url=relay.url,
            relay_token=token,
            relay_fingerprint=relay.certificate.fingerprint_sha256,
        )
        self.events: list[PipelineEvent] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.pipeline: Pipeline | None = None
        self._thread = threading.Thread(target=self._main, name="demo-pipeline", daemon=True)
        self.error: BaseException | None = None

    def _record(self, event: PipelineEvent) -> None:
        with self._lock:
            self.events.append(event)

    def snapshot(self) -> list[PipelineEvent]:
        with self._lock:
            return list(self.events)

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.pipeline = Pipeline(self.config, self._record)
            await self.pipeline.run(self._stop)

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by stop(), not lost in the thread
            self.error = exc

    def call(self, function: Callable[[Pipeline], Any]) -> None:
        """Run `function(pipeline)` on the pipeline's loop (the pipeline is not thread-safe)."""
        assert self._loop is not None and self.pipeline is not None
        pipeline = self.pipeline
        self._loop.call_soon_threadsafe(function, pipeline)

    def __enter__(self) -> PipelineThread:
        self._thread.start()
        wait_for(lambda: self.pipeline is not None, "the pipeline to start", 10.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        if self.error is not None and not isinstance(self.error, asyncio.CancelledError):
            raise AssertionError(f"the pipeline failed: {self.error!r}") from self.error
