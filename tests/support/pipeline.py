"""Running the headless driver-app pipeline in tests until a condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from driver_app.pipeline import Pipeline

DEFAULT_TIMEOUT_S = 30.0


async def run_until(pipeline: Pipeline, done: Callable[[], bool], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Run `pipeline` until `done()` is true (checked every 20 ms); TimeoutError after `timeout_s`."""
    stop = asyncio.Event()

    async def watch() -> None:
        while not done():
            await asyncio.sleep(0.02)
        stop.set()

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(pipeline.run(stop), timeout_s)
    finally:
        watcher.cancel()
