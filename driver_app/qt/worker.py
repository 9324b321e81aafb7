"""`PipelineWorker`: the pipeline's asyncio loop in one worker thread, talking to Qt only through signals.

The worker owns one Python thread running one asyncio loop. In that loop a `PipelineFactory`
builds the `Pipeline` (and whatever it needs first, such as a local relay), `Pipeline.run` runs
until `stop()`, and the factory closes it (flushing the relay client). Every `PipelineEvent`, and
every other object the factory posts, crosses to the GUI thread through a queued connection and
comes out of `event` there; Qt code never touches the loop directly.

Commands from Qt (`set_muted`, `set_voice`, `set_video`, `set_verbosity`, `answer_handoff`) go to
the loop with `loop.call_soon_threadsafe`; commands given before the pipeline exists are kept and
applied as soon as it does. After each command the loop reports the pipeline's actual switches as
a `Controls` on `controls_changed`, so menus show what the pipeline does, not what was clicked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal, Slot

from coaching.messages import Verbosity
from driver_app.pipeline import Pipeline, PipelineConfig
from driver_app.speech import SpeechSink

logger = logging.getLogger(__name__)

EventCallback = Callable[[Any], None]
"""Receives `PipelineEvent`s (and the factory's own notices) in the loop thread; thread-safe."""

STOP_TIMEOUT_S = 20.0
"""How long `stop()` waits for the thread by default (the relay flush is bounded well below it)."""


class PipelineFactory(Protocol):
    """Builds the pipeline inside the worker's loop and closes it there."""

    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        """The pipeline to run, reporting to `on_event`; may start helpers (tasks that watch `stop`)."""
        ...

    async def close(self, pipeline: Pipeline) -> None:
        """After `run` returned: flush and close the relay client and anything `create` started."""
        ...


@dataclass
class ConfigFactory:
    """The plain case: a `Pipeline` from a `PipelineConfig`; closing flushes the relay (bounded)."""

    config: PipelineConfig
    speech: SpeechSink | None = None
    flush_timeout_s: float = 2.0

    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        return Pipeline(self.config, on_event, speech=self.speech)

    async def close(self, pipeline: Pipeline) -> None:
        await pipeline.close_relay(self.flush_timeout_s)


@dataclass(frozen=True, slots=True)
class Controls:
    """The pipeline's switches as the loop last saw them."""

    muted: bool
    voice_enabled: bool
    video_enabled: bool
    verbosity: Verbosity


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the factory or the worker wants the driver to read (not a pipeline event)."""

    text: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _Failed:
    text: str
    fatal: bool


@dataclass(frozen=True, slots=True)
class _Running:
    pass


@dataclass(frozen=True, slots=True)
class _Stopped:
    pass


class PipelineWorker(QObject):
    """See the module docstring. `start()`, then `stop()`; the signals arrive in the GUI thread."""

    event = Signal(object)
    """A `PipelineEvent` (or a `Notice`) from the loop."""
    controls_changed = Signal(object)
    """A `Controls`: the pipeline's switches after a command (and once when it starts)."""
    running = Signal()
    """The pipeline is built and running."""
    failed = Signal(str)
    """The pipeline could not be built or stopped with an error (the loop ends)."""
    problem = Signal(str)
    """A command failed (the pipeline runs on)."""
    stopped = Signal()
    """The loop has ended and the thread is about to exit."""

    _posted = Signal(object)

    def __init__(
        self, factory: PipelineFactory, parent: QObject | None = None, *, name: str = "pitbox-pipeline"
    ) -> None:
        super().__init__(parent)
        self.factory = factory
        self.name = name
        self.pipeline: Pipeline | None = None
        """Set in the loop thread once built; read it from Qt only for plain values (tests do)."""
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._pending: list[Callable[[Pipeline], None]] = []
        self._finished = False
        # Queued, always: the loop thread posts, the GUI thread delivers.
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    # ---------------------------------------------------------------- life cycle (GUI thread)

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread and its loop (returns once the loop accepts commands)."""
        if self._thread is not None:
            raise RuntimeError("a PipelineWorker starts once")
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("the pipeline thread did not start")

    def request_stop(self) -> None:
        """Ask the loop to stop (returns at once; `stopped` follows)."""
        self._call_soon(self._set_stop)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop the pipeline, close the relay client, join the thread. True when the thread ended."""
        if self._thread is None:
            return True
        self.request_stop()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.error("the pipeline thread did not stop within %.0f s", timeout_s)
            return False
        return True

    def post(self, item: object) -> None:
        """Deliver `item` on `event` in the GUI thread (callable from any thread)."""
        self._posted.emit(item)

    # ---------------------------------------------------------------- commands (GUI thread)

    def set_muted(self, muted: bool) -> None:
        muted = bool(muted)
        self._command(lambda p: p.set_muted(muted))

    def set_voice(self, enabled: bool) -> None:
        enabled = bool(enabled)
        self._command(lambda p: p.set_voice(enabled))

    def set_video(self, enabled: bool) -> None:
        enabled = bool(enabled)
        self._command(lambda p: p.set_video(enabled))

    def set_verbosity(self, verbosity: Verbosity) -> None:
        self._command(lambda p: p.set_verbosity(verbosity))

    def answer_handoff(self, handoff_id: str, accept: bool) -> None:
        accept = bool(accept)
        self._command(lambda p: p.answer_handoff(handoff_id, accept))

    def call(self, command: Callable[[Pipeline], None]) -> None:
        """Run `command(pipeline)` in the loop thread (after the pipeline is built)."""
        self._command(command)

    # ---------------------------------------------------------------- the loop thread

    def _command(self, command: Callable[[Pipeline], None]) -> None:
        self._call_soon(self._apply, command)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or self._finished:
            logger.debug("pipeline not running: %s ignored", getattr(callback, "__name__", callback))
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed between the check and the call
            logger.debug("pipeline loop closed: command ignored")

    def _set_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()

    def _apply(self, command: Callable[[Pipeline], None]) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            self._pending.append(command)
            return
        try:
            command(pipeline)
        except Exception as exc:  # a command must not end the loop
            logger.warning("pipeline command failed: %s", exc)
            self.post(_Failed(str(exc), fatal=False))
        self._report_controls(pipeline)

    def _report_controls(self, pipeline: Pipeline) -> None:
        self.post(Controls(pipeline.muted, pipeline.voice_enabled, pipeline.video_enabled, pipeline.copilot.verbosity))

    def _thread_main(self) -> None:
        try:
            with asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                runner.run(self._main())
        except Exception:
            logger.exception("the pipeline loop failed")
        finally:
            self._finished = True
            self._ready.set()
            self.post(_Stopped())

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._ready.set()
        pipeline: Pipeline | None = None
        try:
            pipeline = await self.factory.create(self.post, self._stop_event)
            self.pipeline = pipeline
            pending, self._pending = self._pending, []
            for command in pending:
                self._apply(command)
            self._report_controls(pipeline)
            self.post(_Running())
            await pipeline.run(self._stop_event)
        except Exception as exc:
            logger.exception("the pipeline stopped with an error")
            self.post(_Failed(f"{type(exc).__name__}: {exc}", fatal=True))
        finally:
            if pipeline is not None:
                try:
                    await self.factory.close(pipeline)
                except Exception:
                    logger.exception("closing the pipeline failed")

    # ---------------------------------------------------------------- the GUI thread

    @Slot(object)
    def _deliver(self, item: object) -> None:
        if isinstance(item, Controls):
            self.controls_changed.emit(item)
        elif isinstance(item, _Running):
            self.running.emit()
        elif isinstance(item, _Failed):
            if item.fatal:
                self.error = item.text
                self.failed.emit(item.text)
            else:
                self.problem.emit(item.text)
        elif isinstance(item, _Stopped):
            self.stopped.emit()
        else:
            self.event.emit(item)
