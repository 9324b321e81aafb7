"""`Copilot`: runs the applications on every frame and arbitrates what they want to say.

Frames in (`process(block)`), calls out (`Call`s, in the order they start). Time is the frames'
session time; nothing here reads a clock, sleeps or touches the network. The only side effect is
what the caller's `memory` does with the segment map and personal best it is handed (the driver
app stores them on disk: `driver_app.coach_files`).

Per frame the work is a handful of comparisons per application; everything per lap (splitting the
lap, its trace, segments, features, the reference) runs once, shortly after the line, on numpy
arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from adapters.laps import split_laps
from adapters.model import FrameBlock, Lap, SessionInfo, empty_frames
from coaching.applications.base import (
    SAMPLE_CHANNELS,
    AnalysedLap,
    CoachSettings,
    PlannedCall,
    Sample,
)
from coaching.applications.brake import BrakeApplication
from coaching.applications.debug import DebugApplication
from coaching.applications.flags import FlagApplication
from coaching.applications.fuel import FuelApplication
from coaching.applications.incident import IncidentApplication
from coaching.applications.pit import PitApplication
from coaching.applications.spotter import SpotterApplication
from coaching.applications.throttle import ThrottleApplication
from coaching.applications.track_guide import TrackGuideApplication
from coaching.arbiter import Arbiter
from coaching.errors import NotEnoughLapError, SegmentStoreError, TrackNotesError
from coaching.history import History, best_sectors, segment_features
from coaching.messages import Call, Message, Verbosity
from coaching.reference import PERSONAL_BEST, SESSION, ReferenceLap, better, is_reference_candidate
from coaching.segments import BRAKE_ON, CornerName, SegmentMap, detect_corners
from coaching.trace import LapTrace
from coaching.tracknotes import TrackNotes
from strategy.live import StrategySnapshot

logger = logging.getLogger(__name__)

LAP_SETTLE_S: Final = 0.6
"""A lap is analysed this long after the line, once the sim's lap counter has surely moved on."""
MAX_BUFFER_FRAMES: Final = 60 * 60 * 10
"""Frames kept while no lap ends (10 minutes at 60 Hz): a lap longer than that is not analysed."""
INITIAL_BUFFER_FRAMES: Final = 8192
SMALL_BLOCK_FRAMES: Final = 8
MAX_INCIDENTS: Final = 1000
WRAP_DROP: Final = 0.5


class TrackMemory(Protocol):
    """What is kept of one track and car between sessions (`driver_app.coach_files.CoachStore`)."""

    def load_segments(self, names: Sequence[CornerName] = ()) -> SegmentMap | None: ...

    def save_segments(self, segments: SegmentMap) -> None: ...

    def load_personal_best(self) -> ReferenceLap | None: ...

    def save_personal_best(self, reference: ReferenceLap) -> None: ...


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """Something that went wrong, for the report and the video clips (session time, lap distance m)."""

    kind: str
    t: float
    lap: int
    lap_dist_m: float
    segment_id: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": round(self.t, 3),
            "lap": self.lap,
            "lap_dist_m": round(self.lap_dist_m, 1),
            "segment": self.segment_id,
            "detail": self.detail,
        }


def default_applications(notes: TrackNotes | None = None) -> list[Any]:
    """Every application, spotter first (the order they see a frame in)."""
    return [
        SpotterApplication(),
        FlagApplication(),
        PitApplication(),
        IncidentApplication(),
        FuelApplication(),
        BrakeApplication(),
        ThrottleApplication(),
        TrackGuideApplication(notes),
        DebugApplication(),
    ]


class Copilot:
    """The on-device race engineer: frames in, calls out.

    `memory(track, car)`: what keeps segment maps and personal bests between sessions (None:
    nothing is kept). `notes(track)`: the track's notes and corner names (None: none). Both raise
    the coaching errors on bad content; reading and writing files is theirs, not the copilot's.
    """

    def __init__(
        self,
        session: SessionInfo | None = None,
        *,
        settings: CoachSettings | None = None,
        applications: Sequence[Any] | None = None,
        memory: Callable[[str, str], TrackMemory] | None = None,
        notes: Callable[[str], TrackNotes] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else CoachSettings()
        self.arbiter = Arbiter(verbosity=self.settings.verbosity)
        self.session: SessionInfo | None = None
        self.segments = SegmentMap(0.0)
        self.history = History()
        self.reference: ReferenceLap | None = None
        self.personal_best: ReferenceLap | None = None
        self.strategy: StrategySnapshot | None = None
        self.notes: TrackNotes | None = None
        self.laps_started = 0
        self.calls_made = 0
        self._memory = memory
        self._notes_for = notes
        self._store: TrackMemory | None = None
        self._custom_apps = applications is not None
        self._set_applications(applications if applications is not None else default_applications())
        self._planned: list[PlannedCall] = []
        self._incidents: list[IncidentEvent] = []
        # The frames since one before the last line crossing, in a growable array: appending a
        # frame is a copy into place, and the lap-end analysis reads a view (no concatenation).
        self._frames = empty_frames(INITIAL_BUFFER_FRAMES)
        self._buffered = 0
        self._lap_no: int | None = None
        self._sim_lap: int | None = None
        self._last_frac = 0.0
        self._crossing_t: float | None = None
        self._last_lap_end_s = float("-inf")
        self._laps: list[Lap] = []
        if session is not None:
            self.on_session(session)

    # ---------------------------------------------------------------- inputs

    @property
    def verbosity(self) -> Verbosity:
        return self.arbiter.verbosity

    @verbosity.setter
    def verbosity(self, value: Verbosity) -> None:
        self.arbiter.verbosity = value

    def on_session(self, session: SessionInfo) -> None:
        """New or updated session info: loads the track's notes, segments and personal best once per track and car."""
        previous = self.session
        self.session = session
        key = _track_car(session)
        if previous is not None and _track_car(previous) == key:
            return
        self.notes = self._load_notes(session)
        names = () if self.notes is None else self.notes.corners
        self.segments = SegmentMap(session.track.length_m, names=names)
        self.reference = self.personal_best = None
        if not self._custom_apps:
            self._set_applications(default_applications(self.notes))
        if self._memory is not None:
            self._store = self._memory(key[0], key[1])
            # Each file on its own: a damaged segment map must not hide (and later overwrite) the
            # personal best, nor the other way round.
            try:
                stored = self._store.load_segments(names)
                if stored is not None:
                    self.segments = stored
            except SegmentStoreError as exc:
                logger.warning("learning this track's segments afresh: %s", exc)
            try:
                self.personal_best = self.reference = self._store.load_personal_best()
            except SegmentStoreError as exc:
                logger.warning("no personal best for this track and car: %s", exc)

    def on_strategy(self, snapshot: StrategySnapshot) -> None:
        """The strategy engine's latest picture (fuel plan, pit window) for the fuel and pit calls."""
        self.strategy = snapshot

    def offer_reference(self, trace: LapTrace, source: str, driver: str = "") -> bool:
        """A lap from elsewhere (a teammate's, through the relay); it becomes the reference if quicker."""
        candidate = ReferenceLap(trace, source, driver)
        if trace.lap_time_s is None or not better(candidate, self.reference):
            return False
        self.reference = candidate
        return True

    def submit(self, message: Message) -> None:
        """Queue a message from outside the applications (a voice reply, a team message, remote coaching)."""
        self.arbiter.submit(message)

    def process(self, block: FrameBlock) -> list[Call]:
        """Feed consecutive frames; returns the calls that started during them, oldest first."""
        n = len(block)
        if n == 0:
            return []
        self._keep(block)
        if n < SMALL_BLOCK_FRAMES:  # one call for every field of a few records
            rows = block.frames[list(SAMPLE_CHANNELS)].tolist()
        else:  # one call per column: cheaper per frame for long blocks
            rows = list(zip(*[getattr(block, name).tolist() for name in SAMPLE_CHANNELS], strict=True))
        in_world = block.in_world.tolist()
        calls: list[Call] = []
        frame_hooks = self._frame_hooks
        arbiter = self.arbiter
        segments = self.segments
        for index, row in enumerate(rows):
            if not in_world[index]:
                continue
            s = Sample._make(row)
            self._track_laps(s, n - index)
            for hook in frame_hooks:
                hook(s, self)
            if self._planned:
                self._release_planned(s)
            if not arbiter.idle:
                segments = self.segments
                in_zone = s.brake > BRAKE_ON or segments.zone_at(s.dist_m) is not None
                ahead_m = segments.next_zone_start_m(s.dist_m)
                clear_ahead_s = ahead_m / s.speed_mps if s.speed_mps > 1.0 else float("inf")
                call = arbiter.step(s.t, self._lap_no or s.lap, s.dist_m, in_zone=in_zone, clear_ahead_s=clear_ahead_s)
                if call is not None:
                    calls.append(call)
        self.calls_made += len(calls)
        return calls

    def finish(self) -> None:
        """End of the stream: analyse a lap whose line crossing was seen but not yet analysed."""
        if self._crossing_t is not None:
            self._complete_laps()

    # ---------------------------------------------------------------- outputs

    @property
    def laps(self) -> tuple[Lap, ...]:
        """Every lap completed so far (analysed or not), oldest first."""
        return tuple(self._laps)

    def drain_incidents(self) -> list[IncidentEvent]:
        drained, self._incidents = self._incidents, []
        return drained

    def segment_name(self, segment_id: str) -> str:
        segment = self.segments.get(segment_id)
        name = segment_id if segment is None else segment.name
        return name[:1].upper() + name[1:]

    def plan(self, call: PlannedCall) -> None:
        self._planned.append(call)
        self._planned.sort(key=lambda c: (c.lap, c.ready_m))

    def record_incident(self, kind: str, sample: Sample, detail: str) -> None:
        zone = self.segments.zone_at(sample.dist_m)
        self._incidents.append(
            IncidentEvent(
                kind, sample.t, self._lap_no or sample.lap, sample.dist_m, None if zone is None else zone.id, detail
            )
        )
        del self._incidents[:-MAX_INCIDENTS]

    # ---------------------------------------------------------------- internals

    def _set_applications(self, applications: Iterable[Any]) -> None:
        self.applications = list(applications)
        self._frame_hooks = [app.on_frame for app in self.applications if hasattr(app, "on_frame")]
        self._lap_start_hooks = [app.on_lap_start for app in self.applications if hasattr(app, "on_lap_start")]
        self._lap_hooks = [app.on_lap for app in self.applications if hasattr(app, "on_lap")]

    def _load_notes(self, session: SessionInfo) -> TrackNotes | None:
        if self._notes_for is None:
            return None
        try:
            return self._notes_for(session.track.name)
        except TrackNotesError as exc:
            logger.warning("track notes ignored: %s", exc)
            return None

    def _keep(self, block: FrameBlock) -> None:
        n = len(block)
        if self._crossing_t is None and self._buffered + n > MAX_BUFFER_FRAMES:
            # No lap has ended for a long time (a long stop, a pause): drop the oldest half.
            self._shift(max(0, self._buffered + n - MAX_BUFFER_FRAMES // 2))
        if self._buffered + n > len(self._frames):
            grown = empty_frames(max(2 * len(self._frames), self._buffered + n))
            grown[: self._buffered] = self._frames[: self._buffered]
            self._frames = grown
        if n == 1:  # live: one tick per call, and a record copy is 8x cheaper than a slice copy
            self._frames[self._buffered] = block.frames[0]
        else:
            self._frames[self._buffered : self._buffered + n] = block.frames
        self._buffered += n

    def _shift(self, start: int) -> None:
        """Forget the buffered frames before `start`."""
        kept = self._buffered - start
        self._frames[:kept] = self._frames[start : self._buffered]
        self._buffered = kept

    def _track_laps(self, s: Sample, frames_left_in_block: int) -> None:
        """Lap numbering consistent with lap distance, lap-start hooks, and lap completion."""
        if self._lap_no is None:
            self._lap_no, self._sim_lap = s.lap, s.lap
            self._lap_started(s)
        elif self._last_frac - s.frac > WRAP_DROP:
            self._lap_no += 1
            self._crossing_t = s.t
            self._lap_started(s)
        elif s.lap != self._sim_lap and 0.1 < s.frac < 0.9:
            self._lap_no = s.lap  # the sim renumbered the lap (a reset or tow): follow it
        self._sim_lap = s.lap
        self._last_frac = s.frac
        if self._crossing_t is not None and s.t - self._crossing_t >= LAP_SETTLE_S:
            self._complete_laps(drop_last=frames_left_in_block - 1)

    def _lap_started(self, s: Sample) -> None:
        self.laps_started += 1
        lap = self._lap_no if self._lap_no is not None else s.lap
        for hook in self._lap_start_hooks:
            hook(lap, s, self)

    def _release_planned(self, s: Sample) -> None:
        lap = self._lap_no if self._lap_no is not None else s.lap
        while self._planned:
            first = self._planned[0]
            if (first.lap, first.ready_m) > (lap, s.dist_m):
                return
            self._planned.pop(0)
            if lap > first.lap or s.dist_m > first.say_before_m:
                self.arbiter.stats.dropped_stale += 1
                continue
            time_left_s = (first.say_before_m - s.dist_m) / max(s.speed_mps, 1.0)
            self.arbiter.submit(
                Message(
                    text=first.text,
                    priority=first.priority,
                    category=first.category,
                    created_s=s.t,
                    deadline_s=s.t + min(time_left_s, 30.0),
                    key=first.key,
                    verbosity=first.verbosity,
                    say_before=(first.lap, first.say_before_m),
                    segment_id=first.segment_id,
                    data=first.data,
                )
            )

    def _complete_laps(self, drop_last: int = 0) -> None:
        """Split the buffered frames (up to the current one) into laps and analyse the new ones."""
        self._crossing_t = None
        upto = self._buffered - drop_last
        joined = FrameBlock(self._frames[:upto])
        laps = [lap for lap in split_laps(joined) if lap.end_time_s > self._last_lap_end_s + 0.5]
        for lap in laps:
            self._analyse(lap, FrameBlock(joined.frames[lap.start_index : lap.end_index].copy()))
            self._last_lap_end_s = lap.end_time_s
        if laps:
            self._shift(max(0, laps[-1].end_index - 1))

    def _analyse(self, lap: Lap, frames: FrameBlock) -> None:
        self._laps.append(lap)
        length = self.segments.track_length_m or (self.session.track.length_m if self.session else 0.0)
        try:
            trace: LapTrace | None = LapTrace.from_block(frames, lap, length)
        except NotEnoughLapError:
            trace = None
        if trace is not None and is_reference_candidate(lap):
            self.segments.learn(detect_corners(trace))
            if self.segments.track_length_m <= 0:
                self.segments.track_length_m = trace.track_length_m
            self._save(lambda store: store.save_segments(self.segments))
        segments = self.segments.segments
        features = segment_features(trace, segments) if trace is not None else {}
        reference = self.reference
        self.history.add(lap, features)
        # Each corner is compared with the clean lap that was quickest through it: the reference
        # lap's sector or a better one from this session. One good lap with one mistake in it does
        # not make that mistake the target.
        candidates = [r.features for r in self.history.records if is_reference_candidate(r.lap)]
        if reference is not None:
            candidates.append(segment_features(reference.trace, segments))
        reference_features = best_sectors(candidates)
        analysed = AnalysedLap(lap, trace, features, reference, reference_features)
        for hook in self._lap_hooks:
            hook(analysed, self)
        if trace is not None and is_reference_candidate(lap):
            driver = _driver_name(self.session)
            candidate = ReferenceLap(trace, SESSION, driver)
            if better(candidate, self.reference):
                self.reference = candidate
            if better(candidate, self.personal_best):
                self.personal_best = ReferenceLap(trace, PERSONAL_BEST, driver)
                self._save(lambda store: store.save_personal_best(self.personal_best))

    def _save(self, action: Any) -> None:
        if self._store is None:
            return
        try:
            action(self._store)
        except OSError as exc:
            logger.warning("could not store coaching data: %s", exc)


def _track_car(session: SessionInfo) -> tuple[str, str]:
    track = session.track.name + (f" {session.track.config}" if session.track.config else "")
    player = next((d for d in session.drivers if d.car_idx == session.player_car_idx), None)
    return track, "unknown car" if player is None else (player.car_path or player.car_name)


def _driver_name(session: SessionInfo | None) -> str:
    if session is None:
        return ""
    player = next((d for d in session.drivers if d.car_idx == session.player_car_idx), None)
    return "" if player is None else player.driver_name
