"""Track notes: a declarative YAML file validated field by field, and corner names from the track's JSON file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coaching.errors import TrackNotesError
from coaching.segments import CornerName
from coaching.tracknotes import MAX_NOTE_CHARS, Note, parse_track_notes
from driver_app.coach_files import load_track_notes

ASSETS = Path(__file__).resolve().parents[3] / "assets" / "tracks"

VALID = """\
format: 1
track: martinsville
corners:
  - {id: T1, name: "Turns 1 and 2", apex_m: 200}
  - {name: "Turns 3 and 4", apex_m: 650.5}
notes:
  - {at_m: 480, text: "  Brake at the end of the wall  ", corner: T3}
  - {at_m: 20, text: "Brake at the end of the wall", corner: T1}
  - {at_m: 300.5, text: "Roll the centre"}
"""


def notes_with(entry: str) -> str:
    return f"format: 1\ntrack: t\nnotes:\n  - {entry}\n"


def test_valid_file_is_parsed_with_notes_in_lap_order() -> None:
    notes = parse_track_notes(VALID)
    assert notes.track == "martinsville"
    assert notes.corners == (
        CornerName(apex_m=200.0, name="Turns 1 and 2", id="T1"),
        CornerName(apex_m=650.5, name="Turns 3 and 4", id=None),
    )
    assert notes.notes == (
        Note(20.0, "Brake at the end of the wall", "T1"),
        Note(300.5, "Roll the centre", None),
        Note(480.0, "Brake at the end of the wall", "T3"),  # stripped
    )
    assert all(isinstance(n.at_m, float) for n in notes.notes)


def test_corners_and_notes_are_optional() -> None:
    notes = parse_track_notes("format: 1\ntrack: t\n")
    assert (notes.track, notes.corners, notes.notes) == ("t", (), ())


def test_note_of_the_maximum_length_is_accepted() -> None:
    text = "a" * MAX_NOTE_CHARS
    (note,) = parse_track_notes(notes_with(f"{{at_m: 0, text: {text}}}")).notes
    assert note.text == text


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("format: 2\ntrack: t\n", "format"),
        ("track: t\n", "format"),
        ("format: 1\n", "'track'"),
        ("format: 1\ntrack: 5\n", "'track' must be str"),
        (notes_with("{at_m: 10}"), r"notes\[0\]: missing 'text'"),
        (notes_with("{at_m: 10, text: null}"), r"notes\[0\]: missing 'text'"),
        (notes_with("{at_m: 10, text: 12}"), r"notes\[0\]: 'text' must be str"),
        (notes_with("{at_m: 10, text: '   '}"), r"notes\[0\]: text must be 1 to"),
        (notes_with(f"{{at_m: 10, text: {'a' * (MAX_NOTE_CHARS + 1)}}}"), r"notes\[0\]: text must be 1 to 160"),
        (notes_with("{text: Brake}"), r"notes\[0\]: missing 'at_m'"),
        (notes_with("{at_m: far, text: Brake}"), r"notes\[0\]: 'at_m' must be float, not str"),
        (notes_with("{at_m: true, text: Brake}"), r"notes\[0\]: 'at_m' must be float, not bool"),
        (notes_with("{at_m: .inf, text: Brake}"), r"notes\[0\]: 'at_m' must be a finite number"),
        (notes_with("{at_m: -5, text: Brake}"), r"notes\[0\]: at_m must not be negative"),
        (notes_with("{at_m: 5, text: Brake, corner: 3}"), r"notes\[0\]: 'corner' must be str"),
        (notes_with("just a string"), r"notes\[0\]: expected a mapping"),
        ("format: 1\ntrack: t\ncorners:\n  - {name: T1}\n", r"corners\[0\]: missing 'apex_m'"),
        ("format: 1\ntrack: t\ncorners:\n  - {apex_m: 100}\n", r"corners\[0\]: missing 'name'"),
        ("format: 1\ntrack: t\ncorners:\n  - {apex_m: 1, name: A, id: 7}\n", r"corners\[0\]: 'id' must be str"),
        ("- format: 1\n- track: t\n", "expected a mapping at the top"),
        ("just text", "expected a mapping at the top"),
        ("", "expected a mapping at the top"),
        ("format: 1\ntrack: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_notes_raise_an_error_naming_the_field(text: str, names: str) -> None:
    with pytest.raises(TrackNotesError, match=names):
        parse_track_notes(text, "x.notes.yaml")


def test_error_names_the_source_file() -> None:
    with pytest.raises(TrackNotesError, match="my_track.notes.yaml"):
        parse_track_notes("format: 3\n", "my_track.notes.yaml")


@pytest.mark.parametrize("field", ["notes", "corners"])
@pytest.mark.parametrize("value", ["5", "true"])
def test_notes_or_corners_that_are_not_a_list_raise_a_track_notes_error(field: str, value: str) -> None:
    with pytest.raises(TrackNotesError, match=field):
        parse_track_notes(f"format: 1\ntrack: t\n{field}: {value}\n")


def test_python_tags_are_rejected_not_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "evaluated"
    text = f'format: 1\ntrack: t\nnotes: !!python/object/apply:builtins.open ["{marker}", "w"]\n'
    with pytest.raises(TrackNotesError, match="not valid YAML"):
        parse_track_notes(text)
    assert not marker.exists()
    with pytest.raises(TrackNotesError, match="not valid YAML"):
        parse_track_notes("format: 1\ntrack: !!python/object:pathlib.Path {}\n")


# --------------------------------------------------------------------------- load_track_notes


def write_track_json(directory: Path, name: str, corners: object) -> None:
    (directory / f"{name}.json").write_text(json.dumps({"format": 1, "name": name, "corners": corners}))


def test_no_files_give_empty_notes(tmp_path: Path) -> None:
    notes = load_track_notes("nowhere", tmp_path)
    assert (notes.track, notes.corners, notes.notes) == ("nowhere", (), ())


def test_corner_names_come_from_the_track_json(tmp_path: Path) -> None:
    write_track_json(
        tmp_path,
        "ring",
        [{"id": "T1", "number": 1, "apex_m": 761.4, "name": "Hairpin"}, {"id": "T2", "number": 2, "apex_m": 1089}],
    )
    notes = load_track_notes("ring", tmp_path)
    assert notes.corners == (CornerName(761.4, "Turn 1", "T1"), CornerName(1089.0, "Turn 2", "T2"))
    assert notes.notes == ()


def test_notes_file_is_read_next_to_the_track_json(tmp_path: Path) -> None:
    write_track_json(tmp_path, "ring", [{"id": "T1", "number": 1, "apex_m": 200}])
    (tmp_path / "ring.notes.yaml").write_text(
        "format: 1\ntrack: ring\nnotes:\n  - {at_m: 150, text: Brake, corner: T1}\n"
    )
    notes = load_track_notes("ring", tmp_path)
    assert notes.notes == (Note(150.0, "Brake", "T1"),)
    assert notes.corners == (CornerName(200.0, "Turn 1", "T1"),)  # the notes list none: the JSON's stand


def test_corners_in_the_notes_file_win_over_the_track_json(tmp_path: Path) -> None:
    write_track_json(tmp_path, "ring", [{"id": "T1", "number": 1, "apex_m": 200}])
    (tmp_path / "ring.notes.yaml").write_text(
        "format: 1\ntrack: ring\ncorners:\n  - {id: T1, name: Big One, apex_m: 210}\n"
    )
    assert load_track_notes("ring", tmp_path).corners == (CornerName(210.0, "Big One", "T1"),)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"corners": [{"id": "T1", "apex_m": 100}]}),  # no number
        json.dumps({"corners": [{"id": "T1", "number": "one", "apex_m": 100}]}),
        json.dumps({"corners": None}),
    ],
)
def test_unreadable_track_json_raises_a_track_notes_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "ring.json").write_text(content)
    with pytest.raises(TrackNotesError, match=r"ring\.json"):
        load_track_notes("ring", tmp_path)


def test_notes_file_that_is_not_utf8_raises_a_track_notes_error(tmp_path: Path) -> None:
    (tmp_path / "ring.notes.yaml").write_bytes(b"format: 1\ntrack: \xff\xfe\n")
    with pytest.raises(TrackNotesError, match=r"ring\.notes\.yaml"):
        load_track_notes("ring", tmp_path)


def test_invalid_notes_file_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ring.notes.yaml").write_text(notes_with("{at_m: -1, text: Brake}"))
    with pytest.raises(TrackNotesError, match=r"ring\.notes\.yaml: notes\[0\]: at_m"):
        load_track_notes("ring", tmp_path)


def _corners_of(track_json: Path) -> tuple[CornerName, ...]:
    data = json.loads(track_json.read_text(encoding="utf-8"))
    return tuple(CornerName(float(c["apex_m"]), f"Turn {c['number']}", c["id"]) for c in data["corners"])


def test_corner_names_from_the_real_pitbox_park_json(tmp_path: Path) -> None:
    shutil.copy(ASSETS / "pitbox_park.json", tmp_path / "pitbox_park.json")
    corners = load_track_notes("pitbox_park", tmp_path).corners
    assert corners == _corners_of(ASSETS / "pitbox_park.json")
    assert len(corners) >= 2
    assert corners[0] == CornerName(761.4, "Turn 1", "T1")
    assert [c.apex_m for c in corners] == sorted(c.apex_m for c in corners)


def test_real_pitbox_park_assets_load_and_notes_refer_to_known_corners() -> None:
    notes = load_track_notes("pitbox_park", ASSETS)
    assert notes.corners, "corner names come from the notes file or pitbox_park.json"
    known = {c.id for c in notes.corners}
    assert all(n.corner is None or n.corner in known for n in notes.notes)
    assert [n.at_m for n in notes.notes] == sorted(n.at_m for n in notes.notes)
