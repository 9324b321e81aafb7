"""The durable spool (order, idempotency, cursors, encryption at rest, reopening, a hard kill) and the
forwarder that drains it (with a scripted sink)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from relay.errors import SinkError, SpoolError
from relay.forwarder import Forwarder
from relay.spool import RecordKind, Spool, SpoolEntry, SpoolRecord, message_key, telemetry_key

REPO = Path(__file__).resolve().parents[3]
KEY = bytes(range(32))
MARKER = b"PLAINTEXT-MARKER-7f3a"


def _telemetry(car_id: int, batch_seq: int) -> SpoolEntry:
    payload = f"batch {car_id}/{batch_seq}".encode()
    return SpoolEntry(telemetry_key(car_id, batch_seq), RecordKind.TELEMETRY, car_id, payload)


def test_append_read_commit_pending(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        spool.register_sink("http")
        seqs = [spool.append(telemetry_key(7, n), "telemetry", 7, f"b{n}".encode(), 100.0 + n) for n in range(10)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 10
        assert spool.pending("http") == 10
        first = spool.read("http", 4)
        assert [r.payload for r in first] == [b"b0", b"b1", b"b2", b"b3"]
        assert first[0].kind is RecordKind.TELEMETRY and first[0].car_id == 7 and first[0].batch_seq == 0
        assert first[0].created_s == 100.0
        assert spool.read("http", 4) == first  # reading does not move the cursor
        spool.commit("http", first[-1].seq)
        assert spool.pending("http") == 6
        assert [r.payload for r in spool.read("http", 100)] == [f"b{n}".encode() for n in range(4, 10)]
        spool.commit("http", first[0].seq)  # a cursor never moves back
        assert spool.cursor("http") == first[-1].seq
        with pytest.raises(SpoolError):
            spool.commit("http", seqs[-1] + 1)
        assert spool.pending("mqtt") == 10  # another sink has its own cursor


def test_an_existing_key_is_stored_once_and_returns_its_seq(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        first = spool.append(telemetry_key(3, 41), "telemetry", 3, b"original")
        other = spool.append(message_key("abc"), "control", None, b'{"type":"team_message"}')
        again = spool.append(telemetry_key(3, 41), "telemetry", 3, b"resent")
        assert again == first != other
        assert len(spool) == 2
        assert [r.payload for r in spool.read("x", 10)] == [b"original", b'{"type":"team_message"}']
        # append_many: duplicates inside one call and against the spool, in one transaction
        seqs = spool.append_many([_telemetry(3, 42), _telemetry(3, 41), _telemetry(3, 42)])
        assert seqs[1] == first and seqs[0] == seqs[2] > other
        assert len(spool) == 3


def test_order_is_append_order_across_cars_and_kinds(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        entries = []
        for n in range(50):
            entries.append(_telemetry(n % 3, n))
            if n % 7 == 0:
                entries.append(SpoolEntry(message_key(f"msg{n}"), RecordKind.CONTROL, None, f"m{n}".encode()))
        spool.append_many(entries[:20])
        for entry in entries[20:]:
            spool.append(entry.key, entry.kind, entry.car_id, entry.payload)
        assert [r.key for r in spool.read("s", 1000)] == [e.key for e in entries]
        assert spool.last_batch_seq(0) == 48 and spool.last_batch_seq(1) == 49 and spool.last_batch_seq(2) == 47
        assert spool.last_batch_seq(9) is None


def test_append_many_is_all_or_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        bad = SpoolEntry("", RecordKind.CONTROL, None, b"no key")
        with pytest.raises(SpoolError):
            spool.append_many([_telemetry(1, 1), bad])
        assert len(spool) == 0
        with pytest.raises(SpoolError):
            spool.append("k", "video", None, b"")


def test_encrypted_at_rest_and_wrong_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path, key=KEY) as spool:
        assert spool.encrypted
        for n in range(20):
            spool.append(telemetry_key(1, n), "telemetry", 1, MARKER + bytes([n]) * 100)
        assert spool.read("s", 1)[0].payload == MARKER + bytes(100)
        # While open (data in the WAL) and after close (checkpointed into the main file).
        raw_open = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert MARKER not in raw_open
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert MARKER not in raw and b"t:1:5" in raw  # keys stay in clear (routing), payloads do not
    with pytest.raises(SpoolError, match="another key"):
        Spool(path, key=bytes(32))
    with pytest.raises(SpoolError, match="with encryption"):
        Spool(path)
    with pytest.raises(SpoolError):
        Spool(path, key=b"short")
    with Spool(path, key=KEY) as spool:
        assert [r.payload[-1] for r in spool.read("s", 100)] == list(range(20))


def test_a_spool_is_never_switched_between_encrypted_and_clear(tmp_path: Path) -> None:
    Spool(tmp_path / "enc.db", key=KEY).close()  # empty, but created encrypted
    with pytest.raises(SpoolError, match="with encryption"):
        Spool(tmp_path / "enc.db")
    with Spool(tmp_path / "enc.db", key=KEY) as spool:  # the refused open changed nothing
        assert spool.encrypted
    Spool(tmp_path / "clear.db").close()
    with pytest.raises(SpoolError, match="without encryption"):
        Spool(tmp_path / "clear.db", key=KEY)


def test_a_tampered_or_moved_payload_does_not_decrypt(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path, key=KEY) as spool:
        spool.append("a", "control", None, b"payload a")
        spool.append("b", "control", None, b"payload b")
    db = sqlite3.connect(path)
    with db:  # move a's sealed payload onto b: the key is the associated data, so b no longer opens
        db.execute("UPDATE records SET payload = (SELECT payload FROM records WHERE key = 'a') WHERE key = 'b'")
    db.close()
    with Spool(path, key=KEY) as spool, pytest.raises(SpoolError, match="cannot be decrypted"):
        spool.read("s", 10)


def test_reopen_keeps_data_cursors_and_batch_seqs(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path, key=KEY) as spool:
        spool.register_sink("http")
        spool.register_sink("mqtt")
        seqs = spool.append_many([_telemetry(5, n) for n in range(30)])
        spool.commit("http", seqs[19])
        spool.commit("mqtt", seqs[9])
    with Spool(path, key=KEY) as spool:
        assert spool.sinks() == {"http": seqs[19], "mqtt": seqs[9]}
        assert spool.pending("http") == 10 and spool.pending("mqtt") == 20
        assert spool.read("http", 1)[0].key == telemetry_key(5, 20)
        assert spool.last_batch_seq(5) == 29
        # Seqs keep growing after a reopen (AUTOINCREMENT: never reused, even after pruning).
        assert spool.prune() == 10  # only what both sinks passed
        assert spool.append(telemetry_key(5, 30), "telemetry", 5, b"x") == seqs[-1] + 1


def test_prune_keeps_what_a_sink_still_needs_and_bounds_the_size(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        assert spool.prune() == 0
        seqs = spool.append_many([_telemetry(1, n) for n in range(100)])
        assert spool.prune() == 0  # no registered sink: nothing is known to be forwarded
        spool.register_sink("a")
        spool.register_sink("b")
        spool.commit("a", seqs[59])
        assert spool.prune() == 0  # b has passed nothing
        spool.commit("b", seqs[39])
        assert spool.prune() == 40
        assert len(spool) == 60 and spool.pending("a") == 40 and spool.pending("b") == 60
        assert spool.last_batch_seq(1) == 99
    with Spool(tmp_path / "bounded.db", max_records=25) as spool:
        spool.register_sink("a")
        spool.append_many([_telemetry(1, n) for n in range(100)])
        assert spool.prune() == 75
        assert [r.batch_seq for r in spool.read("a", 100)] == list(range(75, 100))


_KILL_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from relay.spool import Spool
    spool = Spool(Path(sys.argv[1]), key=bytes.fromhex(sys.argv[2]))
    for n in range(100_000):
        seq = spool.append(f"t:9:{n}", "telemetry", 9, b"payload-%d" % n)
        sys.stdout.write(f"{seq} {n}\\n")  # one write: the line is whole or absent
        sys.stdout.flush()
    """
)


def _seq_and_n(line: bytes) -> tuple[int, int]:
    seq, n = line.split()
    return int(seq), int(n)


def test_nothing_acknowledged_is_lost_when_the_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD, str(path), KEY.hex()], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    assert child.stdout is not None
    acknowledged: list[tuple[int, int]] = []
    try:
        for line in child.stdout:
            if line.endswith(b"\n"):
                acknowledged.append(_seq_and_n(line))
            if len(acknowledged) == 300:
                child.send_signal(signal.SIGKILL)  # mid-append, most likely
                break
        # A line cut short by the kill was not an acknowledgement: only whole lines count.
        acknowledged += [_seq_and_n(line) for line in child.stdout if line.endswith(b"\n")]
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 300
    with Spool(path, key=KEY) as spool:
        stored = {r.seq: r for r in spool.read("check", 1_000_000)}
        for seq, n in acknowledged:
            assert seq in stored, f"acknowledged seq {seq} lost"
            assert stored[seq].key == f"t:9:{n}" and stored[seq].payload == b"payload-%d" % n
        assert spool.last_batch_seq(9) is not None and spool.last_batch_seq(9) >= acknowledged[-1][1]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


# ------------------------------------------------------------------------------------------------
# The forwarder: the spool's consumer (with a scripted in-memory sink; the real sinks have their
# own integration tests).


class ScriptedSink:
    """Fails as scripted (one outcome per send: None accepts, an exception is raised), then accepts."""

    def __init__(self, *outcomes: BaseException | None, batch_records: int = 4) -> None:
        self.outcomes = list(outcomes)
        self.batch_records = batch_records
        self.accepted: list[str] = []
        self.attempts = 0
        self.closed = False

    async def send(self, records: Sequence[SpoolRecord]) -> None:
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.accepted += [r.key for r in records]

    def retry_delay_s(self) -> float:
        return 0.01

    async def close(self) -> None:
        self.closed = True


def _forward(spool: Spool, sink: ScriptedSink, body: Callable[[Forwarder], Awaitable[None]]) -> Forwarder:
    async def scenario() -> Forwarder:
        forwarder = Forwarder(spool, "test", sink)
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop))
        try:
            await body(forwarder)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
        return forwarder

    return asyncio.run(scenario())


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_forwarder_commits_only_what_the_sink_accepted_and_retries_in_order(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        entries = [_telemetry(1, n) for n in range(10)]
        keys = [e.key for e in entries]
        spool.append_many(entries)
        sink = ScriptedSink(SinkError("503"), SinkError("refused"), None, SinkError("timeout"))
        cursors: list[int] = []

        async def body(forwarder: Forwarder) -> None:
            forwarder.notify()
            await _until(lambda: forwarder.pending == 0)
            cursors.append(spool.cursor("test"))

        forwarder = _forward(spool, sink, body)
        assert sink.accepted == keys  # in order, each once (failed sends delivered nothing here)
        assert sink.attempts == 3 + 3 and forwarder.failures == 3 and forwarder.sent_records == 10
        assert forwarder.last_error is None and sink.closed
        assert cursors == [spool.read("x", 100)[-1].seq]


def test_forwarder_sleeps_until_notified_and_drains_at_stop(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        sink = ScriptedSink()

        async def body(forwarder: Forwarder) -> None:
            await asyncio.sleep(0.05)
            assert sink.attempts == 0  # nothing to send: idle, not polling the sink
            spool.append_many([_telemetry(2, n) for n in range(6)])
            forwarder.notify()
            await _until(lambda: len(sink.accepted) == 6)
            spool.append_many([_telemetry(2, n) for n in range(6, 20)])
            forwarder.notify()  # and stop at once: the forwarder still drains what is there

        forwarder = _forward(spool, sink, body)
        assert sink.accepted == [telemetry_key(2, n) for n in range(20)] and forwarder.pending == 0


def test_forwarder_outlives_a_buggy_sink_and_stops_promptly_when_the_sink_is_down(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        spool.append_many([_telemetry(3, n) for n in range(4)])
        sink = ScriptedSink(RuntimeError("bug"), asyncio.CancelledError(), None)

        async def body(forwarder: Forwarder) -> None:
            forwarder.notify()
            await _until(lambda: forwarder.pending == 0)

        forwarder = _forward(spool, sink, body)
        assert sink.accepted == [telemetry_key(3, n) for n in range(4)] and forwarder.failures == 2

        spool.append_many([_telemetry(3, n) for n in range(4, 8)])
        down = ScriptedSink(*[SinkError("down")] * 1000)
        started = time.monotonic()
        forwarder = _forward(spool, down, lambda f: asyncio.sleep(0.05))
        assert time.monotonic() - started < 2 and forwarder.pending == 4 and forwarder.last_error == "down"
