"""The driver's pipeline with video on, signed in to a real relay over TLS: live segments and a clip with
its telemetry land in the relay's video store, and the team hears of each one (`video_segment_ready`)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from driver_app.pipeline import ClipSaved, Pipeline, PipelineConfig, PipelineEvent
from driver_app.video.config import VideoConfig
from relay.protocol import MessageType
from tests.support.relay_video import Listener, video_rig
from tests.support.video_pattern import start_pattern, stop_pattern

pytestmark = pytest.mark.integration

TITLE = "PitBox sharing test"
RECORD_S = 5.0


def test_segments_and_a_clip_reach_the_relay_and_the_team_hears_of_them(tmp_path: Path, x_display: str) -> None:
    events: list[PipelineEvent] = []

    async def scenario() -> tuple[list[dict[str, object]], list[str], dict[str, object], float]:
        async with video_rig(tmp_path / "relay") as rig, Listener(rig, "viewer") as viewer:
            config = PipelineConfig(
                adapter="demo",
                adapter_options={"speed": 1.0, "seed": 2, "laps": 5},
                relay_url=rig.server.url,
                relay_token=rig.tokens["driver"],
                relay_fingerprint=rig.fingerprint,
                video=VideoConfig(
                    target=f"window:{TITLE}",
                    segment_s=1.0,
                    clip_before_s=1.0,
                    clip_after_s=1.0,
                    folder=tmp_path / "video",
                ),
                video_upload_url=rig.base,
            )
            pipeline = Pipeline(config, events.append)
            stop = asyncio.Event()

            async def drive() -> float:
                while pipeline.copilot_time() <= 0 or pipeline.relay is None or pipeline.relay.car_id is None:
                    await asyncio.sleep(0.02)
                pipeline.set_video(True)
                await asyncio.sleep(2.0)
                asked = pipeline.copilot_time()
                assert pipeline.save_clip("menu") is not None
                await asyncio.sleep(RECORD_S - 2.0)
                stop.set()
                return asked

            driver = asyncio.create_task(drive())
            await asyncio.wait_for(pipeline.run(stop), 60)
            asked = await driver
            await pipeline.close_relay(2.0)
            items = await rig.listing(1)
            clip_ids = [str(i["segment_id"]) for i in items if i["kind"] == "clip"]
            telemetry: dict[str, object] = {}
            if clip_ids:
                status, _, body = await rig.get(f"/api/cars/1/video/{clip_ids[0]}/telemetry", "viewer")
                assert status == 200
                telemetry = json.loads(body)
            announced = [
                str(m.data.get("segment_id")) for m in await viewer.drain() if m.type is MessageType.VIDEO_SEGMENT_READY
            ]
            return items, announced, telemetry, asked

    process = start_pattern(time.monotonic(), title=TITLE, geometry=(0, 0, 640, 360))
    try:
        items, announced, telemetry, asked = asyncio.run(scenario())
    finally:
        stop_pattern(process)
    segments = [i for i in items if i["kind"] == "segment"]
    clips = [i for i in items if i["kind"] == "clip"]
    assert len(segments) >= RECORD_S - 2  # 1 s segments over ~5 s, every one uploaded
    starts = sorted(float(s["start_s"]) for s in segments)  # type: ignore[arg-type]
    assert all(b > a for a, b in zip(starts, starts[1:], strict=False))
    (saved,) = [e for e in events if isinstance(e, ClipSaved)]
    assert [c["segment_id"] for c in clips] == [saved.clip_id]
    assert float(clips[0]["start_s"]) == pytest.approx(asked - 1.0, abs=0.1)  # type: ignore[arg-type]
    assert telemetry["clip_id"] == saved.clip_id
    assert telemetry["window"]["event_s"] == pytest.approx(asked, abs=0.05)  # type: ignore[index]
    assert saved.path.with_name(saved.clip_id + ".uploaded").exists()
    assert set(announced) >= {str(i["segment_id"]) for i in items}  # the relay told the team of each
