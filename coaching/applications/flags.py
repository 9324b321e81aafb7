"""FlagApplication: green, yellow, blue, black, meatball, white and checkered flags as they are shown."""

from __future__ import annotations

from typing import Final

from adapters.model import SessionFlag
from coaching.applications.base import Context, Sample, say
from coaching.messages import Priority

# Checked in this order; the first flag newly shown in a frame is called (a frame rarely shows two).
CALLS: Final = (
    (SessionFlag.DISQUALIFY, Priority.CRITICAL, "You are disqualified, bring it in"),
    (SessionFlag.BLACK, Priority.CRITICAL, "Black flag, serve your penalty"),
    (SessionFlag.REPAIR, Priority.CRITICAL, "Meatball flag, pit for repairs"),
    (SessionFlag.RED, Priority.CRITICAL, "Red flag, session stopped"),
    (SessionFlag.CAUTION_WAVING, Priority.IMPORTANT, "Full course yellow, slow down"),
    (SessionFlag.CAUTION, Priority.IMPORTANT, "Full course caution"),
    (SessionFlag.YELLOW_WAVING, Priority.IMPORTANT, "Yellow flag, waving, slow down"),
    (SessionFlag.YELLOW, Priority.IMPORTANT, "Yellow flag"),
    (SessionFlag.CHECKERED, Priority.IMPORTANT, "Checkered flag"),
    (SessionFlag.WHITE, Priority.IMPORTANT, "White flag, last lap"),
    (SessionFlag.BLUE, Priority.IMPORTANT, "Blue flag, faster car behind, let it by"),
    (SessionFlag.GREEN, Priority.IMPORTANT, "Green flag, go go go"),
)
CAUTIONS: Final = SessionFlag.YELLOW | SessionFlag.YELLOW_WAVING | SessionFlag.CAUTION | SessionFlag.CAUTION_WAVING
STALE_AFTER_S: Final = 4.0


class FlagApplication:
    """Calls a flag when it appears (not every frame it is out); "track clear" when the last yellow
    goes in while racing."""

    name = "flag"

    def __init__(self) -> None:
        self._previous = 0

    def on_frame(self, s: Sample, ctx: Context) -> None:
        flags = s.flags
        previous, self._previous = self._previous, flags
        if flags == previous:
            return
        new = flags & ~previous
        for flag, priority, text in CALLS:
            if new & flag:
                self._say(s, ctx, text, priority, flag.name or "flag")
                return
        if previous & CAUTIONS and not flags & CAUTIONS:
            self._say(s, ctx, "Track clear", Priority.IMPORTANT, "clear")

    def _say(self, s: Sample, ctx: Context, text: str, priority: Priority, flag: str) -> None:
        say(
            ctx,
            s,
            text,
            priority=priority,
            category=self.name,
            stale_after_s=STALE_AFTER_S,
            key=f"flag:{flag}",
            repeat_after_s=10.0,
            data={"flag": flag.lower()},
        )
