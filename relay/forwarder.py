"""Forwards the spool to one sink, in order, at least once: the body of one asyncio task per sink.

The loop: read up to `batch_records` records after the sink's cursor, `send` them, and only when
the sink accepted them commit the cursor. A failed send is retried (the same records, so order is
kept) after the sink's `retry_delay_s` (its exponential backoff, and for HTTP its open circuit
breaker). With nothing to send the task sleeps on an event that `notify()` sets when the relay
appends: no polling. After an outage the spool simply drains from the cursor.

`run(stop)` drains at shutdown: once `stop` is set it keeps sending while records are pending and
the sink accepts them, and returns when the spool is empty for this sink or a send fails (no more
retries); the caller bounds that with a timeout (cancelling is safe: the cursor only moves after an
accepted send). Whatever is not forwarded stays in the spool for the next start.

Every `prune_every` forwarded records it prunes the spool (the records every sink has passed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from relay.errors import SinkError, SpoolError
from relay.sinks import Sink
from relay.spool import Spool, SpoolRecord

logger = logging.getLogger(__name__)

PRUNE_EVERY: Final = 1000


async def _first(*events: asyncio.Event, timeout_s: float | None = None) -> None:
    """Return when any of `events` is set, or after `timeout_s`."""
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


class Forwarder:
    """Moves spool records to `sink` under the cursor `sink_name` (see the module docstring)."""

    def __init__(
        self,
        spool: Spool,
        sink_name: str,
        sink: Sink,
        *,
        batch_records: int | None = None,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        self.spool = spool
        self.sink_name = sink_name
        self.sink = sink
        self.batch_records = batch_records if batch_records is not None else sink.batch_records
        if self.batch_records < 1:
            raise ValueError("batch_records must be at least 1")
        self.prune_every = prune_every
        spool.register_sink(sink_name)
        self._wake = asyncio.Event()
        self.sent_records = 0
        self.sent_batches = 0
        self.failures = 0
        """Failed sends so far (each was retried)."""
        self.last_error: str | None = None
        """The latest failure's message; None once a send succeeds again."""
        self._since_prune = 0

    def __repr__(self) -> str:
        return f"Forwarder({self.sink_name!r}, sent={self.sent_records}, last_error={self.last_error!r})"

    @property
    def pending(self) -> int:
        """Records in the spool not yet accepted by the sink."""
        return self.spool.pending(self.sink_name)

    def notify(self) -> None:
        """New records were appended: wake the task if it is idle."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Forward until `stop` is set (see the module docstring). Closes the sink on the way out."""
        logger.info("forwarder %s started: %d records pending", self.sink_name, self.pending)
        try:
            while True:
                self._wake.clear()  # before reading: an append after the read sets it again
                records = self.spool.read(self.sink_name, self.batch_records)
                if not records:
                    if stop.is_set():
                        return
                    await _first(self._wake, stop)
                    continue
                error = await self._send(records)
                if error is not None:
                    self.failures += 1
                    self.last_error = error
                    if stop.is_set():  # draining at shutdown: no retries, the spool keeps the rest
                        logger.warning("forwarder %s: %s; stopping with records pending", self.sink_name, error)
                        return
                    delay = self.sink.retry_delay_s()
                    logger.warning("forwarder %s: %s; retrying in %.2f s", self.sink_name, error, delay)
                    await _first(stop, timeout_s=delay)
                    continue
                self.spool.commit(self.sink_name, records[-1].seq)
                if self.last_error is not None:
                    logger.info("forwarder %s: sink accepting again", self.sink_name)
                self.last_error = None
                self.sent_records += len(records)
                self.sent_batches += 1
                self._since_prune += len(records)
                if self._since_prune >= self.prune_every:
                    self._since_prune = 0
                    self._prune()
        finally:
            await self.sink.close()
            logger.info("forwarder %s stopped: %d records pending", self.sink_name, self._pending_or_unknown())

    async def _send(self, records: list[SpoolRecord]) -> str | None:
        """Send one batch; None if the sink accepted it, else why not.

        A sink that fails in a way it should not (an unexpected exception, or a CancelledError while
        this task is not being cancelled) is logged with its traceback and retried like any failure:
        the forwarder must outlive a sink's bug, or the spool would stop draining unnoticed.
        """
        try:
            await self.sink.send(records)
        except SinkError as exc:
            return str(exc)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            logger.error("forwarder %s: the sink's send was cancelled from inside", self.sink_name, exc_info=True)
            return "the sink's send was cancelled"
        except Exception as exc:
            logger.exception("forwarder %s: unexpected error from the sink", self.sink_name)
            return f"unexpected {type(exc).__name__}: {exc}"
        return None

    def _prune(self) -> None:
        try:
            deleted = self.spool.prune()
        except SpoolError as exc:
            logger.warning("forwarder %s: prune failed: %s", self.sink_name, exc)
            return
        if deleted:
            logger.debug("forwarder %s: pruned %d records", self.sink_name, deleted)

    def _pending_or_unknown(self) -> int:
        try:
            return self.pending
        except SpoolError:
            return -1
