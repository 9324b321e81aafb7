"""The dashboard's web server on a real relay with TLS: the page, its security headers, and the car data
the page reads, which only a paired token may see. The data comes from the demo-sim pipeline
publishing to the relay, as on race night.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.model import CAR_CHANNELS, CHANNELS
from driver_app.pipeline import Pipeline, PipelineConfig
from relay.auth import TokenStore
from relay.protocol import Role
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool
from relay.tls import ensure_certificate, server_ssl_context

pytestmark = [pytest.mark.integration]


@dataclass
class Rig:
    server: RelayServer
    session: aiohttp.ClientSession
    base: str
    driver_token: str
    viewer_token: str
    engineer_token: str
    fingerprint: str

    async def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.session.get(self.base + path, headers=headers) as response:
            return response.status, dict(response.headers), await response.read()

    async def json(self, path: str, token: str) -> Any:
        async with self.session.get(self.base + path, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, (path, response.status, await response.text())
            return await response.json()


@asynccontextmanager
async def relay_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = TokenStore(tmp_path / "tokens.json")
    now = time.time()
    _, driver = store.invite("Alice", Role.DRIVER, 1, now_s=now)
    store.invite("Bob", Role.DRIVER, 1, now_s=now + 1)
    _, viewer = store.invite("Vic", Role.VIEWER, now_s=now)
    _, engineer = store.invite("Eve", Role.ENGINEER, now_s=now)
    certificate = ensure_certificate(tmp_path / "tls", ["127.0.0.1", "localhost"])
    spool = Spool(tmp_path / "spool.sqlite3")
    options = ServerOptions(
        host="127.0.0.1",
        port=0,
        ssl_context=server_ssl_context(certificate),
        dashboard_port=0,
        maps_dir=tmp_path / "maps",
    )
    server = RelayServer(store, spool, options=options, roster=store.roster)
    await server.start()
    assert server.dashboard is not None
    pin = aiohttp.Fingerprint(bytes.fromhex(certificate.fingerprint_sha256))
    connector = aiohttp.TCPConnector(ssl=pin)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            base = server.dashboard.url.rstrip("/")
            yield Rig(server, session, base, driver, viewer, engineer, certificate.fingerprint_sha256)
    finally:
        await server.stop()
        spool.close()


async def drive_demo(rig: Rig, done: Callable[[Pipeline], bool], timeout_s: float = 120.0) -> Pipeline:
    """The demo sim's pipeline publishes to the relay, as fast as it can, until `done(pipeline)`."""
    config = PipelineConfig(
        adapter="demo",
        adapter_options={"speed": None, "seed": 4, "laps": 6},
        relay_url=rig.server.url,
        relay_token=rig.driver_token,
        relay_fingerprint=rig.fingerprint,
    )
    pipeline = Pipeline(config)
    stop = asyncio.Event()

    async def watch() -> None:
        while not done(pipeline):
            await asyncio.sleep(0.05)
        stop.set()

    watcher = asyncio.create_task(watch())
    try:
        async with asyncio.timeout(timeout_s):
            await pipeline.run(stop)
        await pipeline.close_relay()
    finally:
        watcher.cancel()
    return pipeline


def test_page_and_scripts_are_served_under_a_policy_that_allows_only_this_relay(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_rig(tmp_path) as rig:
            status, headers, body = await rig.get("/")
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert b'src="/static/app.js"' in body
            policy = headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "script-src 'self'" in policy
            assert f"connect-src 'self' wss://127.0.0.1:{rig.server.port}" in policy
            assert headers["X-Content-Type-Options"] == "nosniff"
            for name, kind in (
                ("app.js", "text/javascript"),
                ("batch.js", "text/javascript"),
                ("style.css", "text/css"),
            ):
                status, headers, body = await rig.get(f"/static/{name}")
                assert status == 200 and headers["Content-Type"].startswith(kind) and body, name
            for path in ("/static/nothing.js", "/static/..%2ftokens.json", "/static/../web.py", "/tokens.json"):
                status, headers, _ = await rig.get(path)
                assert status == 404, path
                assert "Content-Security-Policy" in headers
            config = await rig.json("/api/config", rig.viewer_token)
            assert config == {"relay_port": rig.server.port, "tls": True, "relay_name": "PitBox relay", "protocol": 1}
            status, _, _ = await rig.get("/api/config")
            assert status == 200  # public: the page needs it before signing in
            table = await rig.json("/api/channels", rig.viewer_token)
            assert [c["name"] for c in table["frame"]] == [c.name for c in CHANNELS]
            assert [c["name"] for c in table["car"]] == [c.name for c in CAR_CHANNELS]
            tyres = next(c for c in table["frame"] if c["name"] == "tyre_temp_c")
            assert (tyres["columns"], tyres["kind"], tyres["precision"]) == (4, "f", 0.1)

    asyncio.run(scenario())


def test_car_data_needs_a_paired_token_and_failed_tokens_lock_the_address_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_rig(tmp_path) as rig:
            status, _, body = await rig.get("/api/cars/1/laps")
            assert status == 401 and b"Bearer" in body
            status, _, _ = await rig.get("/api/cars/1/laps", rig.viewer_token)
            assert status == 404  # a good token, but nothing from car 1 yet
            for _ in range(5):
                status, _, _ = await rig.get("/api/cars/1/laps", "not-a-token-of-this-relay")
                assert status == 401
            status, _, _ = await rig.get("/api/cars/1/laps", "not-a-token-of-this-relay")
            assert status == 429
            status, _, _ = await rig.get("/api/cars/1/laps", rig.viewer_token)
            assert status == 429  # the address stays blocked for a while, whatever it sends
            assert rig.server.attempts.total_failures >= 5

    asyncio.run(scenario())


def test_laps_traces_map_and_stint_plan_come_from_the_cars_own_telemetry(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay_rig(tmp_path) as rig:

            def relay_has_laps(_: Pipeline) -> bool:
                view = rig.server.team_view.laps(1)
                return view is not None and len(view["laps"]) >= 3

            # The relay takes the batches at its own pace (flow control) and splits laps from them.
            await drive_demo(rig, relay_has_laps)
            laps = await rig.json("/api/cars/1/laps", rig.viewer_token)
            assert laps["car_id"] == 1 and laps["driver"]
            rows = laps["laps"]
            assert len(rows) >= 3
            assert [r["lap"] for r in rows] == sorted(r["lap"] for r in rows)
            timed = [r for r in rows if r["kind"] == "flying" and r["time_s"] is not None]
            assert timed, rows
            best = min(timed, key=lambda r: r["time_s"])
            assert laps["best_lap"] == best["lap"]
            assert best["delta_to_best_s"] == pytest.approx(0.0, abs=1e-6)
            trace = await rig.json("/api/cars/1/best-lap", rig.engineer_token)
            assert trace["lap"] == best["lap"] and trace["time_s"] == pytest.approx(best["time_s"], abs=1e-3)
            assert len(trace["frac"]) == len(trace["speed_mps"]) == len(trace["elapsed_s"]) >= 100
            assert max(s for s in trace["speed_mps"] if s is not None) > 30.0
            track = await rig.json("/api/cars/1/track-map", rig.viewer_token)
            assert track["source"] == "file" and len(track["points"]) >= 256
            assert rig.server.core.stint_plans.get(1) is not None  # proposed from the strategy updates
            plan = rig.server.core.stint_plans[1]
            assert plan["approved"] is False and plan["plan"]["drivers"][:2] in (
                ["Alice", "Bob"],
                ["Alex Demo", "Alice"],
            )

    asyncio.run(scenario())
