"""`pitbox demo` with a display: the same demo as `driver_app.cli_demo`, on the tray app and window.

The embedded relay and the pipeline run in the worker's loop; the console gets the same lines as
the headless demo (header, calls, laps, strategy, status) and, once the pipeline stops after
`--laps` laps (or the demo session ends), the same JSON summary last. Quitting early (menu,
closing the window, SIGINT/SIGTERM) stops the pipeline first; SIGINT exits 130 like the headless
demo, anything else prints the summary of the laps driven (exit 1 when fewer than asked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from adapters.model import json_ready
from driver_app.cli_demo import (
    FLUSH_TIMEOUT_S,
    DemoProgress,
    demo_config,
    demo_summary,
    header_lines,
    track_label,
    until_finished,
)
from driver_app.embedded_relay import EmbeddedRelay
from driver_app.pipeline import Pipeline, PipelineEvent
from driver_app.qt.app import PitBoxApp, ensure_application, install_signal_handlers
from driver_app.qt.worker import EventCallback, Notice
from driver_app.settings import Settings
from driver_app.speech import ConsoleSpeechSink


def _say(line: str) -> None:
    print(line, flush=True)


class DemoFactory:
    """Builds the demo pipeline (embedded relay, demo sim) in the worker's loop, printing as it goes."""

    def __init__(self, args: argparse.Namespace, relay_dir: Path) -> None:
        self.args = args
        self.relay_dir = relay_dir
        self.relay: EmbeddedRelay | None = None
        self.pipeline: Pipeline | None = None
        self.progress: DemoProgress | None = None
        self._watch: asyncio.Task[None] | None = None

    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        args = self.args
        self.relay = relay = await EmbeddedRelay.start(self.relay_dir)

        self.progress = progress = DemoProgress(args.laps, stop, _say)

        def on_pipeline_event(event: PipelineEvent) -> None:
            progress(event)
            on_event(event)

        speech = ConsoleSpeechSink(lambda line: _say(f"call {line}"))
        pipeline = Pipeline(demo_config(args, relay), on_pipeline_event, speech=speech)
        self.pipeline = pipeline
        for line in header_lines(args, pipeline, relay):
            _say(line)
        track = track_label(pipeline)
        on_event(
            Notice(
                f"Demo: {args.laps} laps of {track} at {args.speed:g}x real time; embedded relay at {relay.url}",
                f"Team dashboard: {relay.dashboard_url}",
            )
        )
        self._watch = asyncio.create_task(until_finished(pipeline, stop))
        return pipeline

    async def close(self, pipeline: Pipeline) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        try:
            await pipeline.close_relay(FLUSH_TIMEOUT_S)
        finally:
            if self.relay is not None:
                await self.relay.stop()

    def summary(self) -> dict[str, Any]:
        """The headless demo's summary, for the laps this run drove."""
        progress = self.progress
        laps = [] if progress is None else progress.laps
        return demo_summary(self.args, self.pipeline, laps, None if progress is None else progress.last_strategy)


def run_demo_window(args: argparse.Namespace) -> int:
    app = ensure_application()
    signals: list[int] = []
    with tempfile.TemporaryDirectory(prefix="pitbox-demo-") as relay_dir:
        factory = DemoFactory(args, Path(relay_dir))
        settings = Settings(verbosity=args.verbosity)
        pitbox = PitBoxApp(lambda current, state: factory, settings, restart_on_settings=False)
        pitbox.window.setWindowTitle("PitBox demo")

        def stop_pipeline() -> None:
            if pitbox.worker is not None:
                pitbox.worker.request_stop()

        def on_signal(signum: int) -> None:
            signals.append(signum)
            stop_pipeline()

        pitbox.quit_requested.connect(stop_pipeline)  # the app quits once the pipeline has stopped
        pitbox.pipeline_stopped.connect(app.quit)
        restore = install_signal_handlers(on_signal)
        try:
            pitbox.start(show_window=True)
            app.exec()
        finally:
            pitbox.shutdown()
            restore()
        error = pitbox.worker.error if pitbox.worker is not None else None
        summary = factory.summary()
    if error is not None:
        print(f"pitbox demo: {error}", file=sys.stderr)
        return 1
    if signal.SIGINT in signals:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(json_ready(summary), allow_nan=False), flush=True)
    ok = summary["laps"] == args.laps and summary["frames_acked_by_relay"] == summary["frames_produced"]
    return 0 if ok else 1
