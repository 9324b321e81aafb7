"""What the relay remembers of every car for the dashboard: lap tables, lap traces and track maps.

The server feeds it each car's new frames and session info; the dashboard's HTTP side reads it.
Track maps come, best first, from a track file shipped in `assets/tracks/` (the track's own
outline), from a map learned earlier and cached on disk (one JSON file per track, so the map is
there from the first lap of the next session), or from the laps of this session. A learned map is
written to the cache when it improves (more laps averaged).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from adapters.model import FrameBlock
from relay.car_history import CarHistory
from relay.errors import RelayError
from relay.track_map import TrackMap, map_from_track_file, track_key

logger = logging.getLogger(__name__)

TRACK_FILES_DIR: Final = Path(__file__).resolve().parent.parent / "assets" / "tracks"
"""PitBox's own track files (the demo circuit): beside the packages, at the repository or bundle root."""


class TeamView:
    """Per-car histories and per-track maps (reads track files, writes the learned-map cache)."""

    def __init__(self, cache_dir: Path | None = None, *, track_files_dir: Path = TRACK_FILES_DIR) -> None:
        self.cache_dir = cache_dir
        self.track_files_dir = track_files_dir
        self.histories: dict[int, CarHistory] = {}
        self._sessions: dict[int, Mapping[str, Any]] = {}
        self._maps: dict[str, TrackMap] = {}
        self._map_docs: dict[str, dict[str, Any]] = {}
        self._looked_up: set[str] = set()

    def history(self, car_id: int) -> CarHistory:
        history = self.histories.get(car_id)
        if history is None:
            history = self.histories[car_id] = CarHistory(car_id)
        return history

    def on_session(self, car_id: int, session: Mapping[str, Any]) -> None:
        if self._sessions.get(car_id) is session:
            return
        self._sessions[car_id] = session
        self.history(car_id).on_session(session)

    def feed(self, car_id: int, block: FrameBlock) -> None:
        history = self.history(car_id)
        if history.feed(block):
            self._learn(car_id, history)

    # ---------------------------------------------------------------- reading

    def laps(self, car_id: int) -> dict[str, Any] | None:
        history = self.histories.get(car_id)
        return None if history is None else history.laps_view()

    def best_lap(self, car_id: int) -> dict[str, Any] | None:
        history = self.histories.get(car_id)
        return None if history is None else history.best_trace()

    def segments(self, car_id: int) -> dict[str, Any] | None:
        history = self.histories.get(car_id)
        return None if history is None else history.segment_losses()

    def track_map(self, car_id: int) -> dict[str, Any] | None:
        """The map of the track this car is on (None until one is known)."""
        session = self._sessions.get(car_id)
        if session is None:
            return None
        key = track_key(session)
        if key not in self._looked_up:
            self._looked_up.add(key)
            self._load(key, session)
        return self._map_docs.get(key)

    # ---------------------------------------------------------------- maps

    def _load(self, key: str, session: Mapping[str, Any]) -> None:
        track = session.get("track")
        name = str(track.get("name", "")) if isinstance(track, Mapping) else ""
        track_file = self.track_files_dir / f"{name}.json" if name and "/" not in name and "\\" not in name else None
        if track_file is not None and track_file.is_file():
            try:
                doc = json.loads(track_file.read_text(encoding="utf-8"))
                self._keep(key, map_from_track_file(doc))
                return
            except (OSError, ValueError, KeyError, TypeError, RelayError) as exc:
                logger.warning("track file %s has no usable outline: %s", track_file, exc)
        cached = self._cache_path(key)
        if cached is not None and cached.is_file():
            try:
                self._keep(key, TrackMap.from_dict(json.loads(cached.read_text(encoding="utf-8"))))
            except (OSError, ValueError, RelayError) as exc:
                logger.warning("cached track map %s is damaged, learning it again: %s", cached, exc)

    def _learn(self, car_id: int, history: CarHistory) -> None:
        session = self._sessions.get(car_id)
        if session is None:
            return
        key = track_key(session)
        self.track_map(car_id)  # loads the file or cached map first, once
        known = self._maps.get(key)
        if known is not None and known.source == "file":
            return
        learned = history.learned_map()
        if learned is None or (known is not None and learned.laps_used <= known.laps_used):
            return
        self._keep(key, learned)
        self._save(key, learned)

    def _keep(self, key: str, track_map: TrackMap) -> None:
        self._maps[key] = track_map
        self._map_docs[key] = track_map.to_dict()

    def _cache_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{key}.json"

    def _save(self, key: str, track_map: TrackMap) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._map_docs[key], handle)
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("track map %s not cached: %s", key, exc)
