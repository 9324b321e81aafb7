"""Replayed F1 sessions: what UDP does to a stream (loss, duplicates, reordering) is absorbed and counted,
and the copilot and strategy run on F1 frames exactly as on the sim they were made from."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from adapters.base import SessionChanged, TicksMissed
from adapters.datagrams import write_recording
from adapters.f1udp import F1UdpAdapter, frame_kinds
from adapters.f1udp_layouts import PacketId
from adapters.laps import split_laps
from adapters.model import FrameBlock, TelemetryFrame
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Verbosity
from driver_app.pipeline import (
    CallMade,
    LapFinished,
    Pipeline,
    PipelineConfig,
    PipelineEvent,
    SessionUpdated,
    StrategyUpdated,
)
from driver_app.speech import ConsoleSpeechSink
from tests.support.f1_session import f1_session, impair, packet_kind_and_frame
from tests.support.pipeline import run_until

pytestmark = pytest.mark.integration
TIMEOUT_S = 60.0


def read_all(adapter: F1UdpAdapter) -> tuple[list[TelemetryFrame], list[object]]:
    frames, events = [], []
    while (frame := adapter.read(0.0)) is not None:
        frames.append(frame)
        events.extend(adapter.drain_events())
    events.extend(adapter.drain_events())
    return frames, events


def test_a_stream_with_loss_duplicates_and_reordering_gives_every_frame_once_in_order_and_counts_the_loss(
    tmp_path: Path,
) -> None:
    session = f1_session(2022, laps=1)
    gone = {int(session.frame_ids[i]) for i in (1500, 3000, 3001, 4500)}  # and now and then a whole frame
    sent = [d for d in session.datagrams if packet_kind_and_frame(d[0])[1] not in gone]
    hit = impair(sent, loss=0.05, duplicates=0.01, reorder=0.05, max_shift=3, seed=11)
    assert hit.dropped > 0.04 * len(sent) and hit.duplicated > 0 and hit.moved > 0
    path = tmp_path / "impaired.pbxudp"
    write_recording(path, hit.datagrams)

    adapter = F1UdpAdapter(recording=path, speed=None)
    frames, events = read_all(adapter)

    # The truth: which per-frame packets got through, how often; which events came twice.
    kinds = frame_kinds(2022)
    copies: dict[int, dict[int, int]] = defaultdict(dict)
    event_duplicates = 0
    for index, (payload, _) in enumerate(sent):
        packet_id, frame = packet_kind_and_frame(payload)
        if packet_id in kinds:
            copies[frame][packet_id] = hit.delivered_copies[index]
        elif packet_id == PacketId.EVENT:
            event_duplicates += max(hit.delivered_copies[index] - 1, 0)
    arrived = sorted(f for f, by_kind in copies.items() if any(by_kind.values()))
    never = [f for f in session.frame_ids.tolist() if arrived[0] < f < arrived[-1] and f not in arrived]
    missing = sum(1 for f in arrived for kind in kinds if copies[f].get(int(kind), 0) == 0)
    duplicates = sum(max(c - 1, 0) for by_kind in copies.values() for c in by_kind.values())

    ticks = [frame.tick for frame in frames]
    assert ticks == arrived  # each frame that arrived at all, once, in order: monotonic, no duplicates
    assert all(np.diff([frame.session_time_s for frame in frames]) > 0)
    counted = adapter.stats
    assert counted.packets_missing == missing > 0  # the loss is counted, packet by packet
    assert counted.frames_lost == len(never) >= len(gone)
    assert sum(e.count for e in events if isinstance(e, TicksMissed)) == len(never)
    assert counted.duplicates == duplicates + event_duplicates > 0
    assert counted.late == 0  # reordering within the window loses nothing
    assert counted.restarts == 0 and counted.sessions == 1

    # Frames whose packets all arrived carry exactly the sim's values.
    complete = {f for f in arrived if all(copies[f].get(int(k), 0) for k in kinds)}
    index_of = {int(f): i for i, f in enumerate(session.frame_ids)}
    for frame in frames[::97]:
        if frame.tick in complete:
            demo = session.demo[index_of[frame.tick]]
            assert frame.speed_mps == pytest.approx(demo.speed_mps, abs=0.5 / 3.6)
            assert (frame.lap, frame.gear) == (demo.lap, demo.gear)
            assert frame.lap_dist_m == pytest.approx(demo.lap_dist_m, abs=1e-3)


def test_a_20_hz_stream_replays_without_counting_loss(tmp_path: Path) -> None:
    session = f1_session(2021, laps=1, step=3)
    path = tmp_path / "20hz.pbxudp"
    write_recording(path, session.datagrams)
    adapter = F1UdpAdapter(recording=path, speed=None)
    frames, _ = read_all(adapter)
    assert [f.tick for f in frames] == session.frame_ids.tolist()
    assert (adapter.stats.frames_lost, adapter.stats.packets_missing) == (0, 0)


def copilot_calls(block: FrameBlock, info: object) -> list[tuple[str, str]]:
    copilot = Copilot(info, settings=CoachSettings(verbosity=Verbosity.COACHING))  # type: ignore[arg-type]
    calls = []
    for start in range(0, len(block), 60):
        calls += copilot.process(block.slice(start, min(start + 60, len(block))))
    copilot.finish()
    return [(c.message.category, c.message.text) for c in calls]


def test_the_copilot_and_strategy_run_unchanged_on_f1_frames(tmp_path: Path) -> None:
    session = f1_session(2024, laps=3)
    path = tmp_path / "race.pbxudp"
    write_recording(path, session.datagrams)
    adapter = F1UdpAdapter(recording=path, speed=None)
    events: list[PipelineEvent] = []
    config = PipelineConfig(adapter="f1", verbosity=Verbosity.COACHING, poll_s=0.0)
    pipeline = Pipeline(config, events.append, speech=ConsoleSpeechSink(lambda line: None), adapter=adapter)
    asyncio.run(run_until(pipeline, lambda: pipeline.stats.frames_produced >= len(session.demo), TIMEOUT_S))

    sessions = [e.info for e in events if isinstance(e, SessionUpdated)]
    assert sessions and sessions[-1].sim == "f1" and len(sessions[-1].drivers) == 20
    assert sessions[-1].track.length_m == session.info.track.length_m
    # Laps: the ones the sim drove, with its times.
    expected = split_laps(session.demo)
    laps = [e.lap for e in events if isinstance(e, LapFinished)]
    assert [(lap.number, lap.kind) for lap in laps] == [(lap.number, lap.kind) for lap in expected]
    assert len(laps) >= 2
    for lap, truth in zip(laps, expected, strict=True):
        assert lap.time_s == pytest.approx(truth.time_s, abs=1e-3)
        assert lap.fuel_used_l == pytest.approx(truth.fuel_used_l, abs=1e-3)
    # Strategy: the fuel per lap it measured is the sim's.
    snapshot = [e.snapshot for e in events if isinstance(e, StrategyUpdated)][-1]
    assert snapshot.fuel_estimate is not None
    flying = [lap.fuel_used_l for lap in expected if lap.kind.value == "flying" and lap.fuel_used_l]
    assert snapshot.fuel_estimate.fuel_per_lap_l == pytest.approx(np.mean(flying), rel=1e-3)
    # Coaching: the calls the copilot makes on the sim's own frames, except the spotter (which F1
    # works out from world positions; the synthetic stream puts every car on the centreline).
    calls = [(e.call.message.category, e.call.message.text) for e in events if isinstance(e, CallMade)]
    own = [c for c in copilot_calls(session.demo, session.info) if c[0] != "spotter"]
    assert own and [c for c in calls if c[0] != "spotter"] == own
    assert not any(isinstance(e, SessionChanged) for e in adapter.drain_events())  # all handed to the pipeline
