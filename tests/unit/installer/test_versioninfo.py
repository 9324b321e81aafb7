"""The Windows version resource of the executables: made from pyproject.toml's version."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from installer.versioninfo import project_version, version_info_text, version_tuple

REPO = Path(__file__).resolve().parents[3]
STRUCTURES = (
    "VSVersionInfo",
    "FixedFileInfo",
    "StringFileInfo",
    "StringTable",
    "StringStruct",
    "VarFileInfo",
    "VarStruct",
)


def test_the_version_is_pyprojects() -> None:
    with (REPO / "pyproject.toml").open("rb") as handle:
        assert project_version(REPO / "pyproject.toml") == tomllib.load(handle)["project"]["version"]


@pytest.mark.parametrize(
    ("version", "numbers"),
    [("0.1.0", (0, 1, 0, 0)), ("1.2", (1, 2, 0, 0)), ("2.0.1rc3", (2, 0, 1, 0)), ("1.2.3.4.5", (1, 2, 3, 4))],
)
def test_windows_shows_four_numbers(version: str, numbers: tuple[int, int, int, int]) -> None:
    assert version_tuple(version) == numbers


def test_a_version_without_numbers_is_refused() -> None:
    with pytest.raises(ValueError, match="release number"):
        version_tuple("dev")


def test_the_text_is_the_structure_pyinstaller_reads() -> None:
    """PyInstaller evaluates the file as Python with its version-resource classes in scope."""

    def record(kind: str) -> Any:
        return lambda *args, **kwargs: (kind, args, kwargs)

    text = version_info_text("1.4.2", filename="PitBox.exe", description="PitBox driver app")
    kind, _, fields = eval(text, {name: record(name) for name in STRUCTURES})  # noqa: S307 - our own text
    assert kind == "VSVersionInfo"
    fixed = fields["ffi"][2]
    assert fixed["filevers"] == fixed["prodvers"] == (1, 4, 2, 0)
    string_file_info = fields["kids"][0]
    (table,) = string_file_info[1][0]
    strings = {entry[1][0]: entry[1][1] for entry in table[1][1]}
    assert strings["FileVersion"] == strings["ProductVersion"] == "1.4.2"
    assert strings["OriginalFilename"] == "PitBox.exe"
    assert strings["InternalName"] == "PitBox"
    assert strings["ProductName"] == "PitBox"
