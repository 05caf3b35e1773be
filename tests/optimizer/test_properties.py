"""Invariants over random nights (hypothesis): whatever the input, the plan keeps the rules."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.checker import check
from optimizer.live import state_at
from optimizer.model import Problem, VisitState
from optimizer.solve import solve

from .conftest import HOUR, NIGHT_START, nurse

SKILLS = ["basic", "catheter", "iv"]
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def nights(draw: st.DrawFn) -> Problem:
    """A random small night: up to 3 nurses, 10 visits, on a random asymmetric road matrix."""
    size = draw(st.integers(4, 12))
    points = [(draw(st.floats(0, 10)), draw(st.floats(0, 10))) for _ in range(size)]
    slow = draw(st.floats(1.0, 1.3))
    matrix = [
        [
            0.0 if i == j else round(60 * math.dist(points[i], points[j]) * (slow if i < j else 1))
            for j in range(size)
        ]
        for i in range(size)
    ]
    nurses: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 3))):
        fields: dict[str, Any] = {
            "skills": ["basic", *draw(st.lists(st.sampled_from(SKILLS), unique=True))],
            "start_location": draw(st.integers(0, size - 1)),
            "end_location": draw(st.integers(0, size - 1)),
            "bag": {"kit": draw(st.integers(0, 3))},
        }
        if draw(st.booleans()):
            fields["break_rule"] = {
                "duration_seconds": 1800,
                "window": {"start": 3 * HOUR, "end": 5 * HOUR},
            }
        nurses.append(nurse(f"N{n}", **fields))
    visits: list[dict[str, Any]] = []
    for v in range(draw(st.integers(0, 10))):
        urgency = draw(st.sampled_from(["planned", "planned", "acute", "urgent", "soon"]))
        visit: dict[str, Any] = {
            "id": f"V{v}",
            "client_ref": f"ref{v}",
            "location": draw(st.integers(0, size - 1)),
            "service_seconds": draw(st.sampled_from([300, 600, 1200, 2400])),
            "urgency": urgency,
            "required_skills": draw(st.lists(st.sampled_from(SKILLS), max_size=1)),
            "materials": {"kit": draw(st.integers(0, 2))},
            "nurses_needed": draw(st.sampled_from([1, 1, 1, 2])),
        }
        if urgency == "planned":
            begin = draw(st.integers(0, 7 * HOUR))
            visit["window"] = {"start": begin, "end": begin + draw(st.integers(0, HOUR))}
        else:
            visit["call_time"] = draw(st.integers(0, 7 * HOUR))
        if nurses and draw(st.integers(0, 5)) == 0:
            visit["pin"] = {"nurse": draw(st.sampled_from([n["id"] for n in nurses]))}
        visits.append(visit)
    return Problem.model_validate(
        {
            "night": {"start": NIGHT_START.isoformat(), "end": "2026-11-24T07:00:00+01:00"},
            "travel": [{"profile": "car", "seconds": matrix}],
            "nurses": nurses,
            "visits": visits,
        }
    )


@FAST
@given(nights())
def test_every_plan_passes_the_checker(problem: Problem) -> None:
    """Whatever the night, the solver's plan breaks no rule the checker knows."""
    plan = solve(problem, time_limit=0.3)
    assert check(problem, plan) == []


@FAST
@given(nights())
def test_left_out_only_with_a_reason(problem: Problem) -> None:
    """Every visit is planned or unassigned with a code and a sentence; pins hold."""
    plan = solve(problem, time_limit=0.3)
    planned = plan.assignments()
    for item in plan.unassigned:
        assert item.message and item.reason
        assert item.visit_id not in planned
    assert len(planned) + len(plan.unassigned) == len(problem.visits)
    for visit in problem.visits:
        if visit.pin is not None and visit.id in planned:
            assert planned[visit.id] == [visit.pin.nurse]


@FAST
@given(nights(), st.integers(0, 8 * HOUR))
def test_locked_visits_never_move(problem: Problem, now: int) -> None:
    """Re-planning at any moment keeps started and finished visits exactly where they were."""
    plan = solve(problem, time_limit=0.2)
    live = state_at(problem, plan, now)
    replanned = solve(live, time_limit=0.2, warm_start=plan)
    assert check(live, replanned) == []
    starts = {
        (r.nurse_id, s.visit_id): s.start for r in replanned.routes for s in r.steps if s.visit_id
    }
    for visit in live.visits:
        if visit.state in (VisitState.STARTED, VisitState.DONE):
            for nurse_id in visit.assigned_nurses:
                assert starts[(nurse_id, visit.id)] == visit.started_at
