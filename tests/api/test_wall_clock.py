"""Seconds from the night's start become the right instant across the autumn DST change."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from api.db.models import Night
from api.services import phone
from api.services.planning import visit_times
from optimizer.plan import Plan, Route, Step, StepType, Summary

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _dst_night() -> Night:
    """24-25 Oct 2026 as built before it is stored: aware in Amsterdam time, not UTC."""
    return Night(
        region_id=1,
        night_date=date(2026, 10, 24),
        starts_at=datetime(2026, 10, 24, 23, 0, tzinfo=AMSTERDAM),
        ends_at=datetime(2026, 10, 25, 7, 0, tzinfo=AMSTERDAM),
    )


def test_visit_times_count_elapsed_seconds() -> None:
    """A visit 25200 s into the night starts at 05:00 local, not 06:00."""
    step = Step(
        type=StepType.VISIT, visit_id="v7", location=0, arrival=25200, start=25200, end=25800
    )
    plan = Plan(
        routes=[Route(nurse_id="N1", steps=[step], travel_seconds=0, visit_count=1)],
        unassigned=[],
        summary=Summary(
            travel_seconds=0,
            visits_planned=1,
            visits_unassigned=0,
            visits_per_nurse={"N1": 1},
            lateness_seconds_by_urgency={},
            late_visits_by_urgency={},
            travel_estimated=False,
        ),
    )
    ((nurse, moment),) = visit_times(_dst_night(), plan).values()
    assert nurse == "N1"
    assert moment.astimezone(AMSTERDAM).strftime("%H:%M %z") == "05:00 +0100"


def test_phone_times_count_elapsed_seconds() -> None:
    """The phone's clock for 25200 s into that night is 05:00 local too."""
    moment = phone._at(_dst_night(), 25200)
    assert moment.astimezone(AMSTERDAM).strftime("%H:%M %z") == "05:00 +0100"
