"""DebugApplication: what the copilot itself sees, for developers and curious drivers (off by default)."""

from __future__ import annotations

from coaching.applications.base import AnalysedLap, Context
from coaching.messages import Message, Priority, Verbosity


class DebugApplication:
    """After every lap: its number, kind and time, the segments analysed, and the reference."""

    name = "debug"

    def on_lap(self, analysed: AnalysedLap, ctx: Context) -> None:
        if not ctx.settings.debug:
            return
        lap = analysed.lap
        time = "no time" if lap.time_s is None else f"{lap.time_s:.2f} seconds"
        reference = "none" if ctx.reference is None else f"{ctx.reference.lap_time_s:.2f} {ctx.reference.source}"
        segments = len(analysed.features)
        text = f"Debug, lap {lap.number} {lap.kind.value}, {time}, {segments} segments, reference {reference}"
        now = lap.end_time_s
        ctx.submit(
            Message(
                text=text,
                priority=Priority.REGULAR,
                category=self.name,
                created_s=now,
                deadline_s=now + 30.0,
                key=f"debug:{lap.number}",
                verbosity=Verbosity.QUIET,
                data={"lap": lap.number, "segments": sorted(analysed.features)},
            )
        )
