"""ThrottleApplication: late throttle pickup, coasting, and too little speed at the apex."""

from __future__ import annotations

from coaching.applications.base import AnalysedLap, Context, comparable
from coaching.applications.timing import plan_before


class ThrottleApplication:
    """After each flying lap, compares each corner's exit and apex with the reference lap's.

    Calls for the next lap, said before the corner: pick up the throttle earlier (pickup later than
    the reference by more than `throttle_pickup_threshold_m`), stop coasting (more than
    `coast_threshold_m` more off both pedals), carry more speed to the apex (more than
    `apex_speed_threshold_mps` slower at the minimum). One call per corner, the biggest miss.
    """

    name = "throttle"

    def on_lap(self, analysed: AnalysedLap, ctx: Context) -> None:
        if not comparable(analysed):
            return
        settings = ctx.settings
        issues: list[tuple[float, str, str, dict[str, float | str]]] = []
        for segment_id, ref in analysed.reference_features.items():
            mine = analysed.features.get(segment_id)
            if mine is None:
                continue
            if (
                mine.brake_point_m is not None
                and ref.brake_point_m is not None
                and abs(mine.brake_point_m - ref.brake_point_m) > settings.brake_point_threshold_m
            ):
                continue  # the brake call covers this corner: the exit follows from the entry
            name = ctx.segment_name(segment_id)
            options: list[tuple[float, str, dict[str, float | str]]] = []
            if mine.throttle_pickup_m is not None and ref.throttle_pickup_m is not None:
                late = mine.throttle_pickup_m - ref.throttle_pickup_m
                if late > settings.throttle_pickup_threshold_m:
                    text = f"{name}, throttle {settings.distance_words(late)} earlier"
                    options.append(
                        (
                            late / settings.throttle_pickup_threshold_m,
                            text,
                            {"kind": "pickup", "late_m": round(late, 1)},
                        )
                    )
            coast = mine.coast_m - ref.coast_m
            if coast > settings.coast_threshold_m:
                text = f"{name}, no coasting, {settings.distance_words(coast)} off both pedals"
                options.append(
                    (coast / settings.coast_threshold_m, text, {"kind": "coast", "coast_m": round(coast, 1)})
                )
            slow = ref.min_speed_mps - mine.min_speed_mps
            if slow > settings.apex_speed_threshold_mps and mine.time_s > ref.time_s:
                text = f"{name}, carry {settings.speed_words(slow)} more to the apex"
                options.append(
                    (slow / settings.apex_speed_threshold_mps, text, {"kind": "apex", "slow_mps": round(slow, 2)})
                )
            if options:
                weight, text, data = max(options, key=lambda o: o[0])
                issues.append((weight, segment_id, text, data))
        issues.sort(key=lambda issue: -issue[0])
        for _, segment_id, text, data in issues[: settings.max_coaching_calls_per_lap]:
            segment = ctx.segments.get(segment_id)
            if segment is None:
                continue
            plan_before(
                ctx,
                lap=analysed.lap.number + 1,
                point_m=segment.zone_start_m,
                text=text,
                category=self.name,
                segment_id=segment_id,
                data={**data, "about_lap": analysed.lap.number},
            )
