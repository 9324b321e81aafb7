"""The relay's video store: the pure parts (ids, windows, MP4 sniffing, the rotation plan, signed links)
and the store on real files (atomic uploads, rotation by kind, the index rebuilt after a restart)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.errors import VideoError, VideoTooLargeError
from relay.video_store import (
    MAX_PENDING_TELEMETRY,
    LinkSigner,
    VideoItem,
    VideoStore,
    check_segment_id,
    looks_like_mp4,
    parse_window,
    plan_rotation,
)
from tests.support.relay_video import fake_mp4

SECRET = b"0123456789abcdef0123456789abcdef"


def item(serial: int, kind: str = "segment", size: int = 100, car: int = 1, telemetry: int = 0) -> VideoItem:
    start_s = serial * 10.0
    return VideoItem(car, f"s{serial}", kind, start_s, start_s + 10.0, size, 1e9 + serial, serial, telemetry)


# ------------------------------------------------------------------------------------------ pure parts


@pytest.mark.parametrize("good", ["a", "seg-0001", "Clip_2024-06-01_12-00", "x" * 64])
def test_segment_ids_are_short_and_path_safe(good: str) -> None:
    assert check_segment_id(good) == good


@pytest.mark.parametrize("bad", ["", "x" * 65, "../tokens", "a.b", "a/b", "a b", "é", "seg%2f", "a\n"])
def test_segment_ids_that_could_escape_or_confuse_the_folder_are_refused(bad: str) -> None:
    with pytest.raises(VideoError):
        check_segment_id(bad)


def test_a_window_is_two_finite_ordered_times_and_a_known_kind() -> None:
    assert parse_window("clip", "12.5", "42") == ("clip", 12.5, 42.0)
    assert parse_window(None, "0", "0") == ("segment", 0.0, 0.0)
    for kind, start, end in [
        ("movie", "0", "1"),
        ("segment", None, "1"),
        ("segment", "0", ""),
        ("segment", "nan", "1"),
        ("segment", "0", "inf"),
        ("segment", "zero", "1"),
        ("segment", "5", "4"),
        ("segment", "0", "1e12"),
    ]:
        with pytest.raises(VideoError):
            parse_window(kind, start, end)


def test_mp4_sniffing_wants_an_ftyp_box_first() -> None:
    assert looks_like_mp4(fake_mp4(64))
    assert looks_like_mp4((1).to_bytes(4, "big") + b"ftypmp42")  # 64-bit box size
    assert not looks_like_mp4(b"\x1a\x45\xdf\xa3" + b"\0" * 20)  # WebM
    assert not looks_like_mp4(b"GIF89a" + b"\0" * 20)
    assert not looks_like_mp4(fake_mp4(64)[:11])  # too short to tell
    assert not looks_like_mp4((4).to_bytes(4, "big") + b"ftypmp42")  # a box smaller than its header
    assert not looks_like_mp4((24).to_bytes(4, "big") + b"ftyp\0\1\2\3")  # brand not text


def test_rotation_removes_the_oldest_of_each_kind_until_it_fits_its_own_budget() -> None:
    items = [item(0), item(1, "clip"), item(2), item(3), item(4, "clip"), item(5)]
    removed = plan_rotation(items, {"segment": 250, "clip": 200})
    assert [i.segment_id for i in removed] == ["s0", "s2"]  # 400 bytes of segments -> 200; clips fit
    removed = plan_rotation(items, {"segment": 1000, "clip": 150})
    assert [i.segment_id for i in removed] == ["s1"]


def test_rotation_counts_telemetry_and_never_removes_what_it_is_told_to_keep() -> None:
    items = [item(0, "clip", 100, telemetry=60), item(1, "clip", 100)]
    assert [i.segment_id for i in plan_rotation(items, {"segment": 0, "clip": 200})] == ["s0"]
    big = item(2, "segment", 500)
    assert plan_rotation([big], {"segment": 100, "clip": 100}, keep={big.key}) == []
    older = item(1, "segment", 50)
    assert plan_rotation([older, big], {"segment": 100, "clip": 100}, keep={big.key}) == [older]


@given(
    st.lists(st.tuples(st.sampled_from(["segment", "clip"]), st.integers(1, 1000)), max_size=40),
    st.integers(0, 5000),
    st.integers(0, 5000),
)
def test_after_rotation_each_kind_fits_and_only_the_oldest_went(
    entries: list[tuple[str, int]], segment_budget: int, clip_budget: int
) -> None:
    items = [item(n, kind, size) for n, (kind, size) in enumerate(entries)]
    budgets = {"segment": segment_budget, "clip": clip_budget}
    removed = plan_rotation(items, budgets)
    kept = [i for i in items if i not in removed]
    for kind, budget in budgets.items():
        assert sum(i.total_bytes for i in kept if i.kind == kind) <= budget
        gone = [i.serial for i in removed if i.kind == kind]
        left = [i.serial for i in kept if i.kind == kind]
        assert not gone or not left or max(gone) < min(left)  # oldest first, nothing newer went


def test_a_signed_link_opens_only_its_own_path_until_it_expires() -> None:
    signer = LinkSigner(SECRET, ttl_s=3600, step_s=300)
    link = signer.link("/video/1/seg-1.mp4", now_s=1_000_000.0)
    path, _, query = link.partition("?")
    params = dict(part.split("=") for part in query.split("&"))
    exp, sig = params["exp"], params["sig"]
    assert int(exp) >= 1_000_000 + 3600 and int(exp) % 300 == 0
    assert signer.verify(path, exp, sig, now_s=1_000_000.0)
    assert signer.verify(path, exp, sig, now_s=int(exp) - 1)
    assert not signer.verify(path, exp, sig, now_s=int(exp) + 1)  # expired
    assert not signer.verify("/video/1/seg-2.mp4", exp, sig, now_s=1_000_000.0)  # another video
    assert not signer.verify("/video/2/seg-1.mp4", exp, sig, now_s=1_000_000.0)  # another car
    assert not signer.verify(path, str(int(exp) + 300), sig, now_s=1_000_000.0)  # a longer life
    assert not LinkSigner(b"another relay's secret!").verify(path, exp, sig, now_s=1_000_000.0)
    for bad_exp, bad_sig in [(None, sig), (exp, None), ("-1", sig), ("1e9", sig), (exp, sig[:-1]), (exp, "z" * 64)]:
        assert not signer.verify(path, bad_exp, bad_sig, now_s=1_000_000.0)


def test_links_made_close_together_are_the_same_so_the_page_keeps_its_video() -> None:
    signer = LinkSigner(SECRET, ttl_s=3600, step_s=300)
    assert signer.link("/video/1/a.mp4", 1_000_001.0) == signer.link("/video/1/a.mp4", 1_000_100.0)
    assert signer.verify("/video/1/a.mp4", str(9_999_999_999), "0" * 64, 1.0) is False  # too far ahead


def test_a_link_signer_needs_a_real_secret() -> None:
    with pytest.raises(ValueError):
        LinkSigner(b"short")


# ------------------------------------------------------------------------------------------ on disk


def upload(store: VideoStore, car: int, segment_id: str, data: bytes, kind: str = "segment") -> VideoItem:
    job = store.begin(car, segment_id)
    for start in range(0, len(data), 1000):
        job.write(data[start : start + 1000])
    stored, _ = store.commit(job, kind, 1.0, 2.0)
    return stored


def test_an_upload_appears_only_when_complete_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = VideoStore(tmp_path)
    job = store.begin(3, "seg-1")
    job.write(fake_mp4(5000)[:2000])
    assert store.items() == [] and not (tmp_path / "car_3" / "seg-1.mp4").exists()
    job.write(fake_mp4(5000)[2000:])
    stored, removed = store.commit(job, "segment", 10.0, 20.0)
    assert removed == [] and stored.video_bytes == 5000 and stored.api_path == "/api/cars/3/video/seg-1"
    assert (tmp_path / "car_3" / "seg-1.mp4").read_bytes() == fake_mp4(5000)
    assert sorted(p.name for p in (tmp_path / "car_3").iterdir()) == ["seg-1.json", "seg-1.mp4"]
    assert store.items(3) == [stored] and store.items(4) == []
    assert stored.announcement() == {
        "car_id": 3,
        "segment_id": "seg-1",
        "start_s": 10.0,
        "end_s": 20.0,
        "kind": "segment",
        "url": "/api/cars/3/video/seg-1",
        "bytes": 5000,
    }


def test_refused_uploads_are_removed(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_upload_bytes=3000)
    job = store.begin(1, "webm")
    with pytest.raises(VideoError, match="not an MP4"):
        job.write(b"\x1a\x45\xdf\xa3" + b"\0" * 100)
    job.discard()
    job = store.begin(1, "big")
    job.write(fake_mp4(2000))
    with pytest.raises(VideoTooLargeError):
        job.write(b"\0" * 1001)
    job.discard()
    job = store.begin(1, "tiny")
    job.write(b"\0\0")
    with pytest.raises(VideoError):
        store.commit(job, "segment", 0.0, 1.0)
    job.discard()
    assert list((tmp_path / "car_1").iterdir()) == []
    assert store.items() == []


def test_segments_and_clips_rotate_within_their_own_budgets(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, segment_budget_bytes=3000, clip_budget_bytes=2500)
    clip = upload(store, 1, "clip-1", fake_mp4(1000), "clip")
    for n in range(5):
        upload(store, 1 + n % 2, f"seg-{n}", fake_mp4(1000))
    assert [i.segment_id for i in store.items() if i.kind == "segment"] == ["seg-4", "seg-3", "seg-2"]
    assert store.get(1, "clip-1") == clip  # segments never push out a clip
    assert not (tmp_path / "car_1" / "seg-0.mp4").exists() and not (tmp_path / "car_1" / "seg-0.json").exists()
    store.store_telemetry(1, "clip-1", json.dumps({"speed_mps": [1.0] * 100}).encode())
    upload(store, 2, "clip-2", fake_mp4(1000), "clip")
    # clip-1 (1000 + its telemetry) and clip-2 are over 2500: the older clip goes, telemetry with it.
    assert [i.segment_id for i in store.items() if i.kind == "clip"] == ["clip-2"]
    assert not (tmp_path / "car_1" / "clip-1.telemetry.json").exists()
    assert store.total_bytes("segment") <= 3000 and store.total_bytes("clip") <= 2500


def test_a_video_bigger_than_its_budget_stays_until_the_next_one(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, segment_budget_bytes=1000)
    upload(store, 1, "big", fake_mp4(1500))
    assert [i.segment_id for i in store.items()] == ["big"]
    upload(store, 1, "next", fake_mp4(100))
    assert [i.segment_id for i in store.items()] == ["next"]


def test_a_retry_with_the_same_id_replaces_the_video(tmp_path: Path) -> None:
    store = VideoStore(tmp_path)
    first = upload(store, 1, "seg", fake_mp4(500))
    second = upload(store, 1, "seg", fake_mp4(700, b"x"))
    assert store.items() == [second] and second.serial > first.serial
    assert (tmp_path / "car_1" / "seg.mp4").read_bytes() == fake_mp4(700, b"x")


def test_telemetry_is_stored_beside_its_clip_in_either_order(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_telemetry_bytes=1000)
    document = json.dumps({"channels": ["speed_mps"], "speed_mps": [40.0, 41.0]}).encode()
    attached, _ = store.store_telemetry(1, "early", document)
    assert attached is None  # the video comes later
    late = upload(store, 1, "early", fake_mp4(300), "clip")
    assert late.telemetry_bytes == len(document) and late.has_telemetry
    upload(store, 1, "clip", fake_mp4(300), "clip")
    attached, _ = store.store_telemetry(1, "clip", document)
    assert attached is not None and attached.telemetry_bytes == len(document)
    assert store.telemetry_file(1, "clip").read_bytes() == document
    with pytest.raises(VideoError, match="JSON"):
        store.store_telemetry(1, "clip", b"{not json")
    with pytest.raises(VideoTooLargeError):
        store.store_telemetry(1, "clip", b"[" + b"1," * 600 + b"1]")
    assert store.telemetry_file(1, "clip").read_bytes() == document


def test_telemetry_whose_video_never_comes_is_bounded(tmp_path: Path) -> None:
    store = VideoStore(tmp_path)
    for n in range(MAX_PENDING_TELEMETRY + 3):
        store.store_telemetry(1, f"orphan-{n}", b"{}")
    left = sorted(p.name for p in (tmp_path / "car_1").iterdir())
    assert len(left) == MAX_PENDING_TELEMETRY
    assert "orphan-0.telemetry.json" not in left and f"orphan-{MAX_PENDING_TELEMETRY + 2}.telemetry.json" in left


def test_the_index_is_rebuilt_from_disk_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, segment_budget_bytes=10_000)
    old = upload(store, 1, "old", fake_mp4(1000))
    clip = upload(store, 2, "clip", fake_mp4(1000), "clip")
    store.store_telemetry(2, "clip", b'{"lap": 3}')
    new = upload(store, 1, "new", fake_mp4(1000))
    # A crash mid-upload and between a rename and its metadata, and junk in the folder.
    (tmp_path / "car_1" / ".half.abc.part").write_bytes(b"partial")
    (tmp_path / "car_1" / "nometa.mp4").write_bytes(fake_mp4(100))
    (tmp_path / "car_1" / "gone.json").write_text(json.dumps({"format": 1}))
    (tmp_path / "car_x").mkdir()

    again = VideoStore(tmp_path, segment_budget_bytes=10_000)
    assert [(i.car_id, i.segment_id, i.kind, i.start_s, i.end_s, i.video_bytes) for i in again.items()] == [
        (1, "new", "segment", 1.0, 2.0, 1000),
        (2, "clip", "clip", 1.0, 2.0, 1000),
        (1, "old", "segment", 1.0, 2.0, 1000),
    ]
    assert again.get(2, "clip") is not None and again.get(2, "clip").has_telemetry  # type: ignore[union-attr]
    assert sorted(p.name for p in (tmp_path / "car_1").iterdir()) == ["new.json", "new.mp4", "old.json", "old.mp4"]
    # Newer uploads still sort after the old ones, and a smaller budget applies at start.
    newest = upload(again, 1, "newest", fake_mp4(1000))
    assert newest.serial > new.serial > old.serial and clip.serial > old.serial
    smaller = VideoStore(tmp_path, segment_budget_bytes=2000)
    assert [i.segment_id for i in smaller.items() if i.kind == "segment"] == ["newest", "new"]
