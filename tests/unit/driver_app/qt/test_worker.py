"""`PipelineWorker`: one thread, one loop; events reach Qt in the GUI thread; commands wait for the
pipeline; stopping closes the relay client and joins the thread; failures are reported."""

from __future__ import annotations

import asyncio
import threading

from pytestqt.qtbot import QtBot

from coaching.messages import Verbosity
from driver_app.pipeline import LiveValues, Pipeline, StatusChanged
from driver_app.qt.worker import ConfigFactory, Controls, EventCallback, Notice, PipelineWorker

from .helpers import WAIT_MS, demo_config


class SlowFactory(ConfigFactory):
    """Takes a while to build the pipeline (as starting a local relay does)."""

    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        await asyncio.sleep(0.3)
        on_event(Notice("built"))
        return await super().create(on_event, stop)


class BrokenFactory(ConfigFactory):
    async def create(self, on_event: EventCallback, stop: asyncio.Event) -> Pipeline:
        raise OSError("address already in use")


def test_events_arrive_in_the_gui_thread(qtbot: QtBot) -> None:
    worker = PipelineWorker(ConfigFactory(demo_config(), flush_timeout_s=0))
    threads: list[threading.Thread] = []
    kinds: list[type] = []

    def on_event(event: object) -> None:
        threads.append(threading.current_thread())
        kinds.append(type(event))

    worker.event.connect(on_event)
    worker.start()
    try:
        qtbot.waitUntil(lambda: LiveValues in kinds, timeout=WAIT_MS)
        assert StatusChanged in kinds
        assert set(threads) == {threading.main_thread()}
        assert worker.pipeline is not None
    finally:
        assert worker.stop()


def test_commands_before_the_pipeline_exists_are_applied_once_it_does(qtbot: QtBot) -> None:
    worker = PipelineWorker(SlowFactory(demo_config(), flush_timeout_s=0))
    reports: list[Controls] = []
    worker.controls_changed.connect(reports.append)
    with qtbot.waitSignal(worker.running, timeout=WAIT_MS):
        worker.start()
        worker.set_muted(True)
        worker.set_video(True)
        worker.set_verbosity(Verbosity.QUIET)
    try:
        pipeline = worker.pipeline
        assert pipeline is not None
        assert pipeline.muted and pipeline.video_enabled and pipeline.copilot.verbosity is Verbosity.QUIET
        qtbot.waitUntil(lambda: bool(reports) and reports[-1].muted and reports[-1].video_enabled, timeout=WAIT_MS)
    finally:
        assert worker.stop()


def test_stop_closes_the_relay_client_and_joins_the_thread(qtbot: QtBot) -> None:
    config = demo_config(relay_url="ws://127.0.0.1:9", relay_token="x")
    worker = PipelineWorker(ConfigFactory(config, flush_timeout_s=0.2))
    with qtbot.waitSignal(worker.running, timeout=WAIT_MS):
        worker.start()
    pipeline = worker.pipeline
    assert pipeline is not None and pipeline.relay is not None
    with qtbot.waitSignal(worker.stopped, timeout=WAIT_MS):
        assert worker.stop(timeout_s=10)
    assert not worker.is_alive
    assert pipeline.relay._closing  # closed, not merely abandoned
    worker.set_muted(True)  # after the stop: ignored, no error
    assert worker.stop()  # twice is fine


def test_a_factory_that_fails_is_reported(qtbot: QtBot) -> None:
    worker = PipelineWorker(BrokenFactory(demo_config()))
    with qtbot.waitSignals([worker.failed, worker.stopped], timeout=WAIT_MS):
        worker.start()
    assert worker.error is not None and "address already in use" in worker.error
    assert worker.stop()


def test_a_failing_command_is_a_problem_not_the_end(qtbot: QtBot) -> None:
    worker = PipelineWorker(ConfigFactory(demo_config(), flush_timeout_s=0))
    with qtbot.waitSignal(worker.running, timeout=WAIT_MS):
        worker.start()
    try:
        with qtbot.waitSignal(worker.problem, timeout=WAIT_MS) as problem:
            worker.answer_handoff("h1", True)  # no relay: the pipeline refuses
        assert "no relay" in problem.args[0]
        assert worker.is_alive
    finally:
        assert worker.stop()


def test_posted_items_reach_the_event_signal(qtbot: QtBot) -> None:
    worker = PipelineWorker(ConfigFactory(demo_config(), flush_timeout_s=0))
    with qtbot.waitSignal(worker.event, timeout=WAIT_MS, check_params_cb=lambda item: item == Notice("hi")):
        threading.Thread(target=worker.post, args=(Notice("hi"),)).start()
