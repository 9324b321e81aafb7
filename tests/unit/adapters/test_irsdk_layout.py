"""iRacing's binary layout: headers pack and parse back exactly; bad headers are typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import TelemetryFormatError
from adapters.irsdk_layout import (
    HEADER_SIZE,
    VAR_HEADER_SIZE,
    DiskSubHeader,
    Header,
    VarBuf,
    layout_vars,
    pack_var_headers,
    parse_var_headers,
    record_dtype,
)

ints = st.integers(min_value=0, max_value=2**31 - 1)


@given(ints, ints, ints, ints, st.lists(st.tuples(ints, ints), min_size=1, max_size=4))
def test_header_round_trips(
    version: int, tick_rate: int, update: int, buf_len: int, bufs: list[tuple[int, int]]
) -> None:
    header = Header(
        version, 1, tick_rate, update, 10, 112, 3, 200, len(bufs), buf_len, tuple(VarBuf(t, o) for t, o in bufs)
    )
    packed = header.pack()
    assert len(packed) == HEADER_SIZE
    assert Header.parse(packed) == header


def test_disk_sub_header_round_trips() -> None:
    disk = DiskSubHeader(1_700_000_000, 12.5, 99.25, 5, 4954)
    assert DiskSubHeader.parse(b"\0" * HEADER_SIZE + disk.pack()) == disk


def test_var_headers_lay_out_aligned_and_parse_back() -> None:
    specs = [
        ("Speed", 4, 1, "m/s", "GPS speed"),
        ("OnPitRoad", 1, 1, "", "on pit road"),
        ("SessionTime", 5, 1, "s", "clock"),
        ("CarIdxLap", 2, 64, "", "laps"),
    ]
    headers, buf_len = layout_vars(specs)
    assert [h.offset % {4: 4, 1: 1, 5: 8, 2: 4}[h.type] for h in headers] == [0, 0, 0, 0]
    assert buf_len % 16 == 0 and buf_len >= headers[-1].offset + 256
    header = Header(2, 1, 60, 1, 0, HEADER_SIZE, len(headers), HEADER_SIZE, 1, buf_len, (VarBuf(0, 4096),))
    image = header.pack() + pack_var_headers(headers)
    assert len(image) == HEADER_SIZE + len(headers) * VAR_HEADER_SIZE
    assert parse_var_headers(image, header) == headers
    dtype = record_dtype(headers, buf_len)
    assert dtype.itemsize == buf_len
    record = np.zeros(1, dtype=dtype)
    record["CarIdxLap"][0, 63] = 7
    assert record["CarIdxLap"].shape == (1, 64)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 0}, "not iRacing"),
        ({"num_buf": 0}, "not iRacing"),
        ({"num_vars": 0}, "not iRacing"),
        ({"var_header_offset": 10_000}, "truncated"),
        ({"session_info_len": 10_000}, "truncated"),
    ],
)
def test_validate_names_the_problem(changes: dict[str, int], message: str) -> None:
    fields = dict(
        version=2,
        status=1,
        tick_rate=60,
        session_info_update=1,
        session_info_len=10,
        session_info_offset=112,
        num_vars=1,
        var_header_offset=200,
        num_buf=1,
        buf_len=16,
        var_bufs=(VarBuf(0, 400),),
    )
    fields.update(changes)
    with pytest.raises(TelemetryFormatError, match=message):
        Header(**fields).validate(1000)  # type: ignore[arg-type]


def test_short_data_is_a_format_error() -> None:
    with pytest.raises(TelemetryFormatError):
        Header.parse(b"\x01\x00")


def test_corrupt_var_header_is_rejected() -> None:
    headers, buf_len = layout_vars([("Speed", 4, 1, "m/s", "")])
    bad = headers[0].__class__(9, 0, 1, False, "Speed", "", "")
    header = Header(2, 1, 60, 1, 0, HEADER_SIZE, 1, HEADER_SIZE, 1, buf_len, (VarBuf(0, 1024),))
    with pytest.raises(TelemetryFormatError, match="corrupt variable header"):
        parse_var_headers(header.pack() + pack_var_headers((bad,)), header)
