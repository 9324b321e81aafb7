"""The F1 packet tables: every packet has EA's published size, and struct and numpy read the same bytes alike."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from adapters.f1udp_layouts import (
    EVENT_DETAIL_LAYOUTS,
    HEADERS,
    LAP_DATA_2021,
    LAP_DATA_2023,
    PACKET_LAYOUTS,
    SUPPORTED_FORMATS,
    Field,
    Layout,
    PacketId,
)

M, S, L, E, P, CS, CT, ST, D, H, X = (
    PacketId.MOTION,
    PacketId.SESSION,
    PacketId.LAP_DATA,
    PacketId.EVENT,
    PacketId.PARTICIPANTS,
    PacketId.CAR_SETUPS,
    PacketId.CAR_TELEMETRY,
    PacketId.CAR_STATUS,
    PacketId.CAR_DAMAGE,
    PacketId.SESSION_HISTORY,
    PacketId.MOTION_EX,
)
EA_SIZES = {
    # "Size: N bytes" in EA's specification of each year
    2021: {M: 1464, S: 625, L: 970, E: 36, P: 1257, CS: 1102, CT: 1347, ST: 1058, D: 882, H: 1155},
    2022: {M: 1464, S: 632, L: 972, E: 40, P: 1257, CS: 1102, CT: 1347, ST: 1058, D: 948, H: 1155},
    2023: {M: 1349, S: 644, L: 1131, E: 45, P: 1306, CS: 1107, CT: 1352, ST: 1239, D: 953, H: 1460, X: 217},
    2024: {M: 1349, S: 753, L: 1285, E: 45, P: 1350, CS: 1133, CT: 1352, ST: 1239, D: 953, H: 1460, X: 237},
    2025: {M: 1349, S: 753, L: 1285, E: 45, P: 1284, CS: 1133, CT: 1352, ST: 1239, D: 1041, H: 1460, X: 273},
}
ALL_LAYOUTS = [
    pytest.param(layout, id=f"{fmt}-{kind.name.lower()}")
    for fmt, layouts in PACKET_LAYOUTS.items()
    for kind, layout in layouts.items()
] + [
    pytest.param(layout, id=f"{fmt}-event-{code}")
    for fmt, details in EVENT_DETAIL_LAYOUTS.items()
    for code, layout in details.items()
]


@pytest.mark.parametrize("packet_format", SUPPORTED_FORMATS)
def test_every_packet_pitbox_reads_has_the_size_ea_publishes(packet_format: int) -> None:
    sizes = {kind: layout.size for kind, layout in PACKET_LAYOUTS[packet_format].items()}
    assert sizes == EA_SIZES[packet_format]
    assert HEADERS[packet_format].size == (24 if packet_format < 2023 else 29)


def _same(struct_value: Any, numpy_value: Any) -> bool:
    if isinstance(struct_value, dict):
        return all(_same(struct_value[name], numpy_value[name]) for name in struct_value)
    if isinstance(struct_value, list):
        return all(_same(a, b) for a, b in zip(struct_value, numpy_value, strict=True))
    if isinstance(struct_value, bytes):
        return struct_value.rstrip(b"\0") == bytes(numpy_value)
    if isinstance(struct_value, float) and math.isnan(struct_value):
        return bool(np.isnan(numpy_value))
    return bool(struct_value == numpy_value)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_struct_and_numpy_read_every_field_of_random_bytes_alike(layout: Layout) -> None:
    data = np.random.default_rng(layout.size).integers(0, 256, layout.size, dtype=np.uint8).tobytes()
    assert _same(layout.unpack(data), layout.decode(data))


def test_a_record_packed_with_struct_unpacks_to_the_same_values() -> None:
    layout = PACKET_LAYOUTS[2024][PacketId.CAR_TELEMETRY]
    values = {
        "header": {"packet_format": 2024, "game_year": 24, "packet_id": 6, "frame_identifier": 77},
        "cars": [
            {"speed_kph": 250 + i, "gear": -1 if i == 3 else 7, "tyres_pressure_psi": [21.5] * 4} for i in range(22)
        ],
        "suggested_gear": -1,
    }
    data = layout.pack(values)
    record = layout.decode(data)
    assert len(data) == 1352
    assert record["header"]["frame_identifier"] == 77
    assert record["cars"]["speed_kph"][21] == 271
    assert record["cars"]["gear"][3] == -1
    assert record["cars"]["tyres_pressure_psi"][5].tolist() == [21.5] * 4
    assert record["suggested_gear"] == -1
    assert layout.unpack(data)["cars"][4]["speed_kph"] == 254


def test_a_year_declares_only_what_changed() -> None:
    names_2021 = [f.name for f in LAP_DATA_2021.fields]
    names_2023 = [f.name for f in LAP_DATA_2023.fields]
    assert "warnings" in names_2021 and "warnings" not in names_2023
    assert names_2023.index("corner_cutting_warnings") == names_2023.index("total_warnings") + 1
    assert names_2023.index("sector1_time_min") == names_2023.index("sector1_time_ms") + 1
    assert LAP_DATA_2023.size - LAP_DATA_2021.size == 7


def test_deriving_from_a_field_that_is_not_there_is_refused() -> None:
    with pytest.raises(KeyError, match="no field 'nope'"):
        LAP_DATA_2021.derive(insert_after={"nope": (Field("x", "B"),)})
    with pytest.raises(ValueError, match="duplicate"):
        Layout("Twice", (Field("a", "B"), Field("a", "H")))
    with pytest.raises(ValueError, match="unknown struct code"):
        Field("a", "z")
