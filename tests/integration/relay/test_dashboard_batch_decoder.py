"""The dashboard's JavaScript batch decoder (relay/dashboard/batch.js) reads what relay/protocol.py writes.

Batches encoded in Python are decoded by the page's own module in real headless Chromium and
compared value by value with `decode_batch`: every frame channel, every tyre column and every car's
channels, NaN included. Broken batches are refused with a `BatchError`, not misread.
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.demo import DemoAdapter
from adapters.model import CAR_CHANNELS, CHANNELS, FrameBlock
from relay.protocol import TelemetryBatch, decode_batch, encode_batch
from relay.web import DashboardSite, RelayEndpoint
from tests.support.browser import chromium_or_skip, headless_chromium
from tests.support.relay import make_block

pytestmark = [pytest.mark.integration]

DECODE = """
const [payloads, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const { decodeBatch } = await import('/static/batch.js');
  const table = await (await fetch('/api/channels')).json();
  const out = [];
  for (const b64 of payloads) {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    try {
      const b = await decodeBatch(bytes.buffer, table);
      const plain = v => Array.from(v, x => Number.isNaN(x) ? 'NaN' : x);
      const frame = Object.fromEntries(Object.entries(b.frame).map(
        ([k, v]) => [k, Array.isArray(v) ? v.map(plain) : plain(v)]));
      const cars = Object.fromEntries([...b.cars].map(([i, vals]) => [i, Object.fromEntries(
        Object.entries(vals).map(([k, v]) => [k, plain(v)]))]));
      out.push({ ok: true, carId: b.carId, seq: b.seq, n: b.frameCount, frame, cars });
    } catch (error) {
      out.push({ ok: false, name: error.name, message: error.message });
    }
  }
  done(out);
})().catch(error => done([{ ok: false, name: 'setup', message: String(error) }]));
"""


class _NoData:
    def laps(self, car_id: int) -> None:
        return None

    def best_lap(self, car_id: int) -> None:
        return None

    def segments(self, car_id: int) -> None:
        return None

    def track_map(self, car_id: int) -> None:
        return None


class _NoTokens:
    def verify(self, token: object) -> None:
        return None


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    """The dashboard's static files served over plain HTTP on loopback, in a background loop."""
    chromium_or_skip()
    loop = asyncio.new_event_loop()
    site = DashboardSite(_NoData(), _NoTokens(), lambda: RelayEndpoint(9, False, "test"))
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(site.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield site.url
    asyncio.run_coroutine_threadsafe(site.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def demo_block(frames: int) -> FrameBlock:
    """Frames of the demo race a few seconds after the start (19 opponents on track)."""
    adapter = DemoAdapter(seed=5, laps=2)
    adapter.generate_block(300)
    return adapter.generate_block(frames)


def decode_in_browser(driver: Any, url: str, payloads: list[bytes]) -> list[dict[str, Any]]:
    driver.get(url + "static/icon.svg")  # same origin as the module, no app started
    driver.set_script_timeout(30)
    encoded = [base64.b64encode(p).decode("ascii") for p in payloads]
    result: list[dict[str, Any]] = driver.execute_async_script(DECODE, encoded)
    return result


def assert_same(js: list[Any], expected: np.ndarray, precision: float, what: str) -> None:
    got = np.array([math.nan if v == "NaN" else float(v) for v in js], dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    assert got.shape == want.shape, what
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN in different places"
    finite = ~np.isnan(want)
    # Both sides dequantise the same integers; Python stores float32 where the channel is f4.
    tolerance = np.maximum(precision * 1e-3, np.abs(want[finite]) * 1e-6)
    assert np.all(np.abs(got[finite] - want[finite]) <= tolerance), f"{what}: {got[:5]} vs {want[:5]}"


def check_batch(js: dict[str, Any], wire: bytes) -> None:
    assert js["ok"], js
    batch = decode_batch(wire)
    assert (js["carId"], js["seq"], js["n"]) == (batch.car_id, batch.seq, len(batch.block))
    frames = batch.block.frames
    for channel in CHANNELS:
        values = frames[channel.name].astype(np.float64)
        precision = channel.precision if np.dtype(channel.dtype).kind == "f" else 1.0
        if channel.shape:
            for k in range(channel.shape[0]):
                assert_same(js["frame"][channel.name][k], values[:, k], precision, f"{channel.name}[{k}]")
        else:
            assert_same(js["frame"][channel.name], values, precision, channel.name)
    cars = batch.block.cars
    if cars is None:
        assert js["cars"] == {}
        return
    present = sorted(int(i) for i in np.flatnonzero((cars["lap_dist_frac"] >= 0).any(axis=0)))
    assert sorted(int(k) for k in js["cars"]) == present
    for idx in present:
        for channel in CAR_CHANNELS:
            precision = channel.precision if np.dtype(channel.dtype).kind == "f" else 1.0
            values = cars[channel.name][:, idx].astype(np.float64)
            assert_same(js["cars"][str(idx)][channel.name], values, precision, f"car {idx} {channel.name}")


def test_browser_decoder_reads_every_channel_of_every_car_as_python_does(site_url: str, tmp_path: Path) -> None:
    demo = demo_block(600)
    assert demo.cars is not None
    payloads = [
        encode_batch(TelemetryBatch(1, 41, make_block(6)), codec="deflate", include_cars=True),  # a 10 Hz batch
        encode_batch(TelemetryBatch(3, 42, make_block(600)), codec="deflate", include_cars=True),  # wide columns
        encode_batch(TelemetryBatch(7, 2**32 - 1, demo), codec="deflate", include_cars=True),  # a real-looking race
        encode_batch(TelemetryBatch(2, 0, demo.slice(0, 1)), codec="none", include_cars=True),  # one frame, raw
        encode_batch(TelemetryBatch(2, 1, make_block(6, cars=False)), codec="deflate"),  # no cars
    ]
    with headless_chromium(tmp_path) as driver:
        decoded = decode_in_browser(driver, site_url, payloads)
    assert len(decoded) == len(payloads)
    for js, wire in zip(decoded, payloads, strict=True):
        check_batch(js, wire)


def test_browser_decoder_refuses_broken_batches_with_a_batch_error(site_url: str, tmp_path: Path) -> None:
    good = encode_batch(TelemetryBatch(1, 5, make_block(6)), codec="deflate", include_cars=True)
    corrupt = bytearray(good)
    corrupt[30] ^= 0xFF
    payloads = [
        good[:20],  # shorter than a header
        b"XX" + good[2:],  # not a PitBox batch
        bytes(good[:2]) + bytes([9]) + good[3:],  # a future protocol version
        bytes(corrupt),  # a damaged compressed body
        good[:-5],  # cut short
        encode_batch(TelemetryBatch(1, 6, make_block(6)), codec="zstd"),  # a codec browsers cannot read
    ]
    with headless_chromium(tmp_path) as driver:
        decoded = decode_in_browser(driver, site_url, payloads)
    assert [d["ok"] for d in decoded] == [False] * len(payloads), decoded
    assert {d["name"] for d in decoded} == {"BatchError"}, decoded
    assert "zstd" in decoded[-1]["message"]
