"""The copilot says the same thing whether frames arrive one at a time (live) or in big blocks (replay)."""

from __future__ import annotations

import pytest

from adapters.ibt import IbtFile
from coaching.applications.base import CoachSettings
from coaching.copilot import Copilot
from coaching.messages import Verbosity
from driver_app.coach_files import copilot_files
from tests.support.reference import reference_path


@pytest.mark.parametrize("chunk", [1, 7, 600, 10_000])
def test_calls_do_not_depend_on_how_frames_are_batched(chunk: int) -> None:
    with IbtFile(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")) as ibt:
        info, block = ibt.session_info, ibt.read_block()

    def run(size: int) -> list[dict[str, object]]:
        copilot = Copilot(info, settings=CoachSettings(verbosity=Verbosity.COACHING, debug=True), **copilot_files(None))
        calls = []
        for start in range(0, len(block), size):
            calls += copilot.process(block.slice(start, min(start + size, len(block))))
        copilot.finish()
        return [call.to_dict() for call in calls] + [{"laps": [lap.number for lap in copilot.laps]}]

    assert run(chunk) == run(60)
