"""The driver app's engine, without Qt: sim in, coaching, strategy and the relay out.

`Pipeline.run` reads the chosen adapter at the sim's tick rate, feeds every frame to the coaching
copilot and the live strategy, hands each call to the speech sink, and streams telemetry (10 Hz
batches), session info and strategy results to the relay through `RelayClient`, which buffers and
resends while the relay is away. It listens to the relay for handoff requests, team messages and
remote coaching. It survives the sim starting and stopping (the adapter reconnects) and reports
what happens as `PipelineEvent`s to a callback (the tray app turns them into Qt signals; the demo
prints them). Time comes from `clock` (monotonic seconds), so tests can drive it.

Video (`set_video`): with a `VideoConfig` in the config, switching video on starts a
`driver_app.video.recorder.VideoRecorder` (its own threads: capture, encode, clips). The pipeline
keeps it fed with what only the pipeline knows: the session time of each read (so video frames
carry the telemetry's clock) and a ring of recent frames (the telemetry saved with a clip). Clips
come from the voice command "clip that", the tray's "Save clip" (`save_clip`) and incidents the
copilot records; finished segments and clips go to the relay's dashboard site through a
`VideoUploader` task on this loop. Without a `VideoConfig` (the headless demo, tests) the switch is
remembered and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from adapters import base
from adapters.base import AdapterState, DriverSwap, SessionChanged, SimAdapter, StateChanged
from adapters.errors import AdapterError
from adapters.model import FrameBlock, Lap, SessionInfo, TelemetryFrame, empty_cars, empty_frames
from adapters.pit import PitCommander, RecordingPitCommander
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Call, Message, Priority, Verbosity
from driver_app.coach_files import copilot_files
from driver_app.speech import ConsoleSpeechSink, SpeechSink
from driver_app.video.telemetry_window import TelemetryRing
from driver_app.voice.assistant import Action, CarView, Reply, answer
from driver_app.voice.commands import Command
from relay.client import RelayClient
from relay.protocol import Envelope, MessageType
from strategy.live import LiveStrategy, StrategySnapshot

if TYPE_CHECKING:  # the video modules load av and OpenCV: imported when video starts
    from driver_app.video.config import VideoConfig
    from driver_app.video.recorder import RecorderEvent, VideoRecorder
    from driver_app.video.uploader import UploadJob, VideoUploader

logger = logging.getLogger(__name__)

POLL_S: Final = 1.0 / 120.0
"""The read loop wakes twice per 60 Hz tick: no frame waits long, and the loop sleeps the rest."""
BATCH_FRAMES: Final = 6
"""Frames per telemetry batch: 10 Hz batches at 60 Hz."""
LIVE_VALUES_EVERY_S: Final = 0.1
MAX_FRAMES_PER_STEP: Final = 600
MAX_MESSAGES_REMEMBERED: Final = 1000
FILL_TANK_L: Final = 200.0
""""Fill to the end" before the fuel use is known: more than any tank (the sim stops at full)."""
TEAM_PRIORITY: Final = {
    "urgent": Priority.CRITICAL,
    "high": Priority.IMPORTANT,
    "normal": Priority.REGULAR,
    "low": Priority.REGULAR,
}
VIDEO_UPLOAD_FLUSH_S: Final = 3.0
"""How long stopping waits for video uploads in flight."""


class RelayState(enum.Enum):
    NONE = "none"
    """No relay configured: nothing is streamed."""
    OFFLINE = "offline"
    ONLINE = "online"


# ------------------------------------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class StatusChanged:
    sim: AdapterState
    relay: RelayState
    adapter: str

    @property
    def summary(self) -> str:
        if self.sim is not AdapterState.CONNECTED:
            return "waiting for sim"
        if self.relay is RelayState.ONLINE:
            return "streaming"
        if self.relay is RelayState.OFFLINE:
            return "relay offline"
        return "driving"


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    info: SessionInfo


@dataclass(frozen=True, slots=True)
class CallMade:
    call: Call


@dataclass(frozen=True, slots=True)
class LapFinished:
    lap: Lap


@dataclass(frozen=True, slots=True)
class StrategyUpdated:
    snapshot: StrategySnapshot


@dataclass(frozen=True, slots=True)
class VoiceCommandHandled:
    """A voice command was heard (`intent` None: not understood) and answered with `reply`."""

    heard: str
    intent: str | None
    reply: str


@dataclass(frozen=True, slots=True)
class ClipRequested:
    """The driver asked for a clip of the last seconds (voice "clip that", or the tray menu)."""

    at_s: float
    source: str


@dataclass(frozen=True, slots=True)
class ClipSaved:
    """A clip and its telemetry window were saved (and queued for the relay when video is shared)."""

    clip_id: str
    path: Path
    telemetry_path: Path
    start_s: float
    end_s: float
    """The clip's span in session time."""
    source: str
    complete: bool
    """False when the video did not cover the whole window (capture began late or ended early)."""


@dataclass(frozen=True, slots=True)
class VideoStatus:
    """Video recording started or stopped; `text` says why when it stopped by itself or failed."""

    recording: bool
    text: str = ""


@dataclass(frozen=True, slots=True)
class HandoffPrompt:
    """A handoff for this car changed (requested, accepted, rejected, completed, cancelled)."""

    handoff_id: str
    status: str
    to_driver: str
    from_driver: str
    reason: str
    urgency: str


@dataclass(frozen=True, slots=True)
class TeamMessageReceived:
    message_id: str
    sender: str
    priority: str
    text: str


@dataclass(frozen=True, slots=True)
class LiveValues:
    """The newest values for the window (about 10 a second, not 60)."""

    lap: int
    speed_mps: float
    gear: int
    fuel_l: float
    position: int
    session_time_s: float


PipelineEvent = (
    StatusChanged
    | SessionUpdated
    | CallMade
    | LapFinished
    | StrategyUpdated
    | HandoffPrompt
    | VoiceCommandHandled
    | ClipRequested
    | ClipSaved
    | VideoStatus
    | TeamMessageReceived
    | LiveValues
)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    adapter: str = "auto"
    adapter_options: dict[str, Any] = field(default_factory=dict)
    relay_url: str | None = None
    relay_token: str = field(default="", repr=False)
    relay_fingerprint: str | None = None
    verbosity: Verbosity = Verbosity.NORMAL
    coach_data_dir: Path | None = None
    """Where coaching keeps segment maps and personal bests (None: nothing stored)."""
    spill_dir: Path | None = None
    """Where unacknowledged telemetry spills to disk beyond the memory buffer (None: memory only)."""
    poll_s: float = POLL_S
    video: VideoConfig | None = None
    """How to record when video is switched on (None: the switch is remembered, nothing is recorded)."""
    video_upload_url: str | None = None
    """The relay's dashboard site that takes video uploads (None: the relay's port + 1)."""


@dataclass(slots=True)
class PipelineStats:
    frames_produced: int = 0
    frames_sent: int = 0
    calls: int = 0
    laps: int = 0
    strategy_updates: int = 0


class Pipeline:
    """See the module docstring. Create, then `await run(stop)`; control it from the same loop."""

    def __init__(
        self,
        config: PipelineConfig,
        on_event: Callable[[PipelineEvent], None] | None = None,
        *,
        speech: SpeechSink | None = None,
        adapter: SimAdapter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._emit = on_event if on_event is not None else (lambda event: None)
        self.speech: SpeechSink = speech if speech is not None else ConsoleSpeechSink()
        self._clock = clock
        self.adapter_name = config.adapter
        self.adapter = adapter if adapter is not None else self._create_adapter()
        self.pit: PitCommander = self._pit_commander()
        self.copilot = Copilot(
            settings=CoachSettings(verbosity=config.verbosity), **copilot_files(config.coach_data_dir)
        )
        self.strategy = LiveStrategy()
        self.session: SessionInfo | None = None
        self.stats = PipelineStats()
        self.muted = False
        self.voice_enabled = True
        self.video_enabled = False
        self.handoffs: dict[str, HandoffPrompt] = {}
        self.relay: RelayClient | None = None
        if config.relay_url:
            self.relay = RelayClient(
                config.relay_url,
                config.relay_token,
                fingerprint_sha256=config.relay_fingerprint,
                spill_dir=config.spill_dir,
                include_cars=True,  # every car on track: the team's map and leaderboard
            )
            self.relay.on_state = self._on_relay_state
        self._pending = empty_frames(0)
        """Frames read but not yet in a batch (records, converted once with the copilot's block)."""
        self._pending_cars = empty_cars(0)
        """The other cars at those frames (their rows stay empty when the sim gives none)."""
        self._laps_seen = 0
        self._messages_seen: dict[str, None] = {}
        """Ids of the team messages already spoken (insertion-ordered, bounded)."""
        self._status: StatusChanged | None = None
        self._last_live_s = -math.inf
        self._newest_t = 0.0
        self._newest_frame: TelemetryFrame | None = None
        self._stint_started_s: float | None = None
        """Session time the car last left pit road (or the first frame): the stint's start."""
        self._on_pit_road = False
        self._last_spoken = ""
        """The last thing said to the driver ("repeat that")."""
        self.video: VideoRecorder | None = None
        """The recorder while video runs."""
        self.video_uploader: VideoUploader | None = self._video_uploader()
        self._stopping_videos: list[VideoRecorder] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------- control (from the app)

    @property
    def relay_state(self) -> RelayState:
        if self.relay is None:
            return RelayState.NONE
        return RelayState.ONLINE if self.relay.connected.is_set() else RelayState.OFFLINE

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.speech.set_muted(muted or not self.voice_enabled)

    def set_voice(self, enabled: bool) -> None:
        self.voice_enabled = enabled
        self.speech.set_muted(self.muted or not enabled)

    def set_video(self, enabled: bool) -> None:
        """Video on or off. With a `VideoConfig`, on starts recording (a `VideoError` leaves it off)."""
        if self.config.video is None:
            self.video_enabled = enabled
            return
        if enabled and self.video is None:
            self._start_video(self.config.video)
        elif not enabled and self.video is not None:
            self._stop_video()
        self.video_enabled = self.video is not None

    def configure_video(self, config: VideoConfig | None) -> None:
        """New video settings: a running recorder restarts with them (a `VideoError` leaves video off)."""
        was_on = self.video_enabled
        if self.video is not None:
            self._stop_video()
        self.config = dataclasses.replace(self.config, video=config)
        self.video_enabled = False
        self.set_video(was_on)

    def save_clip(self, source: str = "menu") -> str | None:
        """A clip of the seconds around now (the tray's "Save clip", voice "clip that"); its id, None when
        video is not recording. The clip is saved once the seconds after now have been captured."""
        self._emit(ClipRequested(self.copilot_time(), source))
        if self.video is None:
            return None
        at_s = self.copilot_time() if self._newest_frame is not None else None
        return self._request_clip(self.video, source, at_s, "")

    def set_verbosity(self, verbosity: Verbosity) -> None:
        self.copilot.verbosity = verbosity

    def handle_command(self, command: Command | None, *, heard: str = "") -> Reply:
        """A voice command (None: speech that was not one): act on it and speak the answer."""
        view = CarView(
            frame=self._newest_frame,
            strategy=self.strategy.snapshot() if self._newest_frame is not None else None,
            open_handoff_id=next(
                (h.handoff_id for h in reversed(self.handoffs.values()) if h.status == "requested"), None
            ),
            last_spoken=self._last_spoken,
            stint_started_s=self._stint_started_s,
        )
        reply = answer(command, view)
        text = reply.text
        try:
            self._carry_out(reply, view)
        except (AdapterError, RuntimeError) as exc:
            text = f"That did not work: {exc}"
            logger.warning("voice command %s failed: %s", command, exc)
        self._emit(VoiceCommandHandled(heard, None if command is None else command.intent, text))
        now = self.copilot_time()
        message = Message(text, Priority.VOICE_REPLY, "voice_reply", now, now + 10.0)
        self.speech.say(Call(message, now, -1, 0.0, now + message.speaking_s))
        if reply.action is not Action.REPEAT:
            self._last_spoken = self._last_spoken if command is None else text
        return reply

    def _carry_out(self, reply: Reply, view: CarView) -> None:
        action = reply.action
        if action is Action.PIT_ADD_FUEL and reply.litres is not None:
            self.pit.add_fuel(reply.litres)
        elif action is Action.PIT_FILL_TO_END:
            if reply.litres == 0:
                self.pit.clear_fuel()
            else:
                self.pit.add_fuel(reply.litres if reply.litres is not None else FILL_TANK_L)
        elif action is Action.PIT_CHANGE_TYRES:
            self.pit.change_tyres()
        elif action is Action.PIT_NO_TYRES:
            self.pit.clear_tyres()
        elif action is Action.PIT_FAST_REPAIR:
            self.pit.fast_repair()
        elif action is Action.PIT_CLEAR:
            self.pit.clear()
        elif action is Action.BOX_THIS_LAP:
            fuel = None if view.strategy is None else view.strategy.fuel
            if fuel is not None and fuel.fuel_to_add_l > 0:
                self.pit.add_fuel(math.ceil(fuel.fuel_to_add_l))
            self._tell_team("Driver: boxing this lap", "high")
        elif action is Action.REQUEST_HANDOFF:
            self._tell_team("Driver asks for a driver change", "high")
        elif action in (Action.ACCEPT_HANDOFF, Action.REJECT_HANDOFF) and view.open_handoff_id is not None:
            self.answer_handoff(view.open_handoff_id, action is Action.ACCEPT_HANDOFF)
        elif action is Action.QUIET:
            self.set_verbosity(Verbosity.QUIET)
        elif action is Action.TALK:
            self.set_verbosity(Verbosity.COACHING)
        elif action is Action.CLIP:
            clip_id = self.save_clip("voice")
            if clip_id is None and self.config.video is not None:
                raise RuntimeError("video is off")

    def _track_stint(self, block: FrameBlock) -> None:
        """A stint starts when the car leaves pit road (or with the first frame PitBox sees)."""
        on_pit_road = block.frames["on_pit_road"]
        session_time_s = block.frames["session_time_s"]
        if self._stint_started_s is None or session_time_s[0] < self._stint_started_s:  # or a new session
            self._stint_started_s = float(session_time_s[0])
        before = np.concatenate(([self._on_pit_road], on_pit_road[:-1]))
        exits = np.flatnonzero(before & ~on_pit_road)
        if exits.size:
            self._stint_started_s = float(session_time_s[exits[-1]])
        self._on_pit_road = bool(on_pit_road[-1])

    def _tell_team(self, text: str, priority: str) -> None:
        if self.relay is not None:
            self.relay.send_control(Envelope(MessageType.TEAM_MESSAGE, "", {"text": text, "priority": priority}))

    def answer_handoff(self, handoff_id: str, accept: bool) -> None:
        """The driver's answer to a handoff request, sent to the relay (queued while offline)."""
        if self.relay is None:
            raise RuntimeError("no relay: handoffs come from the relay")
        action = "accept" if accept else "reject"
        self.relay.send_control(
            Envelope(MessageType.HANDOFF_REQUEST, f"answer-{handoff_id}", {"action": action, "handoff_id": handoff_id})
        )

    # ---------------------------------------------------------------- the loop

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        if self.relay is not None:
            self.relay.start()
        listener = asyncio.create_task(self._listen()) if self.relay is not None else None
        uploads = asyncio.create_task(self.video_uploader.run()) if self.video_uploader is not None else None
        self._report_status()
        try:
            while not stop.is_set():
                self.step()
                await asyncio.sleep(self.config.poll_s)  # the tick clock: a stop is seen within one poll
        finally:
            self._flush_batch(force=True)
            self.copilot.finish()
            self._new_laps()
            await self._close_video(uploads)
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            self.adapter.close()

    async def close_relay(self, flush_timeout_s: float = 10.0) -> None:
        """Wait (bounded) until the relay acknowledged everything, then disconnect."""
        if self.relay is not None:
            await self.relay.close(flush_timeout_s=flush_timeout_s)

    def step(self) -> int:
        """One pass: connect if needed, read every tick waiting, process them. Returns frames read."""
        now = self._clock()
        adapter = self.adapter
        if self._status is None:
            self._report_status()
        if adapter.state is not AdapterState.CONNECTED:
            adapter.connect(now)
        frames: list[TelemetryFrame] = []
        # Bounded: a replay at "as fast as possible" must not read a whole session in one pass.
        while len(frames) < MAX_FRAMES_PER_STEP and (frame := adapter.read(now)) is not None:
            frames.append(frame)
        self._handle_adapter_events(adapter.drain_events())
        if frames:
            self._process(frames)
        return len(frames)

    def _process(self, frames: list[TelemetryFrame]) -> None:
        self.stats.frames_produced += len(frames)
        block = FrameBlock.from_frames(frames)
        video = self.video
        if video is not None:
            video.note_time(frames[-1].session_time_s)  # first: the read's moment, for the video clock
            video.telemetry.extend(block.frames)
        for frame in frames:
            self.strategy.on_frame(frame)
        self._track_stint(block)
        for call in self.copilot.process(block):
            self.stats.calls += 1
            self.speech.say(call)
            if call.message.priority is not Priority.SPOTTER:
                self._last_spoken = call.message.text
            self._emit(CallMade(call))
        for incident in self.copilot.drain_incidents():
            if video is not None and video.running:
                self._request_clip(video, f"incident:{incident.kind}", incident.t, incident.detail)
        self._new_laps()
        if self.relay is not None:
            self._pending = np.concatenate((self._pending, block.frames))
            cars = block.cars if block.cars is not None else empty_cars(len(block))
            self._pending_cars = np.concatenate((self._pending_cars, cars))
            self._flush_batch()
        newest = frames[-1]
        self._newest_t = newest.session_time_s
        self._newest_frame = newest
        if newest.session_time_s - self._last_live_s >= LIVE_VALUES_EVERY_S:
            self._last_live_s = newest.session_time_s
            self._emit(
                LiveValues(
                    newest.lap,
                    newest.speed_mps,
                    newest.gear,
                    newest.fuel_level_l,
                    newest.position,
                    newest.session_time_s,
                )
            )

    def _flush_batch(self, *, force: bool = False) -> None:
        if self.relay is None:
            return
        while len(self._pending) >= BATCH_FRAMES or (force and len(self._pending)):
            part, self._pending = self._pending[:BATCH_FRAMES].copy(), self._pending[BATCH_FRAMES:]
            cars, self._pending_cars = self._pending_cars[:BATCH_FRAMES].copy(), self._pending_cars[BATCH_FRAMES:]
            self.relay.send_frames(FrameBlock(part, cars))
            self.stats.frames_sent += len(part)

    def _new_laps(self) -> None:
        laps = self.copilot.laps
        for lap in laps[self._laps_seen :]:
            self.stats.laps += 1
            self.strategy.on_lap(lap)
            snapshot = self.strategy.snapshot()
            self.copilot.on_strategy(snapshot)
            self.stats.strategy_updates += 1
            self._emit(LapFinished(lap))
            self._emit(StrategyUpdated(snapshot))
            if self.relay is not None:
                data = {"strategy": snapshot.to_dict()}
                self.relay.send_control(Envelope(MessageType.STRATEGY_UPDATE, f"strategy-{lap.number}", data))
        self._laps_seen = len(laps)

    def _handle_adapter_events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, SessionChanged | DriverSwap):
                info = event.info if isinstance(event, SessionChanged) else self.adapter.session_info
                if info is None:
                    continue
                self.session = info
                self.copilot.on_session(info)
                self.strategy.on_session(info)
                self._emit(SessionUpdated(info))
                if self.relay is not None:
                    self.relay.send_control(
                        Envelope(
                            MessageType.SESSION_INFO, f"session-{info.update_count}", {"session": _session_data(info)}
                        )
                    )
            elif isinstance(event, StateChanged):
                self._report_status()

    def _on_relay_state(self, state: str) -> None:
        self._report_status()
        relay = self.relay
        if state == "connected" and relay is not None and relay.stats.connects > 1 and self.session is not None:
            # Back after a cut: a relay that restarted without its state learns the session again.
            data = {"session": _session_data(self.session)}
            relay.send_control(Envelope(MessageType.SESSION_INFO, f"session-{self.session.update_count}-again", data))

    def _report_status(self) -> None:
        status = StatusChanged(self.adapter.state, self.relay_state, self.adapter_name)
        if status != self._status:
            self._status = status
            self._emit(status)

    # ---------------------------------------------------------------- the relay's side

    async def _listen(self) -> None:
        assert self.relay is not None
        while True:
            envelope = await self.relay.incoming.get()
            try:
                self._on_relay_message(envelope)
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("ignored a malformed %s from the relay: %s", envelope.type.value, exc)

    def _on_relay_message(self, envelope: Envelope) -> None:
        data = envelope.data
        now = self.copilot_time()
        if envelope.type is MessageType.HANDOFF_REQUEST:
            if self.relay is not None and data.get("car_id") not in (None, self.relay.car_id):
                return  # another car's handoff
            prompt = HandoffPrompt(
                str(data["handoff_id"]),
                str(data.get("status", "requested")),
                str(data.get("to_driver", "")),
                str(data.get("from_driver", "")),
                str(data.get("reason", "")),
                str(data.get("urgency", "normal")),
            )
            self.handoffs[prompt.handoff_id] = prompt
            self._emit(prompt)
            if prompt.status == "requested":
                text = f"Handoff requested to {prompt.to_driver}" + (f", {prompt.reason}" if prompt.reason else "")
                self.copilot.submit(_message(text, Priority.IMPORTANT, "handoff", now, 30.0))
        elif envelope.type is MessageType.TEAM_MESSAGE:
            if not self._first_sight(data):
                return
            received = TeamMessageReceived(
                str(data.get("message_id", "")),
                str(data.get("from", "")),
                str(data.get("priority", "normal")),
                str(data["text"]),
            )
            self._emit(received)
            priority = TEAM_PRIORITY.get(received.priority, Priority.REGULAR)
            self.copilot.submit(_message(f"Team: {received.text}", priority, "team", now, 60.0))
            if self.relay is not None and received.message_id:
                self.relay.send_control(
                    Envelope(
                        MessageType.ACK,
                        f"read-{received.message_id}",
                        {"message_id": received.message_id, "read": True},
                    )
                )
        elif envelope.type is MessageType.AI_COACHING:
            self.copilot.submit(_message(str(data["message"]), Priority.REGULAR, "ai_coaching", now, 20.0))
        elif envelope.type is MessageType.CONNECTION_ESTABLISHED or envelope.type is MessageType.ACK:
            return
        self._report_status()

    def _first_sight(self, data: Mapping[str, Any]) -> bool:
        """A team message not seen before: the relay also sends read receipts and, at sign-in, the
        recent messages; one this driver has read already is not spoken again."""
        message_id = str(data.get("message_id", ""))
        me = self.relay.identity.get("name") if self.relay is not None and self.relay.identity else None
        read_by = data.get("read_by") or ()
        if message_id and (message_id in self._messages_seen or (me is not None and me in read_by)):
            return False
        if message_id:
            self._messages_seen[message_id] = None
            while len(self._messages_seen) > MAX_MESSAGES_REMEMBERED:
                self._messages_seen.pop(next(iter(self._messages_seen)))
        return True

    def copilot_time(self) -> float:
        """The session time of the newest frame (messages from the relay are stamped with it)."""
        return self._newest_t

    # ---------------------------------------------------------------- video

    def _video_uploader(self) -> VideoUploader | None:
        relay = self.relay
        if self.config.video is None or relay is None:
            return None
        from driver_app.video.uploader import VideoUploader, upload_base_url

        base_url = self.config.video_upload_url or upload_base_url(relay.url)
        if base_url.startswith("https://") and not self.config.relay_fingerprint:
            logger.warning("video uploads need the relay's certificate fingerprint (pair again): not uploading")
            return None
        return VideoUploader(
            base_url,
            self.config.relay_token,
            car_id=lambda: relay.car_id,
            fingerprint_sha256=self.config.relay_fingerprint,
            on_done=self._upload_done,
        )

    def _request_clip(self, video: VideoRecorder, source: str, at_s: float | None, detail: str) -> str | None:
        from driver_app.video.errors import VideoError

        try:
            return video.request_clip(source, at_s=at_s, detail=detail)
        except VideoError as exc:  # the recorder is stopping
            logger.info("no clip for %s: %s", source, exc)
            return None

    def _start_video(self, config: VideoConfig) -> None:
        from driver_app.video.recorder import VideoRecorder

        relay = self.relay
        recorder = VideoRecorder(
            config,
            telemetry=TelemetryRing(),
            uploader=self.video_uploader,
            car_id=(lambda: relay.car_id) if relay is not None else (lambda: None),
        )
        recorder.on_event = functools.partial(self._on_video_event, recorder)
        recorder.start()  # raises VideoError: video stays off
        self.video = recorder
        self._emit(VideoStatus(True))

    def _stop_video(self, text: str = "") -> None:
        """Stop recording without blocking the loop (the recorder finishes its clips on its own thread)."""
        recorder, self.video = self.video, None
        self.video_enabled = False
        if recorder is None:
            return
        self._stopping_videos = [r for r in self._stopping_videos if r.running]
        self._stopping_videos.append(recorder)
        threading.Thread(target=recorder.stop, name="pitbox-video-stop", daemon=True).start()
        self._emit(VideoStatus(False, text))

    def _on_video_event(self, recorder: VideoRecorder, event: RecorderEvent) -> None:
        """From the recorder's threads: handled on the loop (or at once before the loop runs)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._video_event(recorder, event)
        else:
            loop.call_soon_threadsafe(self._video_event, recorder, event)

    def _video_event(self, recorder: VideoRecorder, event: RecorderEvent) -> None:
        from driver_app.video.recorder import ClipSaved as RecorderClipSaved

        if isinstance(event, RecorderClipSaved):
            clip = event.clip
            self._emit(
                ClipSaved(
                    clip.clip_id,
                    clip.path,
                    clip.telemetry_path,
                    clip.start_s,
                    clip.end_s,
                    clip.source,
                    clip.complete,
                )
            )
        elif event.stopped:
            if recorder is self.video:
                self._stop_video(event.text)
        else:
            logger.warning("video: %s", event.text)
            self._emit(VideoStatus(self.video is not None, event.text))

    def _upload_done(self, job: UploadJob, ok: bool) -> None:
        from driver_app.video.recorder import upload_finished

        upload_finished(job, ok, None if self.video is None else self.video.replay)

    async def _close_video(self, uploads: asyncio.Task[None] | None) -> None:
        """At the end of `run`: stop recording (clips finish), give uploads a moment, stop the uploader."""
        recorder, self.video = self.video, None
        stopping = [r for r in (*self._stopping_videos, recorder) if r is not None]
        self._stopping_videos = []
        for video in stopping:
            await asyncio.to_thread(video.stop)
        if uploads is not None:
            if self.video_uploader is not None and not uploads.done():
                await self.video_uploader.wait_idle(VIDEO_UPLOAD_FLUSH_S)
            uploads.cancel()
            await asyncio.gather(uploads, return_exceptions=True)

    # ---------------------------------------------------------------- set-up

    def _create_adapter(self) -> SimAdapter:
        name = base.auto_select(None if self.config.adapter == "auto" else self.config.adapter)
        self.adapter_name = name
        return base.create(name, **self.config.adapter_options)

    def _pit_commander(self) -> PitCommander:
        if self.adapter_name == "iracing":
            from adapters.iracing import IRacingPitCommander

            return IRacingPitCommander()
        return RecordingPitCommander()


def _message(text: str, priority: Priority, category: str, now_s: float, stale_s: float) -> Message:
    return Message(
        text=text,
        priority=priority,
        category=category,
        created_s=now_s,
        deadline_s=now_s + stale_s,
        key=f"{category}:{text}",
        verbosity=Verbosity.QUIET,
    )


def _session_data(info: SessionInfo) -> dict[str, Any]:
    """Session info as the relay and the dashboard read it (the driver in the car named plainly)."""
    data = dict(info.to_dict())
    player = info.player
    data["driver"] = player.driver_name if player is not None else ""
    data["player_car_idx"] = info.player_car_idx
    data["max_fuel_l"] = info.max_fuel_l if math.isfinite(info.max_fuel_l) and info.max_fuel_l > 0 else None
    return data
