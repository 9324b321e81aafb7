"""Benchmark: the driver app's cost at 60 Hz: CPU per frame and RSS of the headless pipeline, and the tray app's RSS.

Run standalone: `python tests/bench/bench_pipeline.py` (about 2.5 minutes). Three measures:

1. The headless pipeline (`driver_app.pipeline.Pipeline`, its own `run` loop) on the demo sim
   (`DemoAdapter(speed=1.0)`, real 60 Hz) with coaching at verbosity "coaching" and the live
   strategy, streaming 10 Hz batches, session info and strategy to an embedded relay
   (`EmbeddedRelay`, loopback ws://) that runs in a separate process (a small script given to
   `python -c`, so the relay's CPU and memory are not this process's; its CPU is printed apart).
   Calls go to a `ConsoleSpeechSink` that writes nowhere. Timeline: the pipeline first runs the
   first FAST_FORWARD_SESSION_S of the session at FAST_FORWARD_RATE times real time (through the
   pipeline's `clock`, every frame processed as usual; the rate keeps the batches under the relay's
   limit of 240 a second per driver), then real time: WARMUP_S of warm-up, then
   WINDOW_S measured. So the window covers session time ~155..215 s and with it the end of lap 2 at
   ~190 s (the demo lap is ~95 s; the copilot never reports the demo's first lap, which starts at
   the line and not on pit road, so lap 2 is the first lap it analyses): the sim generating lap 3,
   the copilot's lap-end analysis, the strategy update and its message to the relay
   are inside it, as they are in every lap of a race. In the window: process CPU time
   (`time.process_time`, every thread) over wall time = the share of one core, CPU per frame,
   VmRSS/VmHWM from /proc/self/status, and the wall time of every `Pipeline.step()` (p50/p99/max,
   over every wake-up and over those that read a frame; the loop wakes at 120 Hz).
2. Baseline, in the same run and the same process: the same adapter (same seed, same part of the
   session, same fast-forward and window) read by the same loop (connect, read every due tick,
   drain events, `asyncio.sleep(POLL_S)`) and nothing else: no coaching, no strategy, no relay.
   Pipeline minus baseline is PitBox's own work on top of reading the sim.
3. The tray app: `python -m driver_app.cli demo --laps 1 --speed 1` without `--headless`, under
   `QT_QPA_PLATFORM=offscreen` with DISPLAY set (so `cli_demo.has_display()` picks the tray path);
   its VmRSS after TRAY_SETTLE_S (summed over its child processes if it has any), then it is
   stopped. It runs while the baseline is measured (the baseline is this process's CPU time only;
   the machine has two cores) to keep the bench short. When `driver_app/qt/app.py` does not exist
   or the app exits or fails before the reading, the tray RSS is null with the reason, and the goal
   is not met.

Prints the numbers with ratios and percentiles; the last line is one JSON object
`{"bench", "metrics", "goals", "met"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchutil import busy_cores, memory_kb, percentile, report

from adapters.base import AdapterState
from adapters.demo import DemoAdapter
from coaching.messages import Verbosity
from driver_app.pipeline import POLL_S, Pipeline, PipelineConfig, PipelineEvent
from driver_app.speech import ConsoleSpeechSink

REPO = Path(__file__).resolve().parents[2]
SEED = 1
SESSION_LAPS = 3
FAST_FORWARD_SESSION_S = 150.0
FAST_FORWARD_RATE = 22.0
"""220 batches/s to the relay: under its 240/s limit per driver (above it, batches are refused)."""
WARMUP_S = 5.0
WINDOW_S = 60.0
TRAY_SETTLE_S = 15.0
TRAY_CPU_FROM_S = 10.0
GOAL_CPU_PCT = 5.0
GOAL_TRAY_RSS_MB = 200.0

RELAY_SCRIPT = r"""
import asyncio, json, resource, sys, time
from pathlib import Path
from driver_app.embedded_relay import EmbeddedRelay

def stats(relay):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    values = {"t": time.perf_counter(), "cpu_s": usage.ru_utime + usage.ru_stime}
    values["frames_in"] = relay.server.core.counters["frames"]
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1])
    return values

async def main():
    relay = await EmbeddedRelay.start(Path(sys.argv[1]))
    print(json.dumps({"url": relay.url, "token": relay.driver_token, **stats(relay)}), flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "stats":
        print(json.dumps(stats(relay)), flush=True)
    final = stats(relay)
    await relay.stop()
    print(json.dumps(final), flush=True)

asyncio.run(main())
"""


# ------------------------------------------------------------------------------------------------
# Shared


def _mb(kb: float) -> float:
    return round(kb / 1024, 1)


class _Clock:
    """Monotonic seconds that run `rate` times faster until `real_time()`, then at real time (no jump)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._base_real = time.monotonic()
        self._base_virtual = 0.0

    def __call__(self) -> float:
        return self._base_virtual + (time.monotonic() - self._base_real) * self.rate

    def real_time(self) -> None:
        now = time.monotonic()
        self._base_virtual += (now - self._base_real) * self.rate
        self._base_real = now
        self.rate = 1.0


@dataclass
class _Steps:
    """Every step: real start (perf_counter), wall time (s), frames read, newest session time after it."""

    rows: list[tuple[float, float, int, float]] = field(default_factory=list)

    def window(self, t0: float, t1: float) -> list[tuple[float, float, int, float]]:
        return [row for row in self.rows if t0 <= row[0] < t1]


@dataclass
class _Mark:
    wall: float
    cpu: float
    frames: int
    session_s: float
    rss: dict[str, int]

    @classmethod
    def now(cls, frames: int, session_s: float) -> _Mark:
        return cls(time.perf_counter(), time.process_time(), frames, session_s, memory_kb())


async def _timeline(clock: _Clock, session_s: Callable[[], float], frames: Callable[[], int]) -> tuple[_Mark, _Mark]:
    """Fast-forward, warm up at real time, then measure: the marks at the window's start and end."""
    while session_s() < FAST_FORWARD_SESSION_S:
        await asyncio.sleep(0.01)
    clock.real_time()
    await asyncio.sleep(WARMUP_S)
    start = _Mark.now(frames(), session_s())
    await asyncio.sleep(WINDOW_S)
    return start, _Mark.now(frames(), session_s())


def _adapter() -> DemoAdapter:
    return DemoAdapter(speed=1.0, seed=SEED, laps=SESSION_LAPS)


def _summary(start: _Mark, end: _Mark, steps: _Steps) -> dict[str, Any]:
    wall = end.wall - start.wall
    cpu = end.cpu - start.cpu
    frames = end.frames - start.frames
    rows = steps.window(start.wall, end.wall)
    all_us = [row[1] * 1e6 for row in rows]
    read_us = [row[1] * 1e6 for row in rows if row[2] > 0]
    slowest = sorted(rows, key=lambda row: row[1], reverse=True)[:3]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_pct": 100 * cpu / wall,
        "frames": frames,
        "frames_per_s": frames / wall,
        "cpu_us_per_frame": cpu / max(1, frames) * 1e6,
        "session_from_s": start.session_s,
        "session_to_s": end.session_s,
        "steps": len(rows),
        "steps_with_frames": len(read_us),
        "max_frames_per_step": max(row[2] for row in rows),
        "step_p50_us": percentile(all_us, 0.5),
        "step_p99_us": percentile(all_us, 0.99),
        "step_max_us": max(all_us),
        "step_max_at_session_s": slowest[0][3],
        "slowest_steps": ", ".join(f"{row[1] * 1e3:.1f} ms at {row[3]:.1f} s" for row in slowest),
        "read_step_p50_us": percentile(read_us, 0.5),
        "read_step_p99_us": percentile(read_us, 0.99),
        "rss_start_kb": start.rss["VmRSS"],
        "rss_end_kb": end.rss["VmRSS"],
        "rss_peak_kb": end.rss["VmHWM"],
    }


# ------------------------------------------------------------------------------------------------
# 1. The pipeline, streaming to a relay in another process


class _RelayProcess:
    """The embedded relay in its own interpreter; answers "stats" lines on stdin with a JSON line."""

    def __init__(self, directory: Path, stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RELAY_SCRIPT, str(directory)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self.started = self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the relay process ended (exit {self.process.wait(10)})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, command: str = "stats") -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._reply()

    def stop(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.close()  # end of input: the relay stops and prints its last stats
        final = self._reply()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(5)
        return final


async def measure_pipeline(relay: _RelayProcess) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: None)  # the executor's thread exists before the window
    clock = _Clock(FAST_FORWARD_RATE)
    events: dict[str, int] = {}

    def on_event(event: PipelineEvent) -> None:
        events[type(event).__name__] = events.get(type(event).__name__, 0) + 1

    config = PipelineConfig(
        adapter="demo",
        relay_url=relay.started["url"],
        relay_token=relay.started["token"],
        verbosity=Verbosity.COACHING,
    )
    speech = ConsoleSpeechSink(lambda line: None)
    pipeline = Pipeline(config, on_event, speech=speech, adapter=_adapter(), clock=clock)
    assert pipeline.relay is not None
    steps = _Steps()
    step = pipeline.step

    def timed_step() -> int:
        start = time.perf_counter()
        count = step()
        steps.rows.append((start, time.perf_counter() - start, count, pipeline.copilot_time()))
        return count

    pipeline.step = timed_step  # type: ignore[method-assign]  # `run` calls self.step(): timed, unchanged
    stop = asyncio.Event()
    runner = asyncio.create_task(pipeline.run(stop))
    relay_client = pipeline.relay

    async def relay_stats() -> dict[str, Any]:
        return await loop.run_in_executor(None, relay.ask)

    laps: list[int] = []

    async def marks() -> tuple[_Mark, _Mark, dict[str, Any], dict[str, Any], int, int]:
        while pipeline.copilot_time() < FAST_FORWARD_SESSION_S:
            await asyncio.sleep(0.01)
        clock.real_time()
        await asyncio.sleep(WARMUP_S)
        start = _Mark.now(pipeline.stats.frames_produced, pipeline.copilot_time())
        unacked_start = relay_client.unacked
        laps.append(pipeline.stats.laps)
        relay0 = await relay_stats()
        await asyncio.sleep(WINDOW_S - (time.perf_counter() - start.wall))
        end = _Mark.now(pipeline.stats.frames_produced, pipeline.copilot_time())
        unacked_end = relay_client.unacked
        laps.append(pipeline.stats.laps)
        relay1 = await relay_stats()
        return start, end, relay0, relay1, unacked_start, unacked_end

    start, end, relay0, relay1, unacked_start, unacked_end = await marks()
    stop.set()
    await runner
    await pipeline.close_relay(10.0)
    out = _summary(start, end, steps)
    out.update(
        {
            "calls": pipeline.stats.calls,
            "laps": pipeline.stats.laps,
            "laps_in_window": laps[1] - laps[0],
            "strategy_updates": pipeline.stats.strategy_updates,
            "frames_produced": pipeline.stats.frames_produced,
            "frames_sent": pipeline.stats.frames_sent,
            "frames_acked": relay_client.stats.frames_acked,
            "relay_connects": relay_client.stats.connects,
            "unacked_batches_window_start": unacked_start,
            "unacked_batches_window_end": unacked_end,
            "relay_frames_in_window": relay1["frames_in"] - relay0["frames_in"],
            "relay_cpu_pct": 100 * (relay1["cpu_s"] - relay0["cpu_s"]) / (relay1["t"] - relay0["t"]),
            "relay_rss_kb": relay1["VmRSS"],
            "events": events,
        }
    )
    return out


# ------------------------------------------------------------------------------------------------
# 2. Baseline: the adapter's read loop alone


async def measure_baseline(tray: _Tray | None) -> dict[str, Any]:
    clock = _Clock(FAST_FORWARD_RATE)
    adapter = _adapter()
    steps = _Steps()
    stop = asyncio.Event()
    produced = 0
    newest_s = 0.0

    async def read_loop() -> None:
        nonlocal produced, newest_s
        while not stop.is_set():
            start = time.perf_counter()
            now = clock()
            if adapter.state is not AdapterState.CONNECTED:
                adapter.connect(now)
            frames = []
            while (frame := adapter.read(now)) is not None:
                frames.append(frame)
            adapter.drain_events()
            if frames:
                produced += len(frames)
                newest_s = frames[-1].session_time_s
            steps.rows.append((start, time.perf_counter() - start, len(frames), newest_s))
            await asyncio.sleep(POLL_S)
        adapter.close()

    loop_task = asyncio.create_task(read_loop())
    tray_task = asyncio.create_task(tray.measure()) if tray is not None else None
    start, end = await _timeline(clock, lambda: newest_s, lambda: produced)
    stop.set()
    await loop_task
    if tray_task is not None:
        await tray_task
    return _summary(start, end, steps)


# ------------------------------------------------------------------------------------------------
# 3. The tray app's RSS


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as children:
                    for child in children.read().split():
                        found.append(int(child))
                        queue.append(int(child))
    return found


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


class _Tray:
    """`pitbox demo` with the tray app, in a subprocess of its own (own session, so it is stopped whole)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.result: dict[str, Any] = {"rss_kb": None, "reason": None}

    async def measure(self) -> None:
        app = REPO / "driver_app" / "qt" / "app.py"
        if not app.exists():
            self.result["reason"] = "driver_app/qt/app.py does not exist yet (the tray app is not written)"
            return
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DISPLAY=os.environ.get("DISPLAY") or ":0")
        env.pop("WAYLAND_DISPLAY", None)
        out_path, err_path = self.workdir / "tray.out", self.workdir / "tray.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "driver_app.cli", "demo", "--laps", "1", "--speed", "1"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        started = time.perf_counter()
        try:
            await self._watch(process, started)
        finally:
            self._stop(process)
        if self.result["rss_kb"] is None:
            tail = err_path.read_text(errors="replace").strip().splitlines()
            out_tail = out_path.read_text(errors="replace").strip().splitlines()
            detail = tail[-1] if tail else (out_tail[-1] if out_tail else "no output")
            self.result["reason"] = f"{self.result['reason']}: {detail}"

    async def _watch(self, process: subprocess.Popen[bytes], started: float) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        await asyncio.sleep(TRAY_CPU_FROM_S)
        if process.poll() is not None:
            self.result["reason"] = f"the tray app exited with code {process.returncode} within {TRAY_CPU_FROM_S:g} s"
            return
        ticks0, t0 = _cpu_ticks(process.pid), time.perf_counter()
        await asyncio.sleep(TRAY_SETTLE_S - TRAY_CPU_FROM_S)
        try:
            ticks1, t1 = _cpu_ticks(process.pid), time.perf_counter()
            status = memory_kb(process.pid)
            children = _children(process.pid)
            child_rss = 0
            for child in children:
                with contextlib.suppress(OSError, KeyError):
                    child_rss += memory_kb(child)["VmRSS"]
        except (OSError, KeyError):
            status = {}
        if process.poll() is not None or "VmRSS" not in status:
            self.result["reason"] = f"the tray app exited with code {process.poll()} within {TRAY_SETTLE_S:g} s"
            return
        self.result.update(
            {
                "rss_kb": status["VmRSS"],
                "peak_kb": status["VmHWM"],
                "children": len(children),
                "children_rss_kb": child_rss,
                "total_rss_kb": status["VmRSS"] + child_rss,
                "cpu_pct": 100 * (ticks1 - ticks0) / hz / (t1 - t0),
                "after_s": round(time.perf_counter() - started, 1),
            }
        )

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the group this bench created for it
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


# ------------------------------------------------------------------------------------------------


def main() -> int:
    wall = time.perf_counter()
    load = busy_cores()
    if load > 0.25:
        print(
            f"bench_pipeline: {load:.2f} cores busy with other work before the run: figures will be high",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        workdir = Path(tmp)
        with open(workdir / "relay.err", "wb") as relay_err:
            relay = _RelayProcess(workdir / "relay", relay_err)
            try:
                pipe = asyncio.run(measure_pipeline(relay))
            finally:
                relay_final = relay.stop()
        relay_log = (workdir / "relay.err").read_text(errors="replace").strip().splitlines()
        tray = _Tray(workdir)
        base = asyncio.run(measure_baseline(tray))
        tray_result = tray.result

    own_pct = pipe["cpu_pct"] - base["cpu_pct"]
    own_us = pipe["cpu_us_per_frame"] - base["cpu_us_per_frame"]
    print(
        f"headless pipeline, demo sim at 60 Hz (seed {SEED}), coaching (verbosity coaching) + strategy, streaming to "
        f"an embedded relay in another process; {WINDOW_S:g} s window after fast-forwarding "
        f"{FAST_FORWARD_SESSION_S:g} s of session at {FAST_FORWARD_RATE:g}x and {WARMUP_S:g} s of warm-up "
        f"(session {pipe['session_from_s']:.1f}..{pipe['session_to_s']:.1f} s, "
        f"{pipe['laps_in_window']} lap end(s) in it)"
    )
    print(
        f"  CPU {pipe['cpu_pct']:.2f}% of one core ({pipe['cpu_s']:.2f} s over {pipe['wall_s']:.1f} s), "
        f"{pipe['cpu_us_per_frame']:.1f} us per frame, {pipe['frames']} frames ({pipe['frames_per_s']:.2f}/s)\n"
        f"  step() wall time over {pipe['steps']} wake-ups: p50 {pipe['step_p50_us']:.0f} us, "
        f"p99 {pipe['step_p99_us']:.0f} us, slowest {pipe['slowest_steps']} (session time); "
        f"the {pipe['steps_with_frames']} that read frames: "
        f"p50 {pipe['read_step_p50_us']:.0f} us, p99 {pipe['read_step_p99_us']:.0f} us; "
        f"at most {pipe['max_frames_per_step']} frames in one step\n"
        f"  RSS {_mb(pipe['rss_start_kb'])} MB at the window's start, {_mb(pipe['rss_end_kb'])} MB at its end, "
        f"peak {_mb(pipe['rss_peak_kb'])} MB\n"
        f"  {pipe['calls']} calls, {pipe['strategy_updates']} strategy updates; frames produced "
        f"{pipe['frames_produced']}, sent {pipe['frames_sent']}, acked (client's count) {pipe['frames_acked']}, "
        f"stored by the relay {relay_final['frames_in']} ({pipe['relay_connects']} connect(s)); "
        f"unacked batches {pipe['unacked_batches_window_start']} at the "
        f"window's start, {pipe['unacked_batches_window_end']} at its end; the relay took in "
        f"{pipe['relay_frames_in_window']} frames in the window\n"
        f"  relay process (not counted): CPU {pipe['relay_cpu_pct']:.2f}% of one core, RSS "
        f"{_mb(pipe['relay_rss_kb'])} MB (peak {_mb(relay_final['VmHWM'])} MB)"
    )
    lost = pipe["frames_sent"] - relay_final["frames_in"]
    if lost:
        print(f"  WARNING: {lost} frames sent by the pipeline never reached the relay's store")
    if relay_log:
        print(f"  relay stderr ({len(relay_log)} lines), last: {relay_log[-1]}")
    print(
        f"baseline, the same adapter read loop alone (same session part, same loop at {1 / POLL_S:g} Hz wake-ups):\n"
        f"  CPU {base['cpu_pct']:.2f}% of one core, {base['cpu_us_per_frame']:.1f} us per frame, {base['frames']} "
        f"frames; step p50 {base['step_p50_us']:.0f} us, p99 {base['step_p99_us']:.0f} us, slowest "
        f"{base['slowest_steps']}; RSS "
        f"{_mb(base['rss_end_kb'])} MB (this process, after the pipeline ran)\n"
        f"  PitBox's own work on top of reading the sim: {own_pct:.2f}% of one core, {own_us:.1f} us per frame "
        f"({pipe['cpu_pct'] / max(1e-9, base['cpu_pct']):.1f}x the baseline's CPU; reading the sim is "
        f"{base['cpu_pct'] / GOAL_CPU_PCT:.0%} of the {GOAL_CPU_PCT:g}% budget, PitBox's own work "
        f"{own_pct / GOAL_CPU_PCT:.0%})"
    )
    tray_rss = tray_result["rss_kb"]
    if tray_rss is None:
        print(f"tray app: RSS not measured: {tray_result['reason']}")
    else:
        print(
            f"tray app (pitbox demo --laps 1 --speed 1, offscreen Qt, measured while the baseline ran): VmRSS "
            f"{_mb(tray_rss)} MB after {tray_result['after_s']} s (peak {_mb(tray_result['peak_kb'])} MB); "
            f"{tray_result['children']} child process(es) with {_mb(tray_result['children_rss_kb'])} MB; total "
            f"{_mb(tray_result['total_rss_kb'])} MB; CPU {tray_result['cpu_pct']:.1f}% of one core from "
            f"{TRAY_CPU_FROM_S:g} to {TRAY_SETTLE_S:g} s"
        )

    tray_total_mb = None if tray_rss is None else _mb(tray_result["total_rss_kb"])
    cpu_ok = pipe["cpu_pct"] < GOAL_CPU_PCT
    tray_ok = tray_total_mb is not None and tray_total_mb < GOAL_TRAY_RSS_MB
    met = cpu_ok and tray_ok
    metrics: dict[str, Any] = {
        "cpu_pct_one_core": round(pipe["cpu_pct"], 3),
        "cpu_us_per_frame": round(pipe["cpu_us_per_frame"], 1),
        "frames": pipe["frames"],
        "frames_per_s": round(pipe["frames_per_s"], 2),
        "step_p50_us": round(pipe["step_p50_us"], 1),
        "step_p99_us": round(pipe["step_p99_us"], 1),
        "step_max_ms": round(pipe["step_max_us"] / 1e3, 2),
        "read_step_p50_us": round(pipe["read_step_p50_us"], 1),
        "read_step_p99_us": round(pipe["read_step_p99_us"], 1),
        "rss_mb": _mb(pipe["rss_end_kb"]),
        "rss_peak_mb": _mb(pipe["rss_peak_kb"]),
        "calls": pipe["calls"],
        "laps": pipe["laps"],
        "laps_in_window": pipe["laps_in_window"],
        "strategy_updates": pipe["strategy_updates"],
        "frames_acked": pipe["frames_acked"],
        "frames_produced": pipe["frames_produced"],
        "frames_stored_by_relay": relay_final["frames_in"],
        "relay_connects": pipe["relay_connects"],
        "relay_process_cpu_pct": round(pipe["relay_cpu_pct"], 3),
        "relay_process_rss_mb": _mb(pipe["relay_rss_kb"]),
        "baseline_cpu_pct_one_core": round(base["cpu_pct"], 3),
        "baseline_cpu_us_per_frame": round(base["cpu_us_per_frame"], 1),
        "baseline_step_p50_us": round(base["step_p50_us"], 1),
        "baseline_step_p99_us": round(base["step_p99_us"], 1),
        "own_cpu_pct_one_core": round(own_pct, 3),
        "own_cpu_us_per_frame": round(own_us, 1),
        "cpu_ratio_vs_baseline": round(pipe["cpu_pct"] / max(1e-9, base["cpu_pct"]), 2),
        "tray_rss_mb": tray_total_mb,
        "tray_process_rss_mb": None if tray_rss is None else _mb(tray_rss),
        "tray_cpu_pct_one_core": None if tray_rss is None else round(tray_result["cpu_pct"], 2),
        "tray_reason": tray_result["reason"],
        "window_s": WINDOW_S,
        "other_busy_cores_before": round(load, 2),
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    goals = {
        "cpu_pct_one_core": f"< {GOAL_CPU_PCT:g} (headless pipeline at 60 Hz, coaching + strategy + relay)",
        "tray_rss_mb": f"< {GOAL_TRAY_RSS_MB:g} (the tray app with its child processes; null: not met)",
    }
    print(
        f"summary: headless pipeline {pipe['cpu_pct']:.2f}% of one core (goal < {GOAL_CPU_PCT:g}%: "
        f"{'met' if cpu_ok else 'NOT met'}), {pipe['cpu_us_per_frame']:.0f} us/frame, RSS {_mb(pipe['rss_end_kb'])} "
        f"MB; tray app RSS {'null' if tray_total_mb is None else f'{tray_total_mb} MB'} (goal < "
        f"{GOAL_TRAY_RSS_MB:g} MB: {'met' if tray_ok else 'NOT met'}"
        f"{'' if tray_total_mb is not None else ', ' + str(tray_result['reason'])}); {metrics['wall_s']} s"
    )
    report("pipeline", metrics, goals, met)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
