"""The relay's video store over HTTPS across uploads and restarts: segments and clips rotate within their own
budgets, oldest first, and the store (and what new clients are told) survives a restart of the relay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from relay.protocol import MessageType
from tests.support.relay_video import Listener, fake_mp4, video_rig

pytestmark = [pytest.mark.integration]

SIZE = 10_000
BUDGETS = {"video_segment_budget_bytes": 3 * SIZE, "video_clip_budget_bytes": 2 * SIZE}


def test_rotation_keeps_the_newest_within_each_budget_and_the_store_survives_a_restart(tmp_path: Path) -> None:
    async def first_run() -> str:
        async with video_rig(tmp_path, **BUDGETS) as rig:
            for n in range(6):
                status, _ = await rig.put_video(1, f"seg-{n}", fake_mp4(SIZE), start_s=n * 30.0, end_s=n * 30.0 + 30)
                assert status == 201
                if n == 1:
                    status, _ = await rig.put_video(1, "clip-a", fake_mp4(SIZE), kind="clip")
                    assert status == 201
            status, _ = await rig.put_video(2, "seg-x", fake_mp4(SIZE), "driver2")  # another car, same budget
            assert status == 201
            ids = [i["segment_id"] for i in await rig.listing(1)]
            assert ids == ["seg-5", "seg-4", "clip-a"]
            assert [i["segment_id"] for i in await rig.listing(2)] == ["seg-x"]
            car_dir = tmp_path / "video" / "car_1"
            assert sorted(p.name for p in car_dir.iterdir() if p.suffix == ".mp4") == [
                "clip-a.mp4",
                "seg-4.mp4",
                "seg-5.mp4",
            ]
            status, _, _ = await rig.get("/api/cars/1/video/seg-0", "viewer")
            assert status == 404  # rotated out
            async with Listener(rig, "viewer") as late:
                told = [m.data["segment_id"] for m in await late.drain() if m.type is MessageType.VIDEO_SEGMENT_READY]
            assert sorted(told) == ["clip-a", "seg-4", "seg-5", "seg-x"]
            play_url: str = (await rig.listing(1))[0]["play_url"]
            return play_url

    async def second_run(old_link: str) -> None:
        async with video_rig(tmp_path, **BUDGETS) as rig:
            items = await rig.listing(1)
            assert [(i["segment_id"], i["kind"], i["start_s"], i["bytes"]) for i in items] == [
                ("seg-5", "segment", 150.0, SIZE),
                ("seg-4", "segment", 120.0, SIZE),
                ("clip-a", "clip", 10.0, SIZE),
            ]
            async with Listener(rig, "engineer") as late:
                told = [m.data["segment_id"] for m in await late.drain() if m.type is MessageType.VIDEO_SEGMENT_READY]
            assert sorted(told) == ["clip-a", "seg-4", "seg-5", "seg-x"]
            # Links of the previous run are dead (new secret); the new listing's work.
            status, _, _ = await rig.get(old_link)
            assert status == 403
            status, _, data = await rig.get(items[0]["play_url"])
            assert status == 200 and data == fake_mp4(SIZE)
            # New uploads are newer than everything from before the restart.
            status, _ = await rig.put_video(1, "seg-6", fake_mp4(SIZE))
            assert status == 201
            assert [i["segment_id"] for i in await rig.listing(1)] == ["seg-6", "seg-5", "clip-a"]
            status, _ = await rig.put_video(1, "clip-b", fake_mp4(SIZE), kind="clip")
            status, _ = await rig.put_video(1, "clip-c", fake_mp4(SIZE), kind="clip")
            assert [i["segment_id"] for i in await rig.listing(1) if i["kind"] == "clip"] == ["clip-c", "clip-b"]

    link = asyncio.run(first_run())
    asyncio.run(second_run(link))
