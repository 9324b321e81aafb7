"""Benchmark: the relay's binary telemetry batches against the original design's JSON `telemetry_update` per frame.

Run standalone: `python tests/bench/bench_relay.py`. Input: the real Martinsville `.ibt` (from
`$PITBOX_REFERENCE_DATA`, default `../shared/data`); without it, a demo-sim session (said so on
stderr and in the metrics). Four measures, each against a baseline taken in the same run:

1. Size. The original design sent one JSON `telemetry_update` per frame with the CrewChief/B4MAD
   fields (Clutch, Brake, ..., CarClass), values as Python floats of the float32 channels (what
   pyirsdk hands out, e.g. 0.8700000047683716), built with `relay.protocol.legacy_telemetry_json`.
   The binary side carries the same channels (`channel_mask`, plus `session_time_s` as the frame's
   time stamp) in 6-frame (10 Hz) and 60-frame (1 s) batches: auto (the smaller of zstd and
   deflate per batch, the default of `RelayClient`), zstd and deflate. Handbrake (no
   canonical channel; 0.0 here) and CarClass (constant for a session: `session_info` carries it
   once) are JSON-only. Every decoded channel is checked to be within half its declared precision
   (plus the rounding of the decoded value to the channel's float32/float64 dtype; NaN stays NaN,
   integers exact); a failure stops the bench. The size goals are judged on zstd, the default codec
   of `RelayClient` and of `subscribe`; deflate is printed next to it.
2. Throughput. 10 drivers publish at 60 Hz each, 200 viewers subscribe to every car at the full
   rate. PitBox: `RelayServer` (plain ws on 127.0.0.1, `TokenStore` + `Spool` in a temp dir), the
   drivers send pre-encoded binary batches (6 frames, and 1 frame for the per-frame case), the
   viewers are raw websockets sockets that count frames from each batch header. Baseline: a naive
   relay written here that json-decodes every per-frame `telemetry_update` and `await ws.send`s the
   text to each viewer in turn. Frames delivered per second = the sum over viewers in a fixed
   window after a warm-up. Three processes on this 2-core machine: the relay alone in one (so its
   CPU is its own), the drivers in another (they mostly sleep, so their 60 Hz clock is not
   disturbed by the viewers), the 200 viewers in the bench process. Also printed: the relay's CPU
   (getrusage) per delivered frame, which tells the cost apart when both relays deliver the whole
   offered load; the batches PitBox conflated away in its per-viewer outboxes; and the share of
   the window the event loop spent in `Spool.append` (the real spool, wrapped to time it).
3. Latency, on loopback, one driver and one viewer per mode: per-frame sends and 6-frame batches
   (the two pairs run at the same time on one fresh relay, each viewer subscribed to its own car
   only). Each frame's `session_time_s` is stamped with `time.perf_counter()` (rounded down to the
   channel's 1 ms precision, so the figures are upper bounds by up to 1 ms) when the frame is
   produced; the viewer subtracts it from its receive time.
4. The relay process's RSS (`/proc/self/status` VmRSS, VmHWM for the peak) idle before the clients
   connect, with the clients connected (start of the window) and at the end of each window.

Prints the numbers with ratios and percentiles; the last line is one JSON object
`{"bench", "metrics", "goals", "met"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from benchutil import busy_cores, memory_kb, percentile, report
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from adapters.demo import DemoSim
from adapters.ibt import IbtFile
from adapters.model import CHANNELS, FrameBlock, SessionInfo, TrackSurface
from relay.auth import TokenStore
from relay.protocol import (
    MAX_BATCH_BYTES,
    Envelope,
    MessageType,
    Role,
    TelemetryBatch,
    channel_mask,
    decode_batch,
    decode_header,
    encode_batch,
    encode_message,
    legacy_telemetry_json,
)
from relay.server import RelayServer, ServerOptions
from relay.spool import Spool

REPO = Path(__file__).resolve().parents[2]
HZ = 60
PERIOD_S = 1.0 / HZ
BATCH_10HZ = 6
BATCH_1S = 60
CARS = 10
VIEWERS = 200
WARMUP_S = 2.0
WINDOW_S = 5.0
LATENCY_S = 30.0
LATENCY_SKIP_S = 1.0
EARTH_RADIUS_M = 6_371_000.0

GOAL_SIZE_10HZ = 20.0
GOAL_SIZE_1S = 40.0
GOAL_THROUGHPUT = 10.0
GOAL_P99_FRAME_MS = 25.0
GOAL_P99_BATCH_MS = BATCH_10HZ * PERIOD_S * 1e3 + 10.0  # the 100 ms batch interval + 10 ms

# The channels the binary side carries: the canonical twin of every JSON field, plus the time stamp.
BINARY_CHANNELS = (
    "session_time_s",
    "clutch",
    "brake",
    "throttle",
    "steering_angle_rad",
    "rpm",
    "gear",
    "speed_mps",
    "lap_dist_m",
    "latitude_deg",
    "longitude_deg",
    "altitude_m",
    "lap",
    "current_lap_time_s",
    "last_lap_time_s",
    "track_surface",
)
MASK = channel_mask(BINARY_CHANNELS)
CHANNEL_BY_NAME = {c.name: c for c in CHANNELS}


# ------------------------------------------------------------------------------------------------
# Input


def _recording_path() -> Path:
    root = Path(os.environ.get("PITBOX_REFERENCE_DATA", REPO.parent / "shared" / "data"))
    return root / "ibt" / "skmodtour_martinsville_laps_2015.ibt"


def _load(path: Path | None) -> tuple[SessionInfo, FrameBlock]:
    """The recording, or (path None) a deterministic demo session of the same order of length."""
    if path is not None:
        with IbtFile(path) as ibt:
            return ibt.session_info, ibt.read_block()
    sim = DemoSim(seed=5, laps=3, opponents=9)
    info = sim.session_info
    blocks = []
    while not sim.finished and sum(len(b) for b in blocks) < 6000:
        blocks.append(sim.generate_block(1200, cars=False))
    return info, FrameBlock.concatenate(blocks)


def _floats(values: np.ndarray, nan: float) -> list[float]:
    """Python floats of the float32 values (as pyirsdk hands them out); NaN replaced (JSON has none)."""
    v = np.asarray(values, dtype=np.float32).astype(np.float64)
    v[~np.isfinite(v)] = nan
    out: list[float] = v.tolist()
    return out


def legacy_frames(info: SessionInfo, block: FrameBlock) -> list[dict[str, Any]]:
    """The original design's `telemetry` object of every frame (CrewChief/B4MAD field names)."""
    f = block.frames
    lat, lon = f["latitude_deg"], f["longitude_deg"]
    valid = np.isfinite(lat) & np.isfinite(lon)
    lat0, lon0 = (float(lat[valid][0]), float(lon[valid][0])) if valid.any() else (0.0, 0.0)
    metres_per_deg = EARTH_RADIUS_M * math.pi / 180.0
    world_x = np.where(valid, (lon - lon0) * metres_per_deg * math.cos(math.radians(lat0)), 0.0)
    world_y = np.where(valid, (lat - lat0) * metres_per_deg, 0.0)
    player = info.player
    car_class = player.class_name if player is not None else ""
    columns: dict[str, list[Any]] = {
        "Clutch": _floats(f["clutch"], 0.0),
        "Brake": _floats(f["brake"], 0.0),
        "Throttle": _floats(f["throttle"], 0.0),
        "Handbrake": [0.0] * len(f),
        "SteeringAngle": _floats(f["steering_angle_rad"], 0.0),
        "Rpms": _floats(f["rpm"], 0.0),
        "Gear": f["gear"].astype(int).tolist(),
        "SpeedMs": _floats(f["speed_mps"], 0.0),
        "DistanceRoundTrack": _floats(f["lap_dist_m"], 0.0),
        "WorldPosition_x": _floats(world_x, 0.0),
        "WorldPosition_y": _floats(world_y, 0.0),
        "WorldPosition_z": _floats(f["altitude_m"], 0.0),
        "CurrentLap": f["lap"].astype(int).tolist(),
        "LapTimeCurrent": _floats(f["current_lap_time_s"], -1.0),
        "LapTimePrevious": _floats(f["last_lap_time_s"], -1.0),
        "CurrentLapIsValid": (f["track_surface"] != TrackSurface.OFF_TRACK).tolist(),
        "PreviousLapWasValid": (np.isfinite(f["last_lap_time_s"]) & (f["last_lap_time_s"] > 0)).tolist(),
        "CarClass": [car_class] * len(f),
    }
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


# ------------------------------------------------------------------------------------------------
# 1. Size


def _check_decoded(original: FrameBlock, decoded: FrameBlock, worst: dict[str, float]) -> None:
    """Every carried channel within half its precision (NaN kept, integers exact); raises otherwise."""
    for name in BINARY_CHANNELS:
        channel = CHANNEL_BY_NAME[name]
        a, b = original.frames[name], decoded.frames[name]
        if a.dtype.kind != "f":
            if not np.array_equal(a, b):
                raise AssertionError(f"{name}: integer channel not restored exactly")
            worst[name] = max(worst.get(name, 0.0), 0.0)
            continue
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if not np.array_equal(nan_a, nan_b):
            raise AssertionError(f"{name}: NaN not restored as NaN (or a value became NaN)")
        x, y = a[~nan_a].astype(np.float64), b[~nan_a].astype(np.float64)
        error = np.abs(x - y)
        # Half the precision, plus the rounding of the decoded value to the channel's own dtype.
        tolerance = channel.precision / 2 * (1 + 1e-9) + np.spacing(np.abs(y).astype(a.dtype)).astype(np.float64)
        if (error > tolerance).any():
            i = int(np.argmax(error - tolerance))
            raise AssertionError(
                f"{name}: decoded {y[i]!r} for {x[i]!r}: error {error[i]:.3g} "
                f"> half the precision {channel.precision:g}"
            )
        if len(error):
            worst[name] = max(worst.get(name, 0.0), float((error / channel.precision).max()))


def measure_size(info: SessionInfo, block: FrameBlock) -> dict[str, Any]:
    frames = len(block)
    texts = [legacy_telemetry_json(1, t) for t in legacy_frames(info, block)]
    json_sizes = [len(t.encode("utf-8")) for t in texts]
    json_per_frame = sum(json_sizes) / frames
    out: dict[str, Any] = {
        "frames": frames,
        "json_bytes_per_frame": round(json_per_frame, 1),
        "json_bytes_p50": percentile([float(s) for s in json_sizes], 0.5),
        "json_example": texts[len(texts) // 2],
    }
    worst: dict[str, float] = {}
    for size, label in ((BATCH_10HZ, "10hz"), (BATCH_1S, "1s")):
        for codec in ("auto", "zstd", "deflate"):
            total = 0
            batches = 0
            for seq, start in enumerate(range(0, frames, size)):
                part = block.slice(start, min(start + size, frames))
                data = encode_batch(TelemetryBatch(1, seq, part, MASK), codec=codec)
                total += len(data)
                batches += 1
                decoded = decode_batch(data)
                if decoded.channel_mask != MASK or decoded.seq != seq or len(decoded.block) != len(part):
                    raise AssertionError("batch header not restored")
                _check_decoded(part, decoded.block, worst)
            per_frame = total / frames
            out[f"binary_{codec}_{label}_bytes_per_frame"] = round(per_frame, 2)
            out[f"binary_{codec}_{label}_bytes_per_batch"] = round(total / batches, 1)
            out[f"ratio_{codec}_{label}"] = round(json_per_frame / per_frame, 1)
    out["worst_error_over_precision"] = worst
    return out


# ------------------------------------------------------------------------------------------------
# Process helpers


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _TimedSpool:
    """The real `Spool`, with the time the relay's event loop spends in `append` (one fsync each) counted."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.appends = 0
        self.append_s = 0.0
        self.max_s = 0.0

    def append(self, key: str, kind: str, car_id: int | None, payload: bytes, created_s: float) -> int:
        start = time.perf_counter()
        try:
            return self.spool.append(key, kind, car_id, payload, created_s)
        finally:
            took = time.perf_counter() - start
            self.appends += 1
            self.append_s += took
            self.max_s = max(self.max_s, took)

    def last_batch_seq(self, car_id: int) -> int | None:
        return self.spool.last_batch_seq(car_id)


class _LogCounter(logging.Handler):
    """Counts the relay's warnings and errors (slow consumers, refused messages...) by message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.name}: {record.getMessage()}"[:160]] += 1


class _NaiveRelay:
    """The baseline: JSON per frame, decoded, then `await ws.send` to every viewer one after the other."""

    def __init__(self) -> None:
        self.viewers: list[ServerConnection] = []
        self.frames_in = 0
        self.sends = 0

    async def handle(self, ws: ServerConnection) -> None:
        role = await ws.recv()
        if role == "viewer":
            self.viewers.append(ws)
            await ws.send("ok")
            try:
                await ws.wait_closed()
            finally:
                self.viewers.remove(ws)
            return
        await ws.send("ok")
        async for text in ws:
            message = json.loads(text)
            if message.get("type") != "telemetry_update":
                continue
            self.frames_in += 1
            for viewer in list(self.viewers):
                with contextlib.suppress(ConnectionClosed):
                    await viewer.send(text)
                    self.sends += 1


def _relay_process(kind: str, workdir: str, conn: Connection) -> None:
    asyncio.run(_relay_main(kind, Path(workdir), conn))


async def _relay_main(kind: str, workdir: Path, conn: Connection) -> None:
    """Run one relay (PitBox or naive) and answer `stats` / `stop` on the pipe."""
    counter = _LogCounter()
    logging.getLogger().addHandler(counter)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    server: RelayServer | None = None
    spool: Spool | None = None
    timed: _TimedSpool | None = None
    naive = _NaiveRelay()

    def stats() -> dict[str, Any]:
        data: dict[str, Any] = {"t": time.perf_counter(), "cpu_s": _cpu_s(), **memory_kb(), "log": dict(counter.counts)}
        if server is not None:
            data["frames_in"] = server.core.counters["frames"]
            data["counters"] = dict(server.core.counters)
            # Private, read only for the report: batches the relay dropped for slow viewers (conflation).
            data["dropped"] = sum(box.dropped for box in server._outboxes.values())
            data["clients"] = len(server.core.clients)
            if timed is not None:
                data["spool"] = {"appends": timed.appends, "append_s": timed.append_s, "max_s": timed.max_s}
        else:
            data["frames_in"] = naive.frames_in
            data["sends"] = naive.sends
            data["clients"] = len(naive.viewers)
        return data

    before = memory_kb()
    if kind == "pitbox":
        spool = Spool(workdir / "spool.db")
        tokens = TokenStore(workdir / "tokens.json")
        timed = _TimedSpool(spool)
        server = RelayServer(tokens, timed, options=ServerOptions(host="127.0.0.1", port=0))
        await server.start()
        port = server.port
        naive_server = None
    else:
        naive_server = await serve(naive.handle, "127.0.0.1", 0, compression=None, max_size=MAX_BATCH_BYTES)
        port = next(iter(naive_server.sockets)).getsockname()[1]
    conn.send({"port": port, "rss_before_start_kb": before["VmRSS"], **stats()})
    while await commands.get() != "stop":
        conn.send(stats())
    final = stats()
    if server is not None:
        await server.stop()
    if naive_server is not None:
        naive_server.close()
        await naive_server.wait_closed()
    if spool is not None:
        spool.close()
    loop.remove_reader(conn.fileno())
    conn.send(final)


class _Process:
    """A child process (spawned: a clean interpreter, so its RSS is its own) with a command pipe."""

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(*args, child), daemon=True)
        self.process.start()
        child.close()

    async def ask(self, message: Any = None, timeout_s: float = 60.0) -> Any:
        if message is not None:
            self.conn.send(message)
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.conn.poll, timeout_s)
        if not ready:
            raise TimeoutError(f"no answer from {self.process.name} in {timeout_s} s")
        return self.conn.recv()

    def join(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# ------------------------------------------------------------------------------------------------
# 2. Throughput: the drivers (own process) and the viewers (this process)


def _drivers_process(kind: str, url: str, tokens: list[str], path: str | None, batch: int, conn: Connection) -> None:
    asyncio.run(_drivers_main(kind, url, tokens, None if path is None else Path(path), batch, conn))


def _payloads(kind: str, info: SessionInfo, block: FrameBlock, car: int, batch: int, frames: int) -> list[Any]:
    """What one car sends in `frames` ticks: JSON texts (naive) or binary batches with rising seqs."""
    start = car * 397 % max(1, len(block) - frames)  # each car drives a different part of the file
    part = block.slice(start, start + frames)
    if kind == "naive":
        return [legacy_telemetry_json(car, t) for t in legacy_frames(info, part)]
    return [
        encode_batch(TelemetryBatch(car, seq, part.slice(i, i + batch), MASK))
        for seq, i in enumerate(range(0, frames - batch + 1, batch))
    ]


async def _open_driver(kind: str, url: str, token: str) -> ClientConnection:
    ws = await connect(url, compression=None, max_size=MAX_BATCH_BYTES, open_timeout=30)
    if kind == "naive":
        await ws.send("driver")
        await ws.recv()
        return ws
    await ws.recv()  # connection_established
    await ws.send(encode_message(Envelope(MessageType.AUTHENTICATE, "a", {"token": token})))
    result = json.loads(await ws.recv())
    if not result["data"].get("ok"):
        raise RuntimeError(f"driver refused: {result}")
    return ws


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


async def _publish(
    ws: ClientConnection, payloads: list[Any], batch: int, start: float, end: float, phase: float
) -> list[float]:
    """Send each payload when its last frame is due (60 Hz per frame); late ones go at once (catch up)."""
    sent: list[float] = []
    clock = time.perf_counter
    for i, payload in enumerate(payloads):
        due = start + phase + (i + 1) * batch * PERIOD_S
        if due > end:
            break
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await ws.send(payload)
        except ConnectionClosed:
            break
        sent.append(clock())
    return sent


async def _drivers_main(
    kind: str, url: str, tokens: list[str], path: Path | None, batch: int, conn: Connection
) -> None:
    info, block = _load(path)
    frames = int((WARMUP_S + WINDOW_S + 2.0) * HZ)
    payloads = [_payloads(kind, info, block, car, batch, frames) for car in range(len(tokens))]
    sockets = [await _open_driver(kind, url, token) for token in tokens]
    drains = [asyncio.create_task(_drain(ws)) for ws in sockets]
    conn.send("ready")
    loop = asyncio.get_running_loop()
    start, w0, w1, end = await loop.run_in_executor(None, conn.recv)
    phases = [car * PERIOD_S / len(tokens) for car in range(len(tokens))]  # cars are not in lockstep
    sent = await asyncio.gather(
        *(_publish(ws, p, batch, start, end, phase) for ws, p, phase in zip(sockets, payloads, phases, strict=True))
    )
    for ws in sockets:
        await ws.close()
    for task in drains:
        task.cancel()
    in_window = sum(batch * sum(1 for t in times if w0 <= t < w1) for times in sent)
    lateness = [
        t - (start + phase + (i + 1) * batch * PERIOD_S)
        for times, phase in zip(sent, phases, strict=True)
        for i, t in enumerate(times)
    ]
    conn.send(
        {
            "frames_sent_in_window": in_window,
            "publish_hz_per_car": in_window / (w1 - w0) / len(tokens),
            "late_p99_ms": percentile(lateness, 0.99) * 1e3 if lateness else float("nan"),
            "late_max_ms": max(lateness) * 1e3 if lateness else float("nan"),
        }
    )


async def _viewer(
    kind: str, url: str, token: str, index: int, counts: list[int], closes: Counter[str], ready: asyncio.Event
) -> None:
    try:
        async with connect(url, compression=None, max_size=MAX_BATCH_BYTES, open_timeout=60) as ws:
            if kind == "naive":
                await ws.send("viewer")
                await ws.recv()
            else:
                await ws.recv()  # connection_established
                await ws.send(encode_message(Envelope(MessageType.AUTHENTICATE, "a", {"token": token})))
                result = json.loads(await ws.recv())
                if not result["data"].get("ok"):
                    raise RuntimeError(f"viewer refused: {result}")
                await ws.send(encode_message(Envelope(MessageType.SUBSCRIBE, "s", {})))
                await ws.recv()  # ack
            ready.set()
            async for message in ws:
                if isinstance(message, bytes):
                    counts[index] += decode_header(message).frame_count
                elif kind == "naive":
                    counts[index] += 1
            closes[f"closed by the relay: {ws.close_code} {ws.close_reason}"] += 1
    except ConnectionClosed as exc:
        closes[f"closed: {exc}"] += 1
    finally:
        ready.set()


async def _sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def measure_throughput(kind: str, batch: int, path: Path | None) -> dict[str, Any]:
    """One run: a fresh relay process, 10 drivers (own process) at 60 Hz, 200 viewers here."""
    with tempfile.TemporaryDirectory(prefix="bench_relay_") as tmp:
        store = TokenStore(Path(tmp) / "tokens.json")
        driver_tokens = [store.invite(f"driver{car}", Role.DRIVER, car, now_s=0)[1] for car in range(CARS)]
        viewer_token = store.invite("viewers", Role.VIEWER, now_s=0)[1]
        relay = _Process(_relay_process, kind, tmp)
        started = await relay.ask()
        url = f"ws://127.0.0.1:{started['port']}"
        drivers = _Process(_drivers_process, kind, url, driver_tokens, None if path is None else str(path), batch)
        counts = [0] * VIEWERS
        closes: Counter[str] = Counter()
        tasks: list[asyncio.Task[None]] = []
        # The first viewer alone: the relay verifies the shared token once (scrypt), then it is cached.
        for group in ([0], range(1, VIEWERS)):
            events = []
            for index in group:
                event = asyncio.Event()
                events.append(event)
                tasks.append(asyncio.create_task(_viewer(kind, url, viewer_token, index, counts, closes, event)))
            await asyncio.gather(*(e.wait() for e in events))
        if await drivers.ask() != "ready":
            raise RuntimeError("drivers did not start")
        start = time.perf_counter() + 0.3
        w0, w1 = start + WARMUP_S, start + WARMUP_S + WINDOW_S
        drivers.conn.send((start, w0, w1, w1 + 0.5))
        await _sleep_until(w0)
        s0, c0, cpu0 = await relay.ask("stats"), sum(counts), _cpu_s()
        t0 = time.perf_counter()
        await _sleep_until(w1)
        s1, c1, cpu1 = await relay.ask("stats"), sum(counts), _cpu_s()
        t1 = time.perf_counter()
        sent = await drivers.ask(timeout_s=30)
        drivers.join()
        closes_during_run = dict(closes)  # before the relay is told to stop (then all are closed)
        final = await relay.ask("stop")
        relay.join()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    per_viewer = sorted(counts)
    offered = (s1["frames_in"] - s0["frames_in"]) / (s1["t"] - s0["t"])
    result = {
        "frames_per_s": (c1 - c0) / (t1 - t0),
        "relay_frames_in_per_s": offered,
        "offered_frames_per_s": offered * VIEWERS,
        "viewer_min_frames": per_viewer[0],
        "viewer_max_frames": per_viewer[-1],
        "relay_cpu_pct": 100 * (s1["cpu_s"] - s0["cpu_s"]) / (s1["t"] - s0["t"]),
        "relay_cpu_us_per_frame": (s1["cpu_s"] - s0["cpu_s"]) / max(1, c1 - c0) * 1e6,
        "viewers_cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
        "rss_before_kb": started["VmRSS"],
        "rss_window_start_kb": s0["VmRSS"],
        "rss_end_kb": s1["VmRSS"],
        "rss_peak_kb": s1["VmHWM"],
        "relay_log": final["log"],
        "viewer_closes": closes_during_run,
        **sent,
    }
    if kind == "pitbox":
        result["relay_dropped_batches"] = s1["dropped"] - s0["dropped"]
        result["spool_busy_pct"] = 100 * (s1["spool"]["append_s"] - s0["spool"]["append_s"]) / (s1["t"] - s0["t"])
        result["spool_append_max_ms"] = s1["spool"]["max_s"] * 1e3
        result["relay_counters"] = final["counters"]
    return result


# ------------------------------------------------------------------------------------------------
# 3. Latency


async def _latency_driver(
    ws: ClientConnection, block: FrameBlock, car: int, batch: int, start: float, end: float
) -> None:
    clock = time.perf_counter
    frames = block.frames
    tick = 0
    seq = 0
    while True:
        part = frames[(tick % (len(frames) - batch)) :][:batch].copy()
        for j in range(batch):
            await _sleep_until(start + (tick + j) * PERIOD_S)
            part["session_time_s"][j] = math.floor(clock() * 1e3) / 1e3  # the frame exists now
        if clock() > end:
            return
        await ws.send(encode_batch(TelemetryBatch(car, seq, FrameBlock(part), MASK)))
        seq += 1
        tick += batch


async def _latency_viewer(url: str, token: str, car: int, samples: list[tuple[float, float, float]]) -> None:
    clock = time.perf_counter
    async with connect(url, compression=None, max_size=MAX_BATCH_BYTES) as ws:
        await ws.recv()
        await ws.send(encode_message(Envelope(MessageType.AUTHENTICATE, "a", {"token": token})))
        await ws.recv()
        await ws.send(encode_message(Envelope(MessageType.SUBSCRIBE, "s", {"cars": [car]})))
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                received = clock()
                if isinstance(message, bytes):
                    stamps = decode_batch(message).block.frames["session_time_s"]
                    samples.append((received, received - float(stamps.max()), received - float(stamps.min())))


async def measure_latency(block: FrameBlock) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench_relay_") as tmp:
        store = TokenStore(Path(tmp) / "tokens.json")
        modes = {"per_frame": (1, 1), "batch_10hz": (2, BATCH_10HZ)}
        tokens = {
            mode: (
                store.invite(f"driver{car}", Role.DRIVER, car, now_s=0)[1],
                store.invite(f"viewer{car}", Role.VIEWER, now_s=0)[1],
            )
            for mode, (car, _) in modes.items()
        }
        relay = _Process(_relay_process, "pitbox", tmp)
        url = f"ws://127.0.0.1:{(await relay.ask())['port']}"
        samples: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in modes}
        viewers = [
            asyncio.create_task(_latency_viewer(url, tokens[mode][1], car, samples[mode]))
            for mode, (car, _) in modes.items()
        ]
        drivers = [await _open_driver("pitbox", url, tokens[mode][0]) for mode in modes]
        drains = [asyncio.create_task(_drain(ws)) for ws in drivers]
        await asyncio.sleep(0.5)
        start = time.perf_counter() + 0.1
        end = start + LATENCY_S
        await asyncio.gather(
            *(
                _latency_driver(ws, block, car, batch, start + i * PERIOD_S / 2, end)
                for i, (ws, (car, batch)) in enumerate(zip(drivers, modes.values(), strict=True))
            )
        )
        await asyncio.sleep(0.3)
        final = await relay.ask("stop")
        relay.join()
        for ws in drivers:
            await ws.close()
        for task in [*drains, *viewers]:
            task.cancel()
        await asyncio.gather(*drains, *viewers, return_exceptions=True)
    out: dict[str, Any] = {"relay_log": final["log"]}
    for mode, rows in samples.items():
        kept = [row for row in rows if row[0] >= start + LATENCY_SKIP_S]
        newest = [row[1] * 1e3 for row in kept]
        oldest = [row[2] * 1e3 for row in kept]
        out[mode] = {
            "samples": len(kept),
            "p50_ms": percentile(newest, 0.5),
            "p99_ms": percentile(newest, 0.99),
            "max_ms": max(newest),
            "oldest_p50_ms": percentile(oldest, 0.5),
            "oldest_p99_ms": percentile(oldest, 0.99),
        }
    return out


# ------------------------------------------------------------------------------------------------


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def main() -> int:
    path: Path | None = _recording_path()
    assert path is not None
    source = path.name
    if not path.exists():
        print(f"bench_relay: {path} not found: using a demo-sim session instead", file=sys.stderr)
        path, source = None, "demo-sim"
    wall = time.perf_counter()
    load = busy_cores()
    if load > 0.25:
        print(
            f"bench_relay: {load:.2f} cores busy with other work before the run: figures will be low", file=sys.stderr
        )
    info, block = _load(path)

    size = measure_size(info, block)
    print(f"input: {source}, {size['frames']} frames; channels carried: {len(BINARY_CHANNELS)}")
    print(
        f"size: JSON telemetry_update per frame {size['json_bytes_per_frame']} B (e.g. {size['json_example'][:110]}...)"
    )
    for label, frames in (("10hz", BATCH_10HZ), ("1s", BATCH_1S)):
        auto = f"binary_auto_{label}_bytes_per_frame"
        zstd, deflate = f"binary_zstd_{label}_bytes_per_frame", f"binary_deflate_{label}_bytes_per_frame"
        print(
            f"  {frames:>2}-frame batches: auto {size[auto]} B/frame ({size[f'ratio_auto_{label}']}x smaller); "
            f"zstd {size[zstd]} B/frame ({size[f'ratio_zstd_{label}']}x smaller, "
            f"{size[f'binary_zstd_{label}_bytes_per_batch']} B/batch), deflate {size[deflate]} B/frame "
            f"({size[f'ratio_deflate_{label}']}x smaller)"
        )
    worst = size.pop("worst_error_over_precision")
    worst_name = max(worst, key=lambda n: worst[n])
    print(
        f"  every channel decoded within half its precision (worst: {worst_name} at "
        f"{worst[worst_name]:.4f} of its precision)"
    )

    runs = {}
    for name, kind, batch in (
        ("naive_json", "naive", 1),
        ("pitbox_per_frame", "pitbox", 1),
        ("pitbox_batch_10hz", "pitbox", BATCH_10HZ),
    ):
        runs[name] = asyncio.run(measure_throughput(kind, batch, path))
    naive = runs["naive_json"]["frames_per_s"]
    print(
        f"throughput: {CARS} cars x {HZ} Hz -> {VIEWERS} viewers (offered {CARS * HZ * VIEWERS} frames/s), "
        f"{WINDOW_S:g} s window after {WARMUP_S:g} s warm-up; relay alone in its process, drivers in another, "
        f"viewers in this one (2 cores)"
    )
    for name, run in runs.items():
        print(
            f"  {name}: {run['frames_per_s']:,.0f} frames/s delivered ({run['frames_per_s'] / naive:.1f}x naive); "
            f"drivers published {run['publish_hz_per_car']:.1f} Hz/car (late p99 {run['late_p99_ms']:.1f} ms); "
            f"relay took in {run['relay_frames_in_per_s']:.0f} frames/s; "
            f"per viewer over the run {run['viewer_min_frames']}..{run['viewer_max_frames']} frames\n"
            f"    relay CPU {run['relay_cpu_pct']:.0f}% ({run['relay_cpu_us_per_frame']:.2f} us per delivered frame), "
            f"viewers' process CPU {run['viewers_cpu_pct']:.0f}%; relay RSS {_mb(run['rss_before_kb'])} MB idle, "
            f"{_mb(run['rss_window_start_kb'])} MB with clients, {_mb(run['rss_end_kb'])} MB at the end "
            f"(peak {_mb(run['rss_peak_kb'])})"
            + (
                f"; relay dropped {run['relay_dropped_batches']} batches (conflated in viewers' outboxes); "
                f"the event loop spent "
                f"{run['spool_busy_pct']:.0f}% of the window in Spool.append (max {run['spool_append_max_ms']:.1f} ms)"
                if "relay_dropped_batches" in run
                else ""
            )
        )
        if run["relay_log"] or run["viewer_closes"]:
            print(
                f"    relay warnings: {run['relay_log'] or 'none'}; viewers closed during the run: "
                f"{run['viewer_closes'] or 'none'}"
            )
    offered = CARS * HZ * VIEWERS
    naive_cpu = runs["naive_json"]["relay_cpu_us_per_frame"]
    batched_cpu = runs["pitbox_batch_10hz"]["relay_cpu_us_per_frame"]
    if naive >= 0.9 * offered:
        print(
            f"  note: the naive relay delivers {naive / offered:.0%} of the offered load on this machine, so no relay "
            f"can deliver 10x its frames/s here; relay CPU per delivered frame: naive {naive_cpu:.2f} us, "
            f"PitBox 10 Hz batches {batched_cpu:.2f} us ({naive_cpu / batched_cpu:.1f}x less)"
        )

    latency = asyncio.run(measure_latency(block))
    pf, bt = latency["per_frame"], latency["batch_10hz"]
    print(
        f"latency on loopback ({LATENCY_S:g} s, 1 ms stamps): per-frame sends p50 {pf['p50_ms']:.2f} ms, "
        f"p99 {pf['p99_ms']:.2f} ms, max {pf['max_ms']:.2f} ms ({pf['samples']} frames)\n"
        f"  10 Hz batches: newest frame p50 {bt['p50_ms']:.2f} ms, p99 {bt['p99_ms']:.2f} ms; oldest frame "
        f"p50 {bt['oldest_p50_ms']:.1f} ms, p99 {bt['oldest_p99_ms']:.1f} ms ({bt['samples']} batches)"
    )
    if latency["relay_log"]:
        print(f"  relay log: {latency['relay_log']}")

    batched = runs["pitbox_batch_10hz"]
    throughput_ratio = batched["frames_per_s"] / naive
    metrics: dict[str, Any] = {
        "input": source,
        "frames": size["frames"],
        "json_bytes_per_frame": size["json_bytes_per_frame"],
        **{k: v for k, v in size.items() if k.startswith(("binary_", "ratio_"))},
        "worst_error_over_precision": round(worst[worst_name], 4),
        "naive_frames_per_s": round(naive),
        "pitbox_per_frame_frames_per_s": round(runs["pitbox_per_frame"]["frames_per_s"]),
        "pitbox_batch_10hz_frames_per_s": round(batched["frames_per_s"]),
        "throughput_ratio": round(throughput_ratio, 1),
        "throughput_ratio_per_frame": round(runs["pitbox_per_frame"]["frames_per_s"] / naive, 1),
        "offered_frames_per_s": CARS * HZ * VIEWERS,
        **{f"{name}_publish_hz_per_car": round(run["publish_hz_per_car"], 1) for name, run in runs.items()},
        **{f"{name}_relay_cpu_pct": round(run["relay_cpu_pct"]) for name, run in runs.items()},
        **{f"{name}_relay_cpu_us_per_frame": round(run["relay_cpu_us_per_frame"], 2) for name, run in runs.items()},
        "relay_cpu_per_frame_ratio": round(
            runs["naive_json"]["relay_cpu_us_per_frame"] / batched["relay_cpu_us_per_frame"], 1
        ),
        **{f"{name}_viewers_closed_during_run": sum(run["viewer_closes"].values()) for name, run in runs.items()},
        "pitbox_per_frame_dropped_batches": runs["pitbox_per_frame"]["relay_dropped_batches"],
        "pitbox_batch_10hz_dropped_batches": batched["relay_dropped_batches"],
        "latency_per_frame_p50_ms": round(pf["p50_ms"], 2),
        "latency_per_frame_p99_ms": round(pf["p99_ms"], 2),
        "latency_batch_newest_p50_ms": round(bt["p50_ms"], 2),
        "latency_batch_newest_p99_ms": round(bt["p99_ms"], 2),
        "latency_batch_oldest_p50_ms": round(bt["oldest_p50_ms"], 1),
        "latency_batch_oldest_p99_ms": round(bt["oldest_p99_ms"], 1),
        "latency_samples_per_frame": pf["samples"],
        "latency_samples_batch": bt["samples"],
        **{f"{name}_rss_before_mb": _mb(run["rss_before_kb"]) for name, run in runs.items()},
        **{f"{name}_rss_with_clients_mb": _mb(run["rss_window_start_kb"]) for name, run in runs.items()},
        **{f"{name}_rss_end_mb": _mb(run["rss_end_kb"]) for name, run in runs.items()},
        **{f"{name}_rss_peak_mb": _mb(run["rss_peak_kb"]) for name, run in runs.items()},
        **{
            f"{name}_spool_busy_pct": round(run["spool_busy_pct"], 1)
            for name, run in runs.items()
            if "spool_busy_pct" in run
        },
        "other_busy_cores_before": round(load, 2),
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    goals = {
        "ratio_auto_10hz": f">= {GOAL_SIZE_10HZ:g}",
        "ratio_auto_1s": f">= {GOAL_SIZE_1S:g}",
        "precision": "every channel within half its declared precision",
        "throughput_ratio": f">= {GOAL_THROUGHPUT:g} (10 Hz batches vs naive JSON per frame)",
        "latency_per_frame_p99_ms": f"<= {GOAL_P99_FRAME_MS:g}",
        "latency_batch_oldest_p99_ms": f"<= {GOAL_P99_BATCH_MS:g}",
    }
    met = (
        size["ratio_auto_10hz"] >= GOAL_SIZE_10HZ
        and size["ratio_auto_1s"] >= GOAL_SIZE_1S
        and throughput_ratio >= GOAL_THROUGHPUT
        and pf["p99_ms"] <= GOAL_P99_FRAME_MS
        and bt["oldest_p99_ms"] <= GOAL_P99_BATCH_MS
    )
    print(
        f"summary: {size['ratio_auto_10hz']}x / {size['ratio_auto_1s']}x smaller (goals {GOAL_SIZE_10HZ:g}x / "
        f"{GOAL_SIZE_1S:g}x); {throughput_ratio:.1f}x the naive relay's frames/s (goal {GOAL_THROUGHPUT:g}x); "
        f"p99 {pf['p99_ms']:.1f} ms per frame (goal {GOAL_P99_FRAME_MS:g}), {bt['oldest_p99_ms']:.1f} ms with "
        f"batching (goal {GOAL_P99_BATCH_MS:g}); relay RSS {metrics['pitbox_batch_10hz_rss_end_mb']} MB; "
        f"{metrics['wall_s']} s"
    )
    report("relay", metrics, goals, met)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
