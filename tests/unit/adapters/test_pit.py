"""Pit commands: validation before anything is sent, the recording commander, and iRacing's commander."""

from __future__ import annotations

import math
import sys

import irsdk
import pytest

from adapters.errors import PitCommandError
from adapters.iracing import IRacingPitCommander, _pit_mode
from adapters.pit import PitAction, PitCommand, PitCommander, RecordingPitCommander

FUEL = PitAction.ADD_FUEL
TYRE = PitAction.CHANGE_TYRE


@pytest.fixture
def crew() -> RecordingPitCommander:
    return RecordingPitCommander()


def test_every_command_is_recorded_in_order(crew: RecordingPitCommander) -> None:
    crew.add_fuel(12.4)
    crew.change_tyres()
    crew.fast_repair()
    crew.clear_tyres()
    crew.clear_fuel()
    crew.clear()
    assert crew.sent == [
        PitCommand(FUEL, fuel_l=12),
        PitCommand(TYRE, corner="lf"),
        PitCommand(TYRE, corner="rf"),
        PitCommand(TYRE, corner="lr"),
        PitCommand(TYRE, corner="rr"),
        PitCommand(PitAction.FAST_REPAIR),
        PitCommand(PitAction.CLEAR_TYRES),
        PitCommand(PitAction.CLEAR_FUEL),
        PitCommand(PitAction.CLEAR),
    ]


def test_fuel_is_rounded_to_whole_litres(crew: RecordingPitCommander) -> None:
    crew.add_fuel(1)
    crew.add_fuel(0.6)
    crew.add_fuel(44.5)
    crew.add_fuel(999)
    assert [c.fuel_l for c in crew.sent] == [1, 1, 44, 999]


def test_some_tyres_at_a_pressure_are_sent_in_corner_order(crew: RecordingPitCommander) -> None:
    crew.change_tyres(["RR", "lf", "rr"], pressure_kpa=170.4)
    crew.change_tyres("lr")  # one corner given as a string, not its letters
    assert crew.sent == [
        PitCommand(TYRE, corner="lf", pressure_kpa=170),
        PitCommand(TYRE, corner="rr", pressure_kpa=170),
        PitCommand(TYRE, corner="lr", pressure_kpa=0),  # 0: keep the current pressure
    ]


@pytest.mark.parametrize("litres", [-5, 0, 0.4, 1000, math.nan, math.inf, -math.inf, "10", True, None])
def test_invalid_fuel_is_refused_and_nothing_is_sent(crew: RecordingPitCommander, litres: object) -> None:
    with pytest.raises(PitCommandError, match="fuel"):
        crew.add_fuel(litres)  # type: ignore[arg-type]
    assert crew.sent == []


@pytest.mark.parametrize(
    ("corners", "pressure_kpa", "message"),
    [
        (["lf", "front"], None, "unknown tyre corner"),
        ([], None, "at least one corner"),
        ("left", None, "unknown tyre corner"),
        (["lf"], -10.0, "pressure"),
        (["lf"], 0.0, "pressure"),
        (["lf"], 0.4, "pressure"),
        (["lf"], 5000.0, "pressure"),
        (["lf"], math.nan, "pressure"),
        (["lf"], "170", "pressure"),
    ],
)
def test_invalid_tyre_changes_are_refused_and_nothing_is_sent(
    crew: RecordingPitCommander, corners: object, pressure_kpa: object, message: str
) -> None:
    with pytest.raises(PitCommandError, match=message):
        crew.change_tyres(corners, pressure_kpa)  # type: ignore[arg-type]
    assert crew.sent == []


def test_a_commander_is_one_interface_for_every_sim() -> None:
    assert issubclass(RecordingPitCommander, PitCommander)
    assert issubclass(IRacingPitCommander, PitCommander)
    with pytest.raises(TypeError):
        PitCommander()  # type: ignore[abstract]


@pytest.mark.parametrize(
    ("command", "mode", "value"),
    [
        (PitCommand(FUEL, fuel_l=25), irsdk.PitCommandMode.fuel, 25),
        (PitCommand(TYRE, corner="lf", pressure_kpa=165), irsdk.PitCommandMode.lf, 165),
        (PitCommand(TYRE, corner="rf"), irsdk.PitCommandMode.rf, 0),
        (PitCommand(TYRE, corner="lr"), irsdk.PitCommandMode.lr, 0),
        (PitCommand(TYRE, corner="rr"), irsdk.PitCommandMode.rr, 0),
        (PitCommand(PitAction.FAST_REPAIR), irsdk.PitCommandMode.fr, 0),
        (PitCommand(PitAction.CLEAR), irsdk.PitCommandMode.clear, 0),
        (PitCommand(PitAction.CLEAR_TYRES), irsdk.PitCommandMode.clear_tires, 0),
        (PitCommand(PitAction.CLEAR_FUEL), irsdk.PitCommandMode.clear_fuel, 0),
    ],
)
def test_commands_map_onto_iracings_pit_command_modes(command: PitCommand, mode: int, value: int) -> None:
    assert _pit_mode(command) == (mode, value)


@pytest.mark.skipif(sys.platform == "win32", reason="on Windows the broadcast is really sent")
def test_the_iracing_commander_raises_a_pit_command_error_off_windows() -> None:
    crew = IRacingPitCommander()
    with pytest.raises(PitCommandError, match="need Windows") as raised:
        crew.add_fuel(20)
    assert isinstance(raised.value.__cause__, AttributeError)  # pyirsdk's missing ctypes.windll
    with pytest.raises(PitCommandError, match="need Windows"):
        crew.clear()


def test_the_iracing_commander_validates_before_it_sends() -> None:
    crew = IRacingPitCommander()
    with pytest.raises(PitCommandError, match="positive number of litres"):
        crew.add_fuel(-3)
    with pytest.raises(PitCommandError, match="unknown tyre corner"):
        crew.change_tyres(["xx"])
