"""IncidentApplication: incident points as they come, and off-tracks, spins and lock-ups seen in telemetry."""

from __future__ import annotations

from typing import Final

from adapters.model import TrackSurface
from coaching.applications.base import Context, Sample, say
from coaching.messages import Priority, Verbosity

MIN_SPEED_MPS: Final = 8.0
"""Below this the car is manoeuvring, not racing: no spin or lock-up calls."""
SPIN_CLEAR_S: Final = 3.0
UNSATURATED_BRAKE: Final = (0.3, 0.9)
"""Pedal range in which the tyres are assumed to roll: it teaches the pedal-to-deceleration ratio."""


class IncidentApplication:
    """Each detection is recorded (`ctx.record_incident`, which the video clips use) and said.

    Spin: the yaw rate exceeds the yaw rate the lateral acceleration explains (v x yaw = lat accel
    in a steady corner) by `spin_yaw_excess_radps`. Lock-up (the canonical model carries no wheel
    speeds): the pedal pinned at `lockup_brake` or more for `lockup_min_s` at speed while the car
    decelerates clearly less than that pedal does with rolling tyres.
    """

    name = "incident"

    def __init__(self) -> None:
        self._incidents: int | None = None
        self._surface = int(TrackSurface.ON_TRACK)
        self._spin_until_s = -1.0
        self._pinned_since_s: float | None = None
        self._locked_called = False
        self._decel_per_pedal: float | None = None

    def on_frame(self, s: Sample, ctx: Context) -> None:
        if self._incidents is None or s.incidents < self._incidents:
            self._incidents = s.incidents  # first frame, or a new session
        elif s.incidents > self._incidents:
            added, self._incidents = s.incidents - self._incidents, s.incidents
            self._report(s, ctx, "incident", f"Incident, {added} x, {s.incidents} total", f"+{added}")
        previous, self._surface = self._surface, s.surface
        if s.surface == TrackSurface.OFF_TRACK and previous != TrackSurface.OFF_TRACK and s.speed_mps > MIN_SPEED_MPS:
            self._report(s, ctx, "off_track", "Off track", "off track")
        if s.speed_mps > MIN_SPEED_MPS and s.t > self._spin_until_s:
            explained = abs(s.lat_accel_mps2) / s.speed_mps
            if abs(s.yaw_rate_radps) - explained > ctx.settings.spin_yaw_excess_radps:
                self._spin_until_s = s.t + SPIN_CLEAR_S
                self._report(s, ctx, "spin", "Spin", "spin")
        if s.brake >= ctx.settings.lockup_brake and s.speed_mps > MIN_SPEED_MPS:
            sliding = self._decel_per_pedal is not None and (
                -s.long_accel_mps2 < ctx.settings.lockup_decel_ratio * self._decel_per_pedal * s.brake
            )
            if not sliding:
                self._pinned_since_s = None
            elif self._pinned_since_s is None:
                self._pinned_since_s, self._locked_called = s.t, False
            elif not self._locked_called and s.t - self._pinned_since_s >= ctx.settings.lockup_min_s:
                self._locked_called = True
                self._report(s, ctx, "lockup", "Lock up", "lock-up")
        else:
            self._pinned_since_s = None
            if UNSATURATED_BRAKE[0] < s.brake < UNSATURATED_BRAKE[1] and s.speed_mps > MIN_SPEED_MPS:
                self._learn_brake(-s.long_accel_mps2 / s.brake)

    def _learn_brake(self, decel_per_pedal: float) -> None:
        """Track the upper envelope of deceleration per unit of pedal (rises fast, decays slowly)."""
        current = self._decel_per_pedal
        if current is None:
            self._decel_per_pedal = decel_per_pedal
        else:
            rate = 0.05 if decel_per_pedal > current else 0.001
            self._decel_per_pedal = current + rate * (decel_per_pedal - current)

    def _report(self, s: Sample, ctx: Context, kind: str, text: str, detail: str) -> None:
        ctx.record_incident(kind, s, detail)
        zone = ctx.segments.zone_at(s.dist_m)
        if zone is not None and kind in ("lockup", "off_track", "spin"):
            text = f"{text}, {ctx.segment_name(zone.id)}"
        say(
            ctx,
            s,
            text,
            priority=Priority.REGULAR,
            category=self.name,
            stale_after_s=6.0,
            key=f"incident:{kind}:{round(s.t, 1)}",
            verbosity=Verbosity.NORMAL,
            data={"kind": kind, "detail": detail, "segment": None if zone is None else zone.id},
        )
