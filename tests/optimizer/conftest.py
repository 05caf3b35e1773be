"""Small named problems a reader understands at a glance.

`line_problem` puts locations on a line, one minute apart: location i to j takes
60 * |i - j| seconds, so every expected time can be worked out by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from optimizer.model import Problem

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
