"""Misbehaving clients on a real relay: the others keep being served, each bad one gets a typed error or
is closed with a reason, and nothing of theirs is kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from adapters.model import FrameBlock, empty_frames
from relay.auth import TokenStore
from relay.client import RelayClient
from relay.core import RelayLimits
from relay.protocol import ErrorCode, MessageType, Role, decode_message
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool

pytestmark = pytest.mark.integration


def _frames(start: int) -> FrameBlock:
    block = empty_frames(6)
    block["in_world"] = True
    block["session_time_s"] = np.arange(start, start + 6) / 60.0
    return FrameBlock(block)


async def _attack(url: str, messages: list[str | bytes]) -> tuple[list[str], int | None, str]:
    """Send `messages`; return the error codes received and the close code and reason."""
    codes: list[str] = []
    async with connect(url, max_size=None) as ws:
        await ws.recv()  # connection_established
        try:
            for message in messages:
                await ws.send(message)
            while True:
                reply = decode_message(await asyncio.wait_for(ws.recv(), 3))
                if reply.type is MessageType.ERROR:
                    codes.append(str(reply.data["code"]))
        except ConnectionClosed:
            pass
        except TimeoutError:
            await ws.close()
    return codes, ws.close_code, ws.close_reason or ""


def test_garbage_floods_and_huge_frames_do_not_disturb_the_other_clients(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TokenStore(tmp_path / "tokens.json")
        _, driver_token = store.invite("Alex", Role.DRIVER, 1, now_s=0)
        _, viewer_token = store.invite("Vic", Role.VIEWER, now_s=0)
        spool = Spool(tmp_path / "spool.sqlite3")
        limits = RelayLimits(auth_timeout_s=1.0)
        # Every frame must reach the viewer: no conflation if the busy test machine slows it down.
        options = ServerOptions(host="127.0.0.1", port=0, limits=limits, max_telemetry_per_car=1000)
        server = RelayServer(store, spool, options=options)
        await server.start()
        driver = RelayClient(server.url, driver_token, car_id=1)
        viewer = RelayClient(server.url, viewer_token, subscribe={"cars": [1]})
        driver.start()
        viewer.start()
        await asyncio.wait_for(asyncio.gather(driver.connected.wait(), viewer.subscribed.wait()), 10)
        frames_sent = 0
        streaming = True

        async def stream() -> None:
            nonlocal frames_sent
            while streaming:
                driver.send_frames(_frames(frames_sent))
                frames_sent += 6
                await asyncio.sleep(0.1)

        streamer = asyncio.create_task(stream())
        url = server.url
        results = await asyncio.gather(
            _attack(url, ["{not json"] * 30),  # broken JSON flood
            _attack(url, [os.urandom(64) for _ in range(30)]),  # random bytes before authenticating
            _attack(url, ['{"type":"subscribe","id":"x","data":{"rate_hz":"fast"}}'] * 5),
            _attack(url, ["x" * (2 * 1024 * 1024)]),  # a huge frame
            _attack(url, []),  # never authenticates
        )
        await asyncio.sleep(0.5)
        streaming = False
        await streamer
        await asyncio.wait_for(driver.wait_acked(), 10)
        received = 0
        while not viewer.telemetry.empty():
            received += len(viewer.telemetry.get_nowait().block)
        clients_left = len(server.core.clients)
        await driver.close()
        await viewer.close()
        await server.stop()
        stored = len(spool)
        spool.close()

        (json_codes, json_close, json_reason) = results[0]
        assert (
            set(json_codes) == {ErrorCode.BAD_JSON.value} and json_close == 1008 and "too many refused" in json_reason
        )
        assert set(results[1][0]) == {ErrorCode.NOT_AUTHENTICATED.value} and results[1][1] == 1008
        assert set(results[2][0]) == {ErrorCode.BAD_FIELD.value}  # fields are checked before anything else
        assert results[3][1] == 1009  # message too big: websockets closes before anything is read
        assert results[4][1] == 4001 and results[4][2] == "authentication timed out"
        assert received == frames_sent  # the viewer saw every frame while all that went on
        assert clients_left == 2  # the driver and the viewer: nothing kept of the attackers
        assert stored == frames_sent // 6  # only the driver's batches were stored

    asyncio.run(scenario())
