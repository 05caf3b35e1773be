"""Generated nights: realistic, fictional problems for examples, tests and benchmarks.

Clients are opaque references around a town centre; nothing here is a real person or address.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from optimizer.model import BreakRule, Location, Night, Nurse, Problem, TimeWindow, Visit
from optimizer.travel import estimated_matrix

__all__ = ["generated_night"]

_AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_PLANNED_CARE = [
    # (what, service minutes, skills, materials)
    ("turn", 10, (), {}),
    ("turn", 15, (), {}),
    ("medication", 10, ("medication",), {}),
    ("catheter", 20, ("catheter",), {"catheter_kit": 1, "gloves": 2}),
    ("injection", 10, ("injection",), {"syringe": 1}),
    ("palliative", 25, ("palliative",), {"gloves": 1}),
    ("wound", 20, ("wound",), {"dressing": 2, "gloves": 1}),
]
_ALARM = [
    ("fall", 25, (), {"gloves": 1}),
    ("pain", 15, ("medication",), {}),
    ("catheter_blocked", 25, ("catheter",), {"catheter_kit": 1, "gloves": 2}),
    ("confused", 20, (), {}),
]
_SKILL_SETS = [
    frozenset({"basic", "medication", "injection", "catheter", "wound", "palliative", "iv"}),
    frozenset({"basic", "medication", "injection", "catheter", "wound", "palliative"}),
    frozenset({"basic", "medication", "injection", "wound", "palliative"}),
]
_BAG = {"gloves": 40, "catheter_kit": 3, "syringe": 10, "dressing": 12}


def generated_night(
    *,
    nurses: int = 3,
    visits: int = 45,
    seed: int = 0,
    centre: Location = Location(lat=52.9925, lon=6.5625),  # noqa: B008 - frozen value
    radius_km: float | None = None,
    unplanned_share: float = 0.3,
    two_person_share: float = 0.04,
    night_of: datetime | None = None,
) -> Problem:
    """A night of ``visits`` visits for ``nurses`` nurses, 23:00-07:00, reproducible by seed.

    The region grows with the team (about 20 km^2 per nurse) so larger nights stay plannable.
    """
    rng = random.Random(seed)
    day = night_of or datetime(2026, 11, 23, tzinfo=_AMSTERDAM)
    start = datetime(day.year, day.month, day.day, 23, tzinfo=_AMSTERDAM)
    night = Night(start=start, end=start + timedelta(hours=8), base_location=0)
    radius = radius_km if radius_km is not None else 4.5 * max(1.0, (nurses / 3) ** 0.5)
    points = [centre]
    for _ in range(visits):
        distance = radius * rng.random() ** 0.7
        bearing = rng.uniform(0, 6.283185307179586)
        dlat = distance / 111.2 * _cos(bearing)
        dlon = distance / (111.2 * 0.6) * _sin(bearing)
        points.append(Location(lat=centre.lat + dlat, lon=centre.lon + dlon))
    team = []
    for n in range(nurses):
        rule = BreakRule(duration_seconds=30 * 60, window=TimeWindow(start=3 * 3600, end=5 * 3600))
        team.append(
            Nurse(
                id=f"N{n + 1}",
                skills=_SKILL_SETS[n % len(_SKILL_SETS)],
                shift=TimeWindow(start=0, end=8 * 3600),
                start_location=0,
                end_location=0,
                break_rule=rule,
                bag=dict(_BAG),
            )
        )
    horizon = 8 * 3600
    made = []
    for v in range(visits):
        unplanned = rng.random() < unplanned_share
        _, minutes, skills, materials = rng.choice(_ALARM if unplanned else _PLANNED_CARE)
        needs_two = nurses >= 2 and not unplanned and rng.random() < two_person_share
        common = {
            "id": f"V{v + 1:04d}",
            "client_ref": f"C{rng.randrange(10**6):06d}",
            "location": v + 1,
            "service_seconds": minutes * 60,
            "required_skills": frozenset(skills),
            "materials": materials,
        }
        if needs_two:
            common["service_seconds"] = 20 * 60
            common["required_skills"] = frozenset()
            common["materials"] = {}
        if unplanned:
            urgency = rng.choices(["acute", "urgent", "soon"], weights=[2, 3, 5])[0]
            call = rng.randrange(0, horizon - 3 * 3600)
            made.append(Visit(urgency=urgency, call_time=call, **common))
        else:
            begin = rng.randrange(0, horizon - 3600, 300)
            width = rng.choice([30, 60, 60, 90, 120]) * 60
            made.append(
                Visit(
                    urgency="planned",
                    window=TimeWindow(start=begin, end=min(horizon - 1800, begin + width)),
                    nurses_needed=2 if needs_two else 1,
                    **common,
                )
            )
    return Problem(
        night=night,
        locations=points,
        travel=[estimated_matrix(points, profile="car")],
        nurses=team,
        visits=made,
    )


def _cos(angle: float) -> float:
    import math

    return math.cos(angle)


def _sin(angle: float) -> float:
    import math

    return math.sin(angle)
