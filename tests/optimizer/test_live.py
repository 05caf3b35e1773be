"""Live re-planning: the past stays put, the new call gets a nurse, fast."""

from __future__ import annotations

from pathlib import Path

from optimizer.checker import check
from optimizer.generate import generated_night
from optimizer.live import state_at, with_visit
from optimizer.model import Problem, Visit, VisitState
from optimizer.solve import solve

from .conftest import HOUR, MINUTE

EXAMPLE = Path(__file__).parents[2] / "examples" / "assen-night.json"


def _night() -> Problem:
    return Problem.model_validate_json(EXAMPLE.read_text(encoding="utf-8"))


def test_example_night_has_no_acute_visit_late() -> None:
    """The Assen example night plans every visit with no acute visit late."""
    problem = _night()
    plan = solve(problem, time_limit=4)
    assert check(problem, plan) == []
    assert plan.summary.late_visits_by_urgency["acute"] == 0
    assert plan.unassigned == []


def test_alarm_at_0312_is_planned_and_the_past_stays_put() -> None:
    """An acute alarm at 03:12 (04:12 night time from 23:00) is planned; done visits keep
    their nurse and start time."""
    problem = generated_night(nurses=3, visits=30, seed=4)
    plan = solve(problem, time_limit=1)
    now = 4 * HOUR + 12 * MINUTE
    live = state_at(problem, plan, now)
    alarm = Visit(
        id="ALARM",
        client_ref="ref-alarm",
        location=5,
        service_seconds=20 * MINUTE,
        urgency="acute",
        call_time=now,
    )
    live = with_visit(live, alarm)
    replanned = solve(live, time_limit=1, warm_start=plan)
    assert check(live, replanned) == []
    assert "ALARM" in replanned.assignments()
    before = plan.assignments()
    for visit in live.visits:
        if visit.state in (VisitState.DONE, VisitState.STARTED):
            assert replanned.assignments()[visit.id] == before[visit.id]
            [start] = {s.start for r in replanned.routes for s in r.steps if s.visit_id == visit.id}
            assert start == visit.started_at
    assert replanned.stats is not None and replanned.stats.seconds < 1.5


def test_state_at_marks_history() -> None:
    """At 04:00 visits begun before are started or done, none after."""
    problem = generated_night(nurses=2, visits=16, seed=2)
    plan = solve(problem, time_limit=0.5)
    now = 4 * HOUR
    live = state_at(problem, plan, now)
    starts = {s.visit_id: s.start for r in plan.routes for s in r.steps if s.visit_id}
    for visit in live.visits:
        if visit.id in starts and starts[visit.id] <= now:
            assert visit.state in (VisitState.STARTED, VisitState.DONE)
        else:
            assert visit.state in (VisitState.PLANNED, VisitState.EN_ROUTE)
    assert live.now == now
