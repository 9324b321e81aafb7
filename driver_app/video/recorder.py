"""`VideoRecorder`: capture, encode, the replay buffer, clips and uploads, tied together.

Three threads, none of them the pipeline's asyncio loop:

1. **capture** (`capture.ScreenCapture`): grabs the target at the configured rate and puts each
   frame in a queue bounded by `max_queue_bytes` (64 MB: ~17 frames at 1080p BGRA). A frame that
   finds the queue full is dropped and counted (`stats.dropped`): the capture never waits for the
   encoder.
2. **encode**: scales and encodes the frames into fragmented-MP4 segments of `segment_s` seconds
   (`encoder.SegmentWriter`), each starting with a keyframe. A finished segment gets the session
   time of each frame (`clockmap.ClockMap`, fed by the pipeline), goes into the replay buffer
   (`replay_buffer.ReplayBuffer`: the last 60 s, within a disk budget) and, when sharing
   segments, to the uploader.
3. **clips** (lower priority): a clip request waits until the video has passed the end of its
   window, then is cut, drawn on and saved with its telemetry (`clips.build_clip`) into the
   clips folder, reported (`ClipSaved`) and uploaded.

`request_clip` is called from the pipeline (voice "clip that", the tray's "Save clip", incidents
from coaching); incident requests that fall within `INCIDENT_MERGE_S` of a pending incident clip
join it instead of making another clip of the same seconds. `stop()` ends the capture, finishes
the segment being written, builds the clips still waiting (with the video there is) and deletes
the replay buffer; clips stay. Clips saved but never uploaded (the relay was away, the app quit)
are offered to the uploader again at the next start.

Folders: `folder/replay/RUN/seg-*.mp4` (transient, one folder per start) and `folder/clips/clip-*.mp4` with
`clip-*.telemetry.json` beside each, and `clip-*.uploaded` once the relay has both.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from driver_app.video.capture import CapturedFrame, CaptureTarget, ScreenCapture
from driver_app.video.clips import Clip, ClipEvent, ClipRequest, build_clip, telemetry_path_for
from driver_app.video.clockmap import ClockMap
from driver_app.video.config import VideoConfig
from driver_app.video.encoder import EncoderChoice, SegmentWriter, select_encoder
from driver_app.video.errors import ClipError, EncoderError, VideoError
from driver_app.video.replay_buffer import ReplayBuffer, Segment
from driver_app.video.telemetry_window import TelemetryRing
from driver_app.video.uploader import JobKind, UploadJob, VideoUploader

logger = logging.getLogger(__name__)

INCIDENT_MERGE_S: Final = 5.0
UPLOADED_SUFFIX: Final = ".uploaded"
MAX_RESUBMITTED_CLIPS: Final = 16
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class ClipSaved:
    """A clip and its telemetry are on disk (and queued for upload when sharing)."""

    clip: Clip


@dataclass(frozen=True, slots=True)
class VideoProblem:
    """Something went wrong with video; `stopped` when the recording ended because of it."""

    text: str
    stopped: bool = False


RecorderEvent = ClipSaved | VideoProblem


@dataclass(slots=True)
class RecorderStats:
    frames_captured: int = 0
    frames_encoded: int = 0
    dropped: int = 0
    """Frames captured but not encoded (the encoder fell behind)."""
    segments: int = 0
    clips: int = 0
    clip_failures: int = 0
    encode_s: float = 0.0
    """Thread time of the encode thread."""
    clip_s: float = 0.0
    """Thread time spent building clips."""


def _lower_thread_priority() -> None:
    """Best effort: this thread yields to the capture and the sim."""
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1)  # THREAD_PRIORITY_BELOW_NORMAL
        elif sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # a Linux thread is a task
    except (OSError, AttributeError) as exc:
        logger.debug("could not lower the clip thread's priority: %s", exc)


class VideoRecorder:
    """See the module docstring. `start()`, `request_clip(...)`, `stop()`."""

    def __init__(
        self,
        config: VideoConfig,
        *,
        clock_map: ClockMap | None = None,
        telemetry: TelemetryRing | None = None,
        uploader: VideoUploader | None = None,
        on_event: Callable[[RecorderEvent], None] | None = None,
        car_id: Callable[[], int | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config.check()
        self.config = config
        self.preset = config.preset
        self.clock = clock
        self.clock_map = clock_map if clock_map is not None else ClockMap()
        self.telemetry = telemetry if telemetry is not None else TelemetryRing()
        self.uploader = uploader
        self.on_event = on_event
        self.car_id = car_id
        folder = config.folder if config.folder is not None else Path(tempfile.gettempdir()) / "pitbox-video"
        self.folder = folder
        self.clips_dir = folder / "clips"
        self.replay = ReplayBuffer(folder / "replay", keep_s=config.keep_s, max_bytes=config.max_disk_bytes)
        self.stats = RecorderStats()
        self.capture: ScreenCapture | None = None
        self.encoder: EncoderChoice | None = None
        self.size: tuple[int, int] | None = None
        self.run_tag = ""
        self._queue: queue.Queue[object] = queue.Queue()
        self._encode_thread: threading.Thread | None = None
        self._clip_thread: threading.Thread | None = None
        self._pending: list[ClipRequest] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._encoding_done = False
        self._running = False
        self._stop_lock = threading.Lock()

    # ---------------------------------------------------------------- life cycle

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Start capturing; VideoError (CaptureError, EncoderError) when it cannot."""
        if self._running:
            return
        self.encoder = select_encoder(self.config.encoder)
        self.run_tag = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        self.replay = ReplayBuffer(
            self.folder / "replay" / self.run_tag, keep_s=self.config.keep_s, max_bytes=self.config.max_disk_bytes
        )
        _claim_run_folder(self.replay.folder)
        self.replay.prepare()
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = self._encoding_done = False
        self.capture = ScreenCapture(
            CaptureTarget.parse(self.config.target),
            self.config.fps,
            self._on_frame,
            backend=self.config.backend,
            display=self.config.display,
            clock=self.clock,
            on_error=self._on_capture_error,
        )
        try:
            region = self.capture.start()
        except VideoError:
            _release_run_folder(self.replay.folder)
            raise
        self.size = self.preset.fit(region.width, region.height)
        frame_bytes = region.width * region.height * 4
        self._queue = queue.Queue(maxsize=max(2, self.config.max_queue_bytes // frame_bytes))
        self._encode_thread = threading.Thread(target=self._encode_main, name="pitbox-video-encode", daemon=True)
        self._clip_thread = threading.Thread(target=self._clip_main, name="pitbox-video-clips", daemon=True)
        self._running = True
        self._encode_thread.start()
        self._clip_thread.start()
        logger.info(
            "video: %s (%dx%d) -> %dx%d at %d fps with %s, %s s segments, capture by %s",
            self.config.target or "monitor:1",
            region.width,
            region.height,
            *self.size,
            self.config.fps,
            self.encoder.name,
            self.config.segment_s,
            self.capture.grabber_name,
        )
        self._offer_unsent_clips()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop capturing, finish the segment and the waiting clips, delete the replay buffer (bounded).

        Safe from any thread and more than once: a second caller waits for the first to finish.
        """
        with self._stop_lock:
            if self._running:
                self._stop(timeout_s)

    def _stop(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._stopping = True  # no new clip requests; the waiting ones are built once encoding ends
            self._cond.notify_all()
        if self.capture is not None:
            self.capture.stop()
        self._put_stop()
        if self._encode_thread is not None:
            self._encode_thread.join(max(0.1, deadline - time.monotonic()))
        if self._clip_thread is not None:
            self._clip_thread.join(max(0.1, deadline - time.monotonic()))
            if self._clip_thread.is_alive():
                logger.warning("video: clips still being built after %.0f s", timeout_s)
        self.replay.clear()
        _release_run_folder(self.replay.folder)
        self._running = False
        capture = self.capture
        logger.info(
            "video stopped: %d frames captured, %d encoded, %d dropped, %d skipped, %d segments, %d clips",
            self.stats.frames_captured,
            self.stats.frames_encoded,
            self.stats.dropped,
            0 if capture is None else capture.stats.skipped,
            self.stats.segments,
            self.stats.clips,
        )

    def _put_stop(self) -> None:
        while True:
            try:
                self._queue.put(_STOP, timeout=0.5)
                return
            except queue.Full:
                if self._encode_thread is None or not self._encode_thread.is_alive():
                    return

    # ---------------------------------------------------------------- the pipeline's side

    def note_time(self, session_s: float) -> None:
        """The pipeline just read a frame with this session time (keeps the clocks mapped)."""
        self.clock_map.add(self.clock(), session_s)

    def request_clip(
        self,
        source: str,
        *,
        at_s: float | None = None,
        detail: str = "",
        before_s: float | None = None,
        after_s: float | None = None,
    ) -> str:
        """Ask for a clip around session time `at_s` (None: now); returns the clip's id (thread-safe).

        VideoError when the recorder is not running.
        """
        if not self._running or self._stopping:
            raise VideoError("video is off: no clip can be made")
        now_mono = self.clock()
        at_mono = now_mono if at_s is None or self.clock_map.empty else self.clock_map.to_mono(at_s)
        at_mono = min(at_mono, now_mono)
        event = ClipEvent(self.clock_map.to_session(at_mono) if at_s is None else at_s, source, detail)
        with self._cond:
            if _is_incident(source):
                for i, pending in enumerate(self._pending):
                    if _is_incident(pending.source) and abs(pending.at_mono_s - at_mono) <= INCIDENT_MERGE_S:
                        self._pending[i] = dataclasses.replace(pending, events=(*pending.events, event))
                        return pending.clip_id
            clip_id = f"clip-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            request = ClipRequest(
                clip_id,
                at_mono,
                self.config.clip_before_s if before_s is None else before_s,
                self.config.clip_after_s if after_s is None else after_s,
                (event,),
            )
            self._pending.append(request)
            self._cond.notify_all()
        logger.info("clip %s requested (%s) at %.2f s", clip_id, source, event.at_s)
        return clip_id

    # ---------------------------------------------------------------- capture thread

    def _on_frame(self, frame: CapturedFrame) -> None:
        self.stats.frames_captured += 1
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.stats.dropped += 1

    def _on_capture_error(self, exc: Exception) -> None:
        if self._running:
            logger.error("video capture stopped: %s", exc)
            self._emit(VideoProblem(f"Video capture stopped: {exc}", stopped=True))
            self._put_stop()

    # ---------------------------------------------------------------- encode thread

    def _encode_main(self) -> None:
        assert self.encoder is not None and self.size is not None
        width, height = self.size
        writer: SegmentWriter | None = None
        segment_start_s = 0.0
        segment_limit_s = self.config.segment_s - 0.5 / self.preset.fps
        index = 0
        started = time.thread_time()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                assert isinstance(item, CapturedFrame)
                if writer is not None and item.t_s - segment_start_s >= segment_limit_s:
                    self._finish_segment(writer)
                    writer = None
                if writer is None:
                    segment_id = f"seg-{self.run_tag}-{index:05d}"
                    index += 1
                    writer = SegmentWriter(
                        self.replay.folder / f"{segment_id}.mp4",
                        self.encoder,
                        width,
                        height,
                        self.preset.fps,
                        max_bitrate=self.preset.max_bitrate,
                    )
                    segment_start_s = item.t_s
                writer.add(item.pixels, item.t_s)
                self.stats.frames_encoded += 1
            if writer is not None and writer.frames:
                self._finish_segment(writer)
                writer = None
        except (EncoderError, OSError) as exc:
            logger.error("video encoding stopped: %s", exc)
            self._emit(VideoProblem(f"Video encoding stopped: {exc}", stopped=True))
            if self.capture is not None:
                self.capture.stop(timeout_s=0)
        except Exception:
            logger.exception("the video encoder failed")
            self._emit(VideoProblem("Video encoding failed (see the log)", stopped=True))
        finally:
            if writer is not None:
                writer.abandon()
            self.stats.encode_s += time.thread_time() - started
            with self._cond:
                self._encoding_done = True
                self._cond.notify_all()

    def _finish_segment(self, writer: SegmentWriter) -> None:
        written = writer.close()
        segment = Segment(
            written.path.stem,
            written.path,
            written.bytes,
            written.frame_times_s,
            self.clock_map.to_session_array(written.frame_times_s),
            written.width,
            written.height,
            self.preset.fps,
            written.encoder,
        )
        self.replay.add(segment)
        self.stats.segments += 1
        with self._cond:
            self._cond.notify_all()
        if self.uploader is not None and self.config.upload == "all" and self.replay.pin([segment.segment_id]):
            job = UploadJob(JobKind.SEGMENT, segment.segment_id, segment.path, segment.start_s, segment.end_s)
            self.uploader.submit(job)

    # ---------------------------------------------------------------- clip thread

    def _clip_main(self) -> None:
        _lower_thread_priority()
        while True:
            with self._cond:
                while not (ready := self._ready_clips()) and not (self._stopping and self._encoding_done):
                    self._cond.wait()
                if not ready:  # stopped, encoding over, nothing left to build
                    return
                for request in ready:
                    self._pending.remove(request)
            for request in ready:
                self._build(request)

    def _ready_clips(self) -> list[ClipRequest]:
        """Clips whose window the video has passed; all of them once encoding ended (under the condition's lock)."""
        if self._encoding_done:
            return list(self._pending)
        newest = self.replay.newest()
        if newest is None:
            return []
        return [r for r in self._pending if r.end_mono_s <= newest.end_mono_s]

    def _build(self, request: ClipRequest) -> None:
        assert self.encoder is not None
        started = time.thread_time()
        segments = self.replay.covering(request.start_mono_s, request.end_mono_s)
        pinned = self.replay.pin(s.segment_id for s in segments)
        try:
            window = self.clock_map.to_session_array(np.array([request.start_mono_s, request.end_mono_s]))
            telemetry = self.telemetry.window(float(window[0]), float(window[1]))
            clip = build_clip(
                request,
                [s for s in segments if s.segment_id in pinned],
                telemetry,
                self.clock_map,
                self.clips_dir,
                self.encoder,
                overlay=self.config.overlay,
                car_id=self.car_id(),
                max_bitrate=self.preset.max_bitrate,
            )
        except (ClipError, VideoError, OSError) as exc:
            self.stats.clip_failures += 1
            logger.warning("clip %s not saved: %s", request.clip_id, exc)
            self._emit(VideoProblem(f"Clip not saved: {exc}"))
            return
        except Exception:
            self.stats.clip_failures += 1
            logger.exception("building clip %s failed", request.clip_id)
            self._emit(VideoProblem("Clip not saved (see the log)"))
            return
        finally:
            self.replay.unpin(pinned)
            self.stats.clip_s += time.thread_time() - started
        self.stats.clips += 1
        self._emit(ClipSaved(clip))
        self._upload_clip(clip.path, clip.start_s, clip.end_s)

    # ---------------------------------------------------------------- uploads

    def _upload_clip(self, path: Path, start_s: float, end_s: float) -> None:
        if self.uploader is None or self.config.upload == "none":
            return
        telemetry = telemetry_path_for(path)
        job = UploadJob(
            JobKind.CLIP, path.stem, path, start_s, end_s, telemetry_path=telemetry if telemetry.exists() else None
        )
        self.uploader.submit(job)

    def upload_done(self, job: UploadJob, ok: bool) -> None:
        """An `on_done` for the uploader: see `upload_finished`."""
        upload_finished(job, ok, self.replay)

    def _offer_unsent_clips(self) -> None:
        """Clips saved by an earlier run and never delivered go to the uploader again (newest first)."""
        if self.uploader is None or self.config.upload == "none":
            return
        unsent = [p for p in self.clips_dir.glob("clip-*.mp4") if not _uploaded_marker(p).exists()]
        unsent.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for path in reversed(unsent[:MAX_RESUBMITTED_CLIPS]):
            start_s, end_s = _clip_window(path)
            self._upload_clip(path, start_s, end_s)

    def _emit(self, event: RecorderEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("video event handler failed")


_active_runs: set[Path] = set()
_runs_lock = threading.Lock()


def _is_incident(source: str) -> bool:
    return source.startswith("incident")


def _claim_run_folder(folder: Path) -> None:
    """Mark `folder` as this process's, and delete the replay folders no recorder here uses (a crash's)."""
    with _runs_lock:
        _active_runs.add(folder)
        active = set(_active_runs)
    if folder.parent.is_dir():
        for old in folder.parent.iterdir():
            if old.is_dir() and old not in active:
                shutil.rmtree(old, ignore_errors=True)


def _release_run_folder(folder: Path) -> None:
    with _runs_lock:
        _active_runs.discard(folder)
    shutil.rmtree(folder, ignore_errors=True)


def upload_finished(job: UploadJob, ok: bool, replay: ReplayBuffer | None) -> None:
    """An upload ended: a segment is released from the replay buffer, a delivered clip is marked."""
    if job.kind is JobKind.SEGMENT:
        if replay is not None:
            replay.unpin([job.segment_id])
    elif ok:
        try:
            _uploaded_marker(job.path).touch()
        except OSError as exc:
            logger.warning("cannot mark %s as uploaded: %s", job.path.name, exc)


def _uploaded_marker(clip_path: Path) -> Path:
    return clip_path.with_name(clip_path.stem + UPLOADED_SUFFIX)


def _clip_window(path: Path) -> tuple[float, float]:
    """A saved clip's window from its telemetry file (0, 0 when it cannot be read)."""
    try:
        document = json.loads(telemetry_path_for(path).read_text(encoding="utf-8"))
        window = document["window"]
        return float(window["start_s"]), float(window["end_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0, 0.0
