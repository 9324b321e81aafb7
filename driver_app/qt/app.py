"""The tray app: `pitbox` with no arguments (`run_app`) and `pitbox demo` with a display (`run_demo_app`).

`PitBoxApp` puts the pieces together in the GUI thread: a `PipelineWorker` (the asyncio pipeline
in its own thread), the `TrayController` (icon and menu), the `MainWindow` and the settings
dialog. Pipeline events arrive from the worker's queued signals and go to the window and the
tray; the menu's switches go to the worker, which confirms them. Changing the pairing string or
the sim restarts the pipeline; the other settings apply live.

`run_app` adds what a desktop app needs: one instance per user (a second start shows the first
one's window and exits), settings and app state in the platform's config directory, the
first-run flow (which sim was found; paste a pairing string, start a local relay, or skip: the
pipeline runs meanwhile), start with Windows, and a clean stop on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import platformdirs
from PySide6.QtCore import QEvent, QObject, QSocketNotifier, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from adapters import base
from adapters.f1udp import DEFAULT_LISTEN
from coaching.messages import Verbosity
from driver_app.embedded_relay import EmbeddedRelay
from driver_app.pipeline import (
    ClipSaved,
    HandoffPrompt,
    Pipeline,
    PipelineConfig,
    StatusChanged,
    TeamMessageReceived,
    VideoStatus,
)
from driver_app.qt import autostart
from driver_app.qt.app_state import AppState, app_state_path, load_app_state, save_app_state
from driver_app.qt.first_run import FirstRunChoice, FirstRunDialog, FirstRunResult
from driver_app.qt.main_window import HandoffAnswer, MainWindow
from driver_app.qt.settings_dialog import SettingsDialog
from driver_app.qt.single_instance import SingleInstance
from driver_app.qt.tray import TrayController, status_icon
from driver_app.qt.worker import Controls, EventCallback, Notice, PipelineFactory, PipelineWorker
from driver_app.settings import Settings, SettingsError, config_path, load_settings, save_settings, validate
from driver_app.speech import SpeechSink
from driver_app.udp_listener import f1_adapter_options, f1_packets_arriving
from driver_app.video.config import VideoConfig
from relay.auth import PairingInfo, decode_pairing

logger = logging.getLogger(__name__)

APP_NAME: Final = "PitBox"
RESTART_FIELDS: Final = (
    "pairing",
    "adapter",
    "f1_listen",
    "audio_output",
    "audio_input",
    "push_to_talk",
    "speech_voice",
    "speech_rate_wpm",
    "speech_volume_pct",
)
"""Settings the running pipeline cannot change (the voice takes them when it opens): a new value restarts it."""
DEFAULT_TALK_KEY: Final = "F9"
"""The push-to-talk key in PitBox's own window when the setting is a wheel button or empty."""
MINIMIZED_FLAG: Final = "--minimized"
FLUSH_TIMEOUT_S: Final = 3.0
"""How long quitting waits for the relay to acknowledge buffered telemetry."""

MakeFactory = Callable[[Settings, AppState], PipelineFactory]


# ------------------------------------------------------------------------------------------ the pipeline


def relay_url(info: PairingInfo) -> str:
    host = f"[{info.host}]" if ":" in info.host else info.host
    return f"{'wss' if info.tls else 'ws'}://{host}:{info.port}"


def choose_adapter(configured: str, platform: str = sys.platform, *, f1_listen: str = DEFAULT_LISTEN) -> str:
    """A running sim wins (iRacing's memory, or F1 telemetry arriving on `f1_listen`, listened for a
    quarter of a second); "auto" otherwise means iRacing on Windows (waiting for it), the demo elsewhere."""
    if configured != "auto":
        return configured
    running = base.detect_running()
    if running is not None:
        return running
    if f1_packets_arriving(f1_listen):
        return "f1"
    return "iracing" if platform == "win32" else "demo"


VIDEO_FIELDS: Final = tuple(
    f.name for f in dataclasses.fields(Settings) if f.name.startswith("video_") and f.name != "video_enabled"
)
"""Settings that reconfigure the recorder (a running one restarts with them; the pipeline runs on)."""


def video_config(settings: Settings, folder: Path) -> VideoConfig:
    """The recorder's configuration from the settings; clips and the replay buffer go under `folder`."""
    return VideoConfig(
        target=settings.video_target,
        resolution=settings.video_resolution,
        fps=settings.video_fps,
        segment_s=float(settings.video_segment_s),
        encoder=settings.video_encoder,
        overlay=settings.video_overlay,
        upload=settings.video_upload,
        clip_before_s=float(settings.video_clip_before_s),
        clip_after_s=float(settings.video_clip_after_s),
        folder=folder,
    )


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pitbox", appauthor=False))


@dataclass
class AppPipelineFactory:
    """The tray app's pipeline: the settings' sim, and the team relay, a local relay, or none."""

    settings: Settings
    state: AppState
    data_dir: Path
    speech: SpeechSink | None = None
    flush_timeout_s: float = FLUSH_TIMEOUT_S
    voice: bool = False
    """Speak through the sound card and listen for voice commands (the real app; tests inject `speech`)."""
    embedded: EmbeddedRelay | None = field(default=None, init=False)
    voice_io: Any = field(default=None, init=False)
    """The `driver_app.voice.voice_io.VoiceIO` while the pipeline runs with a voice."""

    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        settings = self.settings
        url: str | None = None
        token = ""
        fingerprint: str | None = None
        video_upload_url: str | None = None
        if settings.pairing:
            info = decode_pairing(settings.pairing)
            url, token, fingerprint = relay_url(info), info.token, info.fingerprint_sha256 or None
        elif self.state.local_relay:
            self.embedded = await EmbeddedRelay.start(self.data_dir / "relay")
            url, token = self.embedded.url, self.embedded.driver_token
            dashboard = self.embedded.server.dashboard
            video_upload_url = dashboard.url.rstrip("/") if dashboard is not None else None
            on_event(
                Notice(
                    f"Local relay running at {url}",
                    f"Team dashboard: {self.embedded.dashboard_url}\nViewer pairing: {self.embedded.viewer_pairing}",
                )
            )
        adapter = await asyncio.to_thread(choose_adapter, settings.adapter, f1_listen=settings.f1_listen)
        config = PipelineConfig(
            adapter=adapter,
            relay_url=url,
            relay_token=token,
            relay_fingerprint=fingerprint,
            verbosity=Verbosity[settings.verbosity.upper()],
            coach_data_dir=self.data_dir / "coach",
            spill_dir=self.data_dir / "spill",
            video=video_config(settings, self.data_dir / "video"),
            video_upload_url=video_upload_url,
        )
        logger.info("pipeline: sim %s, relay %s", adapter, url or "none")
        speech = self.speech
        handle: list[Pipeline] = []
        if speech is None and self.voice:
            from driver_app.voice.voice_io import VoiceIO  # sound libraries load only for the real app

            loop = asyncio.get_running_loop()

            def heard(recognition: Any) -> None:  # a voice.recognition.Recognition, on the listener's thread
                if handle:
                    command, text = recognition.command, recognition.text
                    loop.call_soon_threadsafe(lambda: handle[0].handle_command(command, heard=text))

            self.voice_io = VoiceIO.open(
                output=settings.audio_output,
                microphone=settings.audio_input,
                talk_button=settings.push_to_talk,
                voice=settings.speech_voice,
                rate_wpm=settings.speech_rate_wpm,
                volume_pct=settings.speech_volume_pct,
                on_heard=heard,
            )
            speech = self.voice_io.sink
            for problem in self.voice_io.problems:
                on_event(Notice(problem))
        # F1 listens on the configured port (built here: the pipeline's auto_select would let a running iRacing win).
        sim = base.create("f1", **f1_adapter_options(settings.f1_listen)) if adapter == "f1" else None
        pipeline = Pipeline(config, on_event, speech=speech, adapter=sim)
        handle.append(pipeline)
        return pipeline

    async def close(self, pipeline: Pipeline) -> None:
        try:
            await pipeline.close_relay(self.flush_timeout_s)
        finally:
            if self.voice_io is not None:
                self.voice_io.close()
                self.voice_io = None
            if self.embedded is not None:
                await self.embedded.stop()
                self.embedded = None


# ------------------------------------------------------------------------------------------ the app


class PitBoxApp(QObject):
    """See the module docstring. `start()`, and `shutdown()` after the event loop."""

    quit_requested = Signal()
    """Quit was chosen (menu, closing the window without a tray, a signal); the owner quits."""
    pipeline_stopped = Signal()
    """The current pipeline's thread ended (not on a restart)."""

    def __init__(
        self,
        make_factory: MakeFactory,
        settings: Settings,
        *,
        app_state: AppState | None = None,
        settings_path: Path | None = None,
        state_path: Path | None = None,
        use_tray: bool | None = None,
        restart_on_settings: bool = True,
        parent: QObject | None = None,
    ) -> None:
        """`settings_path`/`state_path` None: nothing is saved (the demo, tests)."""
        super().__init__(parent)
        self.make_factory = make_factory
        self.settings = settings
        self.app_state = app_state if app_state is not None else AppState()
        self.settings_path = settings_path
        self.state_path = state_path
        self.restart_on_settings = restart_on_settings
        self.worker: PipelineWorker | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.first_run_dialog: FirstRunDialog | None = None
        self.restarts = 0
        self._shutting_down = False

        self.tray = TrayController(self, use_tray=use_tray)
        self.window = MainWindow()
        self.window.hide_on_close = self.tray.has_tray
        self.window.setWindowIcon(status_icon("driving"))
        tray = self.tray
        self.window.add_control_actions(
            [tray.action_mute, tray.action_voice, tray.action_video, tray.action_clip, tray.action_settings]
        )
        tray.set_controls(self._controls_of(settings))

        tray.show_requested.connect(self.show_window)
        tray.action_mute.toggled.connect(self._on_mute)
        tray.action_voice.toggled.connect(self._on_voice)
        tray.action_video.toggled.connect(self._on_video)
        tray.action_clip.triggered.connect(self.save_clip)
        tray.action_settings.triggered.connect(self.open_settings)
        tray.action_quit.triggered.connect(self.quit)
        self.window.handoff_answered.connect(self._on_handoff_answer)
        self.window.closed.connect(self.quit)
        self.window.talk.connect(self.push_to_talk)
        self.window.installEventFilter(self)

    # ---------------------------------------------------------------- push to talk

    def _voice_io(self) -> Any:
        """The running pipeline's `VoiceIO` (None without a voice)."""
        factory = None if self.worker is None else self.worker.factory
        return getattr(factory, "voice_io", None)

    def push_to_talk(self, pressed: bool) -> None:
        """The talk key or button: voice commands are captured while it is held."""
        voice = self._voice_io()
        if voice is not None:
            voice.push_to_talk(pressed)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        # The push-to-talk key while PitBox's window has the focus (F9 when the talk control is a
        # wheel button or unset), unless the system-wide hook (voice.talk_button) reports it already.
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and isinstance(event, QKeyEvent):
            setting = self.settings.push_to_talk
            window_key = DEFAULT_TALK_KEY if not setting or setting.startswith("joy") else setting
            voice = self._voice_io()
            hooked = voice is not None and voice.talk_button is not None and window_key == setting
            wanted = QKeySequence(window_key)
            if not hooked and not event.isAutoRepeat() and wanted.count() and event.key() == wanted[0].key():
                self.push_to_talk(event.type() == QEvent.Type.KeyPress)
                return True
        return super().eventFilter(watched, event)

    # ---------------------------------------------------------------- life cycle

    def start(self, *, show_window: bool | None = None) -> None:
        """Start the pipeline; show the window when asked, or when there is no tray to live in."""
        self._start_worker()
        if show_window or (show_window is None and not self.tray.has_tray):
            self.show_window()

    def restart_pipeline(self) -> None:
        """Stop the running pipeline (flushing its relay) and start one from the current settings."""
        old, self.worker = self.worker, None
        if old is not None:
            old.stop()
            old.deleteLater()
        self.restarts += 1
        self._start_worker()

    def shutdown(self) -> None:
        """Stop the pipeline (bounded), hide the tray, close the windows. Safe to call twice."""
        if self._shutting_down:
            return
        self._shutting_down = True
        if self.worker is not None:
            self.worker.stop()
        for dialog in (self.settings_dialog, self.first_run_dialog):
            if dialog is not None:
                dialog.close()
        self.tray.hide()
        self.window.hide_on_close = False
        self.window.hide()

    def quit(self) -> None:
        self.quit_requested.emit()

    def show_window(self) -> None:
        self.window.show_and_raise()

    # ---------------------------------------------------------------- dialogs

    def open_settings(self) -> SettingsDialog:
        """The settings dialog (one at a time, not modal: the pipeline and the window keep going)."""
        dialog = self.settings_dialog
        if dialog is not None and dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
            return dialog
        dialog = SettingsDialog(self.settings, self.settings_path, save=self.settings_path is not None)
        dialog.saved.connect(self.apply_settings)
        self.settings_dialog = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def show_first_run(self, detected: str | None = None) -> FirstRunDialog:
        dialog = FirstRunDialog(detected if detected is not None else base.detect_running())
        dialog.chosen.connect(self.apply_first_run)
        self.first_run_dialog = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def apply_first_run(self, result: FirstRunResult) -> None:
        state = dataclasses.replace(self.app_state, first_run_done=True)
        restart = False
        if result.choice is FirstRunChoice.PAIRING:
            try:
                settings = validate({"pairing": result.pairing}, self.settings)
            except SettingsError as exc:  # the dialog checked it; a race with the file is all that is left
                self.window.show_message(str(exc))
                return
            self._store_settings(settings)
            restart = True
        elif result.choice is FirstRunChoice.LOCAL_RELAY:
            state = dataclasses.replace(state, local_relay=True)
            restart = not self.settings.pairing
        self.app_state = state
        if self.state_path is not None:
            try:
                save_app_state(state, self.state_path)
            except OSError as exc:
                logger.warning("could not save the app state: %s", exc)
        if restart and self.restart_on_settings:
            self.restart_pipeline()

    def apply_settings(self, new: Settings) -> None:
        """Settings saved by the dialog: apply the live ones, restart the pipeline for the rest."""
        old = self.settings
        self.settings = new
        worker = self.worker
        if worker is not None:
            if new.voice_enabled != old.voice_enabled:
                worker.set_voice(new.voice_enabled)
            if new.video_enabled != old.video_enabled:
                worker.set_video(new.video_enabled)
            if new.verbosity != old.verbosity:
                worker.set_verbosity(Verbosity[new.verbosity.upper()])
            if any(getattr(new, f) != getattr(old, f) for f in VIDEO_FIELDS):

                def reconfigure(pipeline: Pipeline) -> None:
                    current = pipeline.config.video
                    if current is not None:  # a pipeline built without video (the demo) stays without
                        folder = current.folder or user_data_dir() / "video"
                        pipeline.configure_video(video_config(new, folder))

                worker.call(reconfigure)
        if new.start_with_windows != old.start_with_windows and autostart.is_supported():
            autostart.set_enabled(new.start_with_windows)
        if self.restart_on_settings and any(getattr(new, f) != getattr(old, f) for f in RESTART_FIELDS):
            self.restart_pipeline()

    # ---------------------------------------------------------------- the worker

    def _start_worker(self) -> None:
        worker = PipelineWorker(self.make_factory(self.settings, self.app_state), self)
        worker.event.connect(self._on_event)
        worker.controls_changed.connect(self._on_controls)
        worker.failed.connect(self._on_failed)
        worker.problem.connect(self.window.show_message)
        worker.stopped.connect(self._on_stopped)
        self.worker = worker
        self.tray.set_status("starting")
        self.window.set_status("starting")
        worker.start()
        settings = self.settings
        worker.set_muted(settings.coach_muted)
        worker.set_voice(settings.voice_enabled)
        worker.set_video(settings.video_enabled)
        worker.set_verbosity(Verbosity[settings.verbosity.upper()])

    def _on_event(self, event: object) -> None:
        self.window.apply(event)
        if isinstance(event, StatusChanged):
            self.tray.set_status(event)
        elif isinstance(event, HandoffPrompt) and event.status == "requested":
            reason = f": {event.reason}" if event.reason else ""
            self.tray.notify("Handoff requested", f"To {event.to_driver}{reason}")
            self.window.show_and_raise()
        elif isinstance(event, TeamMessageReceived) and event.priority in ("urgent", "high"):
            self.tray.notify(f"Team: {event.sender}", event.text)
        elif isinstance(event, ClipSaved):
            self.tray.notify("Clip saved", str(event.path))
        elif isinstance(event, VideoStatus):
            if event.text:
                self.window.show_message(event.text)
            if self.worker is not None:  # the worker reports the pipeline's switches after every command
                self.worker.call(lambda pipeline: None)

    def _on_controls(self, controls: Controls) -> None:
        self.tray.set_controls(controls)

    def _on_failed(self, text: str) -> None:
        self.tray.set_status("error", text)
        self.window.set_status("error", text)
        self.window.show_message(f"The pipeline stopped: {text}")

    def _on_stopped(self) -> None:
        worker = self.sender()
        if worker is not self.worker or self.worker is None:
            return  # a restart replaced it
        if self.worker.error is None:
            self.tray.set_status("stopped")
            self.window.set_status("stopped")
        self.pipeline_stopped.emit()

    # ---------------------------------------------------------------- the menu's switches

    def _on_mute(self, checked: bool) -> None:
        if self.worker is not None:
            self.worker.set_muted(checked)
        self._remember(coach_muted=bool(checked))

    def _on_voice(self, checked: bool) -> None:
        if self.worker is not None:
            self.worker.set_voice(checked)
        self._remember(voice_enabled=bool(checked))

    def _on_video(self, checked: bool) -> None:
        if self.worker is not None:
            self.worker.set_video(checked)
        self._remember(video_enabled=bool(checked))

    def save_clip(self) -> None:
        """The "Save clip" action: the seconds around now, with their telemetry (while video records)."""
        if self.worker is not None:
            self.worker.call(lambda p: p.save_clip("menu"))

    def _on_handoff_answer(self, answer: HandoffAnswer) -> None:
        if self.worker is not None:
            self.worker.answer_handoff(answer.handoff_id, answer.accept)

    def _remember(self, **changes: bool) -> None:
        self._store_settings(dataclasses.replace(self.settings, **changes))

    def _store_settings(self, settings: Settings) -> None:
        self.settings = settings
        if self.settings_path is not None:
            try:
                save_settings(settings, self.settings_path)
            except OSError as exc:
                logger.warning("could not save the settings: %s", exc)

    @staticmethod
    def _controls_of(settings: Settings) -> Controls:
        return Controls(
            settings.coach_muted, settings.voice_enabled, settings.video_enabled, Verbosity[settings.verbosity.upper()]
        )


# ------------------------------------------------------------------------------------------ process set-up


def ensure_application(argv: Sequence[str] = ()) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication([sys.argv[0] if sys.argv else "pitbox", *argv])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setQuitOnLastWindowClosed(False)  # the tray keeps the app; PitBoxApp decides when to quit
    app.setWindowIcon(status_icon("driving"))
    return app


def install_signal_handlers(on_signal: Callable[[int], None]) -> Callable[[], None]:
    """Call `on_signal(signum)` in the GUI thread on SIGINT/SIGTERM, even while Qt's loop runs.

    Python runs its handlers only when Python code runs; the C handler also writes to a wakeup
    socket that a QSocketNotifier watches, so the loop wakes up and the handler runs promptly.
    Returns a function that restores the previous handlers.
    """
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread
        reader.close()
        writer.close()
        return lambda: None
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(256)

    notifier.activated.connect(drain)

    def handler(signum: int, frame: object) -> None:
        logger.info("signal %d: quitting", signum)
        on_signal(signum)

    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {signum: signal.signal(signum, handler) for signum in wanted}

    def restore() -> None:
        notifier.setEnabled(False)
        for signum, old in previous.items():
            signal.signal(signum, old)
        signal.set_wakeup_fd(old_fd)
        reader.close()
        writer.close()

    return restore


def run_app(argv: Sequence[str] | None = None) -> int:
    """`pitbox` with no arguments: the tray app. Returns the exit code.

    `argv` may hold `--minimized` (start in the tray without the window, as at log-on) and Qt's
    own options.
    """
    args = list(argv or ())
    minimized = MINIMIZED_FLAG in args
    app = ensure_application([a for a in args if a != MINIMIZED_FLAG])
    single = SingleInstance()
    if not single.acquire():
        logger.info("PitBox is already running: asked it to show its window")
        return 0
    settings_path = config_path()
    settings = load_settings(settings_path)
    state_path = app_state_path()
    state = load_app_state(state_path)
    data_dir = user_data_dir()

    def make_factory(current: Settings, current_state: AppState) -> PipelineFactory:
        return AppPipelineFactory(current, current_state, data_dir, voice=True)

    pitbox = PitBoxApp(make_factory, settings, app_state=state, settings_path=settings_path, state_path=state_path)
    single.show_requested.connect(pitbox.show_window)
    pitbox.quit_requested.connect(app.quit)
    restore = install_signal_handlers(lambda signum: pitbox.quit())
    if autostart.is_supported() and settings.start_with_windows != autostart.is_enabled():
        autostart.set_enabled(settings.start_with_windows)  # the Run key follows the settings
    try:
        pitbox.start(show_window=not minimized or not pitbox.tray.has_tray)
        if not state.first_run_done and not settings.pairing:
            pitbox.show_first_run()
        logger.info(
            "PitBox running (%s); settings in %s",
            "tray icon" if pitbox.tray.has_tray else "window, no system tray here",
            settings_path,
        )
        code = app.exec()
    finally:
        pitbox.shutdown()
        single.close()
        restore()
    logger.info("PitBox stopped")
    return code


def run_demo_app(args: argparse.Namespace) -> int:
    """`pitbox demo` with a display: the demo on the tray app and window; prints the same summary."""
    from driver_app.qt.cli_demo_app import run_demo_window

    return run_demo_window(args)
