"""PitBox UDP recordings: the documented file format, cut-short files, foreign files, and paced replay."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from adapters.datagrams import (
    MAGIC,
    REPLAY_CHUNK,
    DatagramSource,
    RecordingSource,
    RecordingWriter,
    is_recording,
    read_recording,
    write_recording,
)
from adapters.errors import SimNotFoundError, TelemetryFormatError

DATAGRAMS = [(b"first", 100.0), (b"", 100.25), (bytes(range(256)) * 4, 101.5)]


def test_a_recording_is_the_documented_header_then_length_prefixed_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "session.pbxudp"
    write_recording(path, DATAGRAMS, started_unix_s=1_700_000_000.5)
    data = path.read_bytes()
    assert struct.unpack_from("<8sHHId", data) == (MAGIC, 1, 0, 0, 1_700_000_000.5)
    assert struct.unpack_from("<dI", data, 24) == (0.0, 5)  # times from the first datagram
    assert data[36:41] == b"first"
    recording = read_recording(path)
    assert recording.datagrams == ((b"first", 0.0), (b"", 0.25), (bytes(range(256)) * 4, 1.5))
    assert (recording.started_unix_s, recording.duration_s, recording.ignored_bytes) == (1_700_000_000.5, 1.5, 0)
    assert is_recording(path) and not is_recording(tmp_path / "missing")


def test_a_recording_cut_short_reads_to_its_last_whole_datagram(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cut.pbxudp"
    with RecordingWriter(path) as writer:
        for payload, at in DATAGRAMS:
            writer.write(payload, at)
    path.write_bytes(path.read_bytes()[:-100])
    with caplog.at_level(logging.WARNING):
        recording = read_recording(path)
    assert [p for p, _ in recording.datagrams] == [b"first", b""]
    assert recording.ignored_bytes == 12 + 1024 - 100
    assert "cut short" in caplog.text


def test_what_is_not_a_recording_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SimNotFoundError, match="no such file"):
        read_recording(tmp_path / "absent.pbxudp")
    (tmp_path / "other.bin").write_bytes(b"x" * 100)
    with pytest.raises(TelemetryFormatError, match="not a PitBox UDP recording"):
        read_recording(tmp_path / "other.bin")
    (tmp_path / "v9.pbxudp").write_bytes(struct.pack("<8sHHId", MAGIC, 9, 0, 0, 0.0))
    with pytest.raises(TelemetryFormatError, match="version 9"):
        read_recording(tmp_path / "v9.pbxudp")
    with RecordingWriter(tmp_path / "big.pbxudp") as writer, pytest.raises(ValueError, match="at most 65535"):
        writer.write(bytes(70_000), 0.0)


def test_a_paced_replay_hands_out_datagrams_when_their_time_comes(tmp_path: Path) -> None:
    path = tmp_path / "paced.pbxudp"
    write_recording(path, DATAGRAMS)
    source = RecordingSource(path, speed=2.0)
    assert isinstance(source, DatagramSource) and source.realtime
    source.open()
    assert source.receive(50.0) == [(b"first", 50.0)]  # the first receive anchors the clock
    assert source.receive(50.1) == []
    assert source.receive(50.125) == [(b"", 50.125)]  # 0.25 s recorded at twice real time
    assert not source.finished
    assert source.receive(51.0) == [(bytes(range(256)) * 4, 50.75)]
    assert source.finished


def test_an_unpaced_replay_hands_out_chunks_as_fast_as_they_are_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "fast.pbxudp"
    write_recording(path, [(bytes([i % 256]), i * 0.01) for i in range(REPLAY_CHUNK + 10)])
    source = RecordingSource(path, speed=None)
    assert not source.realtime
    first = source.receive(7.0)
    assert len(first) == REPLAY_CHUNK and {at for _, at in first} == {7.0}
    assert len(source.receive(7.0)) == 10 and source.finished
    with pytest.raises(ValueError, match="positive"):
        RecordingSource(path, speed=0.0)
