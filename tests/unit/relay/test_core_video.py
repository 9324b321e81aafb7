"""The core's side of video: the relay announces a stored video to everyone (and the sinks), and clients
that sign in later catch up on the newest stored videos of each car, not on rotated ones."""

from __future__ import annotations

from typing import Any

import pytest

from relay.core import CATCH_UP_VIDEOS
from relay.protocol import MessageType, ProtocolError
from tests.support.relay import DRIVER_CAR, OTHER_CAR, join, make_core, messages_to, persists, recipients


def video(segment_id: str, car_id: int = DRIVER_CAR, kind: str = "segment") -> dict[str, Any]:
    return {
        "car_id": car_id,
        "segment_id": segment_id,
        "start_s": 100.0,
        "end_s": 130.0,
        "kind": kind,
        "url": f"/api/cars/{car_id}/video/{segment_id}",
        "bytes": 123_456,
    }


def test_a_stored_video_is_announced_to_every_signed_in_client_and_persisted_for_the_sinks() -> None:
    core = make_core()
    join(core, "dan", "tok-dan")
    join(core, "vic", "tok-vic", subscribe={"cars": [OTHER_CAR]})
    join(core, "eve", "tok-eve")
    core.connect("anon", "10.0.0.9:1", 0.0)
    actions = core.announce_video(video("seg-1"), 5.0)
    assert recipients(actions) == {"dan", "vic", "eve"}
    (message,) = messages_to(actions, "vic")
    assert message.type is MessageType.VIDEO_SEGMENT_READY and message.data == video("seg-1")
    (persist,) = persists(actions)
    assert persist.kind == "control" and persist.car_id == DRIVER_CAR and b"video_segment_ready" in persist.payload
    again = core.announce_video(video("seg-1"), 5.0)  # a re-upload is a new record, not a duplicate key
    assert persists(again)[0].key != persist.key


def test_clients_that_sign_in_later_catch_up_on_the_newest_videos_of_each_car() -> None:
    core = make_core()
    for n in range(CATCH_UP_VIDEOS + 5):
        core.announce_video(video(f"seg-{n}"), float(n))
    core.remember_video(video("clip-a", OTHER_CAR, "clip"))
    core.forget_video(DRIVER_CAR, f"seg-{CATCH_UP_VIDEOS + 4}")  # rotated out
    actions = join(core, "vic", "tok-vic")
    told = [m.data["segment_id"] for m in messages_to(actions, "vic") if m.type is MessageType.VIDEO_SEGMENT_READY]
    assert told == [f"seg-{n}" for n in range(5, CATCH_UP_VIDEOS + 4)] + ["clip-a"]


def test_an_invalid_announcement_is_a_protocol_error_and_changes_nothing() -> None:
    core = make_core()
    with pytest.raises(ProtocolError):
        core.announce_video({**video("x"), "segment_id": "s" * 65}, 1.0)
    with pytest.raises(ProtocolError):
        core.announce_video({**video("x"), "kind": "movie"}, 1.0)
    assert core.videos == {}
