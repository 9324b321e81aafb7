"""BrakeApplication: brake point and pressure against the reference lap, said before the corner."""

from __future__ import annotations

from coaching.applications.base import AnalysedLap, Context, comparable
from coaching.applications.timing import plan_before


class BrakeApplication:
    """After each flying lap, compares each braking zone with the reference lap's.

    A brake point earlier or later than the reference by more than `brake_point_threshold_m`, or a
    peak pressure off by more than `brake_pressure_threshold`, becomes a call for the next lap,
    timed to end (plus the reaction time) before the reference brake point. The biggest misses
    first, at most `max_coaching_calls_per_lap` brake calls per lap.
    """

    name = "brake"

    def on_lap(self, analysed: AnalysedLap, ctx: Context) -> None:
        if not comparable(analysed):
            return
        settings = ctx.settings
        issues: list[tuple[float, str, str, float, dict[str, object]]] = []
        for segment_id, ref in analysed.reference_features.items():
            mine = analysed.features.get(segment_id)
            if mine is None or ref.brake_point_m is None:
                continue
            name = ctx.segment_name(segment_id)
            if mine.brake_point_m is not None:
                delta = mine.brake_point_m - ref.brake_point_m  # > 0: braked later than the reference
                if abs(delta) > settings.brake_point_threshold_m:
                    direction = "earlier" if delta > 0 else "later"
                    text = f"{name}, brake {settings.distance_words(abs(delta))} {direction}"
                    data = {"delta_m": round(delta, 1), "direction": direction}
                    issues.append(
                        (abs(delta) / settings.brake_point_threshold_m, segment_id, text, ref.brake_point_m, data)
                    )
                    continue
            pressure = mine.peak_brake - ref.peak_brake
            if abs(pressure) > settings.brake_pressure_threshold and mine.brake_point_m is not None:
                # Only with the brake point on target: a moved brake point changes the pressure needed.
                text = f"{name}, {'less' if pressure > 0 else 'more'} brake pressure"
                data = {"pressure_delta": round(pressure, 3), "direction": "less" if pressure > 0 else "more"}
                issues.append(
                    (abs(pressure) / settings.brake_pressure_threshold, segment_id, text, ref.brake_point_m, data)
                )
        issues.sort(key=lambda issue: -issue[0])
        for _, segment_id, text, point_m, data in issues[: settings.max_coaching_calls_per_lap]:
            plan_before(
                ctx,
                lap=analysed.lap.number + 1,
                point_m=point_m,
                text=text,
                category=self.name,
                segment_id=segment_id,
                data={**data, "about_lap": analysed.lap.number},
            )
