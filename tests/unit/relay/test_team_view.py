"""What the relay keeps of each car for the dashboard: track maps from the track file, else learned
from the car's laps and cached on disk for the next session; lap tables per car."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapters.demo import DemoAdapter
from relay.team_view import TRACK_FILES_DIR, TeamView
from relay.track_map import TrackMap, align_rms_m, map_from_track_file

LAP_FRAMES = 60 * 100  # a demo lap is about 95 s


def demo_session() -> tuple[DemoAdapter, dict[str, Any]]:
    adapter = DemoAdapter(seed=2, laps=5)
    adapter.connect(0.0)
    info = adapter.session_info
    assert info is not None
    session = info.to_dict()
    return adapter, session


def feed_laps(view: TeamView, car_id: int, adapter: DemoAdapter, laps: float) -> None:
    remaining = int(laps * LAP_FRAMES)
    while remaining > 0:
        block = adapter.generate_block(min(600, remaining))
        view.feed(car_id, block)
        remaining -= len(block)


def test_the_track_file_gives_the_map_before_any_lap(tmp_path: Path) -> None:
    adapter, session = demo_session()
    view = TeamView(tmp_path / "maps")
    view.on_session(1, session)
    doc = view.track_map(1)
    assert doc is not None and doc["source"] == "file"
    expected = map_from_track_file(json.loads((TRACK_FILES_DIR / "pitbox_park.json").read_text()))
    assert align_rms_m(expected.points_m, TrackMap.from_dict(doc).points_m) < 0.05
    assert view.laps(1) is not None and view.laps(2) is None and view.track_map(2) is None


def test_a_track_without_a_file_is_learned_from_the_laps_and_cached_for_the_next_session(tmp_path: Path) -> None:
    no_files = tmp_path / "no-track-files"
    no_files.mkdir()
    adapter, session = demo_session()
    view = TeamView(tmp_path / "maps", track_files_dir=no_files)
    view.on_session(3, session)
    assert view.track_map(3) is None  # nothing known before a clean lap
    feed_laps(view, 3, adapter, 3.2)
    learned = view.track_map(3)
    assert learned is not None and learned["source"] == "gps" and learned["laps_used"] >= 1
    cached = list((tmp_path / "maps").glob("*.json"))
    assert len(cached) == 1

    truth = map_from_track_file(json.loads((TRACK_FILES_DIR / "pitbox_park.json").read_text()))
    assert align_rms_m(truth.points_m, TrackMap.from_dict(learned).points_m) < 0.01 * truth.length_m

    next_session = TeamView(tmp_path / "maps", track_files_dir=no_files)
    next_session.on_session(5, session)
    assert next_session.track_map(5) == learned  # there from the first frame of the next session


def test_a_damaged_cached_map_is_learned_again(tmp_path: Path) -> None:
    no_files = tmp_path / "none"
    no_files.mkdir()
    adapter, session = demo_session()
    first = TeamView(tmp_path / "maps", track_files_dir=no_files)
    first.on_session(1, session)
    feed_laps(first, 1, adapter, 3.2)
    (cached,) = (tmp_path / "maps").glob("*.json")
    cached.write_text('{"track": "pitbox_park", "points": "garbage"}')

    second = TeamView(tmp_path / "maps", track_files_dir=no_files)
    second.on_session(1, session)
    assert second.track_map(1) is None
    adapter2, _ = demo_session()
    feed_laps(second, 1, adapter2, 3.2)
    relearned = second.track_map(1)
    assert relearned is not None and relearned["source"] == "gps"
    assert json.loads(cached.read_text())["points"] == relearned["points"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "..\\x"])
def test_a_track_name_is_never_a_path(tmp_path: Path, name: str) -> None:
    files = tmp_path / "tracks"
    files.mkdir()
    shutil.copy(TRACK_FILES_DIR / "pitbox_park.json", tmp_path / "passwd.json")
    view = TeamView(tmp_path / "maps", track_files_dir=files)
    view.on_session(1, {"track": {"name": name, "config": ""}})
    assert view.track_map(1) is None
