"""The cloud HTTP sink: POSTs batches of spool records to one endpoint, behind a circuit breaker.

One `send` is one request:

    POST <url>
    Authorization: Bearer <token>
    Content-Type: application/json
    Content-Encoding: gzip
    Idempotency-Key: <first record key>..<last record key>

    gzip({"records": [{"key", "kind", "car_id", "created_s", "payload_b64"}, ...]})

`payload_b64` is the record's payload (a binary telemetry batch, or a JSON control message) in
base64. Any 2xx answer means the endpoint stored the whole batch; anything else, a timeout or a
network error is a `SinkError` and the forwarder sends the same batch again (so the endpoint sees
each record at least once and drops duplicates by `key`). `Retry-After` on a 429/503 is honoured.

The circuit breaker: after `breaker_failures` consecutive failures it opens and `send` fails at once
(`CircuitOpenError`, no request) for `breaker_reset_s`; then it is half-open and lets one trial
request through: success closes it, failure opens it again. The token is never logged.
"""

from __future__ import annotations

import base64
import enum
import gzip
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from relay.errors import CircuitOpenError, SinkError
from relay.sinks import BackoffPolicy
from relay.spool import SpoolRecord

logger = logging.getLogger(__name__)

GZIP_LEVEL: Final = 6
_KEY_SAFE: Final = ":/-._~!$&'()*+,;=@"
"""Characters kept as they are in the Idempotency-Key header (the rest is percent-encoded)."""


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed -> open after `failures` consecutive failures -> half-open after `reset_s` -> one trial.

    `clock` is a monotonic clock in seconds (pass a fake one in tests).
    """

    def __init__(self, failures: int, reset_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or reset_s <= 0:
            raise ValueError("a breaker needs failures >= 1 and reset_s > 0")
        self.failures_to_open = failures
        self.reset_s = reset_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.opened_count = 0
        """How many times the breaker has opened (re-opening after a failed trial counts)."""

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a request go out now? (In half-open state, only one trial at a time.)"""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def seconds_until_trial(self) -> float:
        """Seconds until a request may go out (0 when closed or half-open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_s - self._clock())

    def record_success(self) -> None:
        if self._opened_at is not None:
            logger.info("circuit breaker closed")
        self._consecutive = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_abandoned(self) -> None:
        """A request was abandoned (cancelled) before it had an outcome: free the half-open trial."""
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._consecutive += 1
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if was_trial or (self._opened_at is None and self._consecutive >= self.failures_to_open):
            self._opened_at = self._clock()
            self.opened_count += 1
            logger.warning(
                "circuit breaker open after %d consecutive failures: next trial in %.1f s",
                self._consecutive,
                self.reset_s,
            )


def _redacted(url: str) -> str:
    """`url` without user info (for logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class HttpSink:
    """POSTs spool records to `url` with a bearer `token` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        batch_records: int = 200,
        timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        breaker_failures: int = 5,
        breaker_reset_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise SinkError("the HTTP sink's url must be http:// or https://")
        if batch_records < 1 or timeout_s <= 0:
            raise SinkError("batch_records must be >= 1 and timeout_s > 0")
        self.url = url
        self._token = token
        self._batch_records = batch_records
        self.timeout_s = timeout_s
        self.backoff = BackoffPolicy(backoff_initial_s, backoff_max_s)
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_s, clock=clock)
        self._clock = clock
        self._failures = 0
        self._retry_after_until = 0.0
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.accepted_records = 0
        self._where = _redacted(url)

    def __repr__(self) -> str:  # never show the token
        return f"HttpSink({self._where!r}, state={self.state.value})"

    @property
    def batch_records(self) -> int:
        return self._batch_records

    @property
    def state(self) -> BreakerState:
        """The circuit breaker's state."""
        return self.breaker.state

    def retry_delay_s(self) -> float:
        """Backoff after the consecutive failures so far, at least until the breaker allows a trial."""
        retry_after = max(0.0, self._retry_after_until - self._clock())
        return max(self.backoff.delay_s(self._failures), self.breaker.seconds_until_trial(), retry_after)

    async def send(self, records: Sequence[SpoolRecord]) -> None:
        """POST `records` as one gzip JSON request; SinkError unless the endpoint answers 2xx."""
        if not records:
            return
        if not self.breaker.allow():
            raise CircuitOpenError(
                f"circuit breaker {self.breaker.state.value}: next trial in {self.breaker.seconds_until_trial():.1f} s"
            )
        body = gzip.compress(self._body(records), compresslevel=GZIP_LEVEL, mtime=0)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Idempotency-Key": f"{quote(records[0].key, safe=_KEY_SAFE)}..{quote(records[-1].key, safe=_KEY_SAFE)}",
        }
        self.requests += 1
        try:
            session = self._ensure_session()
            async with session.post(
                self.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            ) as response:
                await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed()
            reason = type(exc).__name__ if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise SinkError(f"POST {self._where} failed: {reason}") from exc
        except BaseException:  # cancelled (shutdown): no outcome, but do not keep the trial slot
            self.breaker.record_abandoned()
            raise
        if not 200 <= status < 300:
            self._failed()
            if status in (429, 503) and retry_after.strip().isdigit():
                self._retry_after_until = self._clock() + min(float(retry_after.strip()), self.backoff.max_s)
            hint = " (check the sink's token)" if status in (401, 403) else ""
            raise SinkError(f"POST {self._where} answered {status}{hint}")
        self._failures = 0
        self._retry_after_until = 0.0
        self.breaker.record_success()
        self.accepted_records += len(records)

    async def close(self) -> None:
        """Close the connection pool (a later `send` opens a new one)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> HttpSink:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _failed(self) -> None:
        self._failures += 1
        self.breaker.record_failure()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=True)
        return self._session

    @staticmethod
    def _body(records: Sequence[SpoolRecord]) -> bytes:
        return json.dumps(
            {
                "records": [
                    {
                        "key": r.key,
                        "kind": r.kind.value,
                        "car_id": r.car_id,
                        "created_s": r.created_s,
                        "payload_b64": base64.b64encode(r.payload).decode("ascii"),
                    }
                    for r in records
                ]
            },
            separators=(",", ":"),
        ).encode("utf-8")
