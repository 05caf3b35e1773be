"""Small named problems a reader understands at a glance.

`line_problem` puts locations on a line, one minute apart: location i to j takes
60 * |i - j| seconds, so every expected time can be worked out by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from optimizer.evaluate import evaluate
from optimizer.model import Problem, Visit
from optimizer.plan import Plan

NIGHT_START = datetime(2026, 11, 23, 23, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
MINUTE = 60
HOUR = 3600


def line_matrix(size: int) -> list[list[float]]:
    """Travel seconds between points on a line, one minute apart."""
    return [[60.0 * abs(i - j) for j in range(size)] for i in range(size)]


def nurse(nurse_id: str = "N1", **fields: Any) -> dict[str, Any]:
    """A nurse dict with an 8-hour shift at location 0 and every default skill."""
    base: dict[str, Any] = {
        "id": nurse_id,
        "skills": ["basic", "medication", "catheter", "iv", "palliative", "wound", "injection"],
        "shift": {"start": 0, "end": 8 * HOUR},
        "start_location": 0,
        "end_location": 0,
    }
    base.update(fields)
    return base


def planned(visit_id: str, location: int, start: int, end: int, **fields: Any) -> dict[str, Any]:
    """A planned visit dict with a hard window [start, end] and 10 minutes of care."""
    base: dict[str, Any] = {
        "id": visit_id,
        "client_ref": f"ref-{visit_id}",
        "location": location,
        "service_seconds": 10 * MINUTE,
        "urgency": "planned",
        "window": {"start": start, "end": end},
    }
    base.update(fields)
    return base


def unplanned(
    visit_id: str, location: int, call: int, urgency: str, **fields: Any
) -> dict[str, Any]:
    """An unplanned visit dict: a call at ``call`` of class ``urgency``."""
    base: dict[str, Any] = {
        "id": visit_id,
        "client_ref": f"ref-{visit_id}",
        "location": location,
        "service_seconds": 10 * MINUTE,
        "urgency": urgency,
        "call_time": call,
    }
    base.update(fields)
    return base


def line_problem(
    nurses: list[dict[str, Any]], visits: list[dict[str, Any]], *, size: int = 31, **fields: Any
) -> Problem:
    """A problem on `line_matrix(size)` for an 8-hour night from 23:00."""
    data: dict[str, Any] = {
        "night": {
            "start": NIGHT_START.isoformat(),
            "end": (NIGHT_START + timedelta(hours=8)).isoformat(),
        },
        "travel": [{"profile": "car", "seconds": line_matrix(size)}],
        "nurses": nurses,
        "visits": visits,
    }
    data.update(fields)
    return Problem.model_validate(data)


def three_calls_at_once() -> tuple[Problem, Plan]:
    """Session 24's night: two nurses (at 7 and 5) with planned care that has tolerances
    (N1: P0 at 11, then P1 at 16; N2: P2 at 3), and three calls at 23:00: C0 acute at 12
    (22 minutes' care), C1 acute at 18 (5), C2 urgent at 8 (30). All fit, each call in its
    target (N1 P0 P1 C2, N2 C1 C0 P2). (The night with the calls, the plan without them.)"""
    tolerant = {"late_tolerance_seconds": 15 * MINUTE, "late_cost_per_minute": 1000}
    night = line_problem(
        [nurse("N1", start_location=7), nurse("N2", start_location=5)],
        [
            planned("P0", 11, 5 * MINUTE, 22 * MINUTE, **tolerant),
            planned("P1", 16, 29 * MINUTE, 43 * MINUTE, service_seconds=19 * MINUTE, **tolerant),
            planned(
                "P2",
                3,
                39 * MINUTE,
                47 * MINUTE,
                service_seconds=17 * MINUTE,
                late_tolerance_seconds=10 * MINUTE,
                late_cost_per_minute=1000,
            ),
        ],
        now=0,
    )
    current = evaluate(night, {"N1": ["P0", "P1"], "N2": ["P2"]})
    calls = [
        unplanned("C0", 12, 0, "acute", service_seconds=22 * MINUTE),
        unplanned("C1", 18, 0, "acute", service_seconds=5 * MINUTE),
        unplanned("C2", 8, 0, "urgent", service_seconds=30 * MINUTE),
    ]
    visits = [*night.visits, *(Visit.model_validate(c) for c in calls)]
    return night.model_copy(update={"visits": visits}), current
