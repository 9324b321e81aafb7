"""Sim-neutral pit commands: what a driver (or the voice engine) may ask the crew to do at the next stop.

`PitCommander` validates every request once, here, and turns it into `PitCommand` values; a concrete
commander only delivers those values to its sim (`adapters.iracing.IRacingPitCommander` broadcasts
them to iRacing). A request that is out of range, or that the sim cannot receive, raises
`PitCommandError` before anything is sent.

`RecordingPitCommander` delivers nothing: it records the commands, for platforms where the sim cannot
run (Linux, CI) and for tests of code that issues pit commands.
"""

from __future__ import annotations

import abc
import enum
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from adapters.errors import PitCommandError
from adapters.model import TYRES

logger = logging.getLogger(__name__)

MAX_FUEL_ADD_L: Final = 999
"""Upper bound of one fuel request (no car carries more; a larger number is a misheard command)."""
MAX_TYRE_PRESSURE_KPA: Final = 1000
"""Upper bound of a requested tyre pressure (racing tyres run at 100-400 kPa)."""


class PitAction(enum.Enum):
    """One pit-menu operation."""

    CLEAR = "clear"  # untick every service
    ADD_FUEL = "add_fuel"
    CHANGE_TYRE = "change_tyre"
    FAST_REPAIR = "fast_repair"
    CLEAR_TYRES = "clear_tyres"
    CLEAR_FUEL = "clear_fuel"


@dataclass(frozen=True, slots=True)
class PitCommand:
    """One validated command, ready for a sim.

    `fuel_l` (whole litres, > 0) is set for ADD_FUEL only; `corner` (one of `model.TYRES`) for
    CHANGE_TYRE only, with `pressure_kpa` the requested pressure or 0 to keep the current one.
    """

    action: PitAction
    fuel_l: int = 0
    corner: str = ""
    pressure_kpa: int = 0


def fuel_command(litres: float) -> PitCommand:
    """Validate a fuel request; the sims take whole litres, so it is rounded to the nearest litre."""
    if isinstance(litres, bool) or not isinstance(litres, int | float):
        raise PitCommandError(f"fuel to add must be a number of litres, not {litres!r}")
    if not math.isfinite(litres) or litres <= 0:
        raise PitCommandError(f"fuel to add must be a positive number of litres, not {litres!r}")
    whole_l = round(litres)
    if whole_l < 1:
        raise PitCommandError(f"fuel to add must be at least 1 litre ({litres:g} l requested)")
    if whole_l > MAX_FUEL_ADD_L:
        raise PitCommandError(f"fuel to add must be at most {MAX_FUEL_ADD_L} l ({litres:g} l requested)")
    return PitCommand(PitAction.ADD_FUEL, fuel_l=whole_l)


def tyre_commands(corners: Iterable[str] = TYRES, pressure_kpa: float | None = None) -> tuple[PitCommand, ...]:
    """Validate a tyre change: one command per corner, in `model.TYRES` order, duplicates removed."""
    if isinstance(corners, str):
        corners = (corners,)  # a single corner name, not its letters
    requested = [str(c).strip().lower() for c in corners]
    unknown = [c for c in requested if c not in TYRES]
    if unknown:
        raise PitCommandError(f"unknown tyre corner(s) {', '.join(map(repr, unknown))} (use {', '.join(TYRES)})")
    if not requested:
        raise PitCommandError("a tyre change needs at least one corner")
    if pressure_kpa is None:
        kpa = 0
    else:
        if isinstance(pressure_kpa, bool) or not isinstance(pressure_kpa, int | float):
            raise PitCommandError(f"tyre pressure must be a number of kPa, not {pressure_kpa!r}")
        if not math.isfinite(pressure_kpa) or not 1 <= pressure_kpa <= MAX_TYRE_PRESSURE_KPA:
            raise PitCommandError(
                f"tyre pressure must be between 1 and {MAX_TYRE_PRESSURE_KPA} kPa, not {pressure_kpa!r}"
            )
        kpa = round(pressure_kpa)
    return tuple(PitCommand(PitAction.CHANGE_TYRE, corner=c, pressure_kpa=kpa) for c in TYRES if c in requested)


class PitCommander(abc.ABC):
    """Requests pit services from the sim. Every method validates first and raises `PitCommandError`
    when the request is invalid or the sim cannot receive it."""

    def add_fuel(self, litres: float) -> None:
        """Tick 'add fuel' with `litres` (rounded to whole litres, 1..MAX_FUEL_ADD_L)."""
        self._deliver((fuel_command(litres),))

    def change_tyres(self, corners: Iterable[str] = TYRES, pressure_kpa: float | None = None) -> None:
        """Tick a tyre change for `corners` (default all four) at `pressure_kpa` (None: keep current)."""
        self._deliver(tyre_commands(corners, pressure_kpa))

    def fast_repair(self) -> None:
        """Request a fast repair."""
        self._deliver((PitCommand(PitAction.FAST_REPAIR),))

    def clear(self) -> None:
        """Untick every pit service."""
        self._deliver((PitCommand(PitAction.CLEAR),))

    def clear_tyres(self) -> None:
        """Untick every tyre change."""
        self._deliver((PitCommand(PitAction.CLEAR_TYRES),))

    def clear_fuel(self) -> None:
        """Untick 'add fuel'."""
        self._deliver((PitCommand(PitAction.CLEAR_FUEL),))

    def _deliver(self, commands: Sequence[PitCommand]) -> None:
        for command in commands:
            logger.debug("pit command %s", command)
            self._send(command)

    @abc.abstractmethod
    def _send(self, command: PitCommand) -> None:
        """Deliver one validated command to the sim; raise `PitCommandError` when it cannot."""


class RecordingPitCommander(PitCommander):
    """A commander for platforms without the sim: validates like the real one, records, delivers nothing."""

    def __init__(self) -> None:
        self.sent: list[PitCommand] = []

    def _send(self, command: PitCommand) -> None:
        self.sent.append(command)
