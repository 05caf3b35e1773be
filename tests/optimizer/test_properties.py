"""Invariants over random nights (hypothesis): whatever the input, the plan keeps the rules."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.checker import check
from optimizer.evaluate import RESTOCK, evaluate
from optimizer.fill import with_what_fits
from optimizer.live import state_at
from optimizer.model import MAX_TRAVEL_SECONDS, Problem, Visit, VisitState
from optimizer.plan import Plan, ReasonCode, StepType
from optimizer.quote import InsertionOption, quote
from optimizer.replan import hold_promises
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
            if draw(st.booleans()):
                visit["pin"]["position"] = draw(st.integers(0, 2))
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
            # A two-person visit's pinned nurse is one of the two.
            assert visit.pin.nurse in planned[visit.id]
            assert len(set(planned[visit.id])) == visit.nurses_needed


@FAST
@given(nights(), st.integers(0, 8 * HOUR))
def test_no_room_is_said_only_of_a_visit_that_fits_nowhere(problem: Problem, now: int) -> None:
    """After a re-plan, a one-nurse visit left out as ``no_capacity`` has no place in any
    route where it goes in breaking nothing and moving nothing else (the quote's plain
    insertions), however short the search: the reason partners send the back-up on.
    Breaking nothing includes the promises the re-plan holds (`hold_promises`), so the
    quote is asked on the night as the re-plan saw it
    (`test_a_place_that_breaks_a_promise_is_no_room`)."""
    planned = solve(problem, time_limit=0.3)
    live = problem.model_copy(update={"now": now})
    # A re-plan from a wreck (every visit out: a search cut short was stored) with the
    # shortest search: what fits must still go in.
    wreck = evaluate(problem, {})
    for night, plan in (
        (
            hold_promises(live, planned)[0],
            solve(live, time_limit=0.05, warm_start=planned, solution_limit=1),
        ),
        (
            hold_promises(problem, wreck)[0],
            solve(problem, time_limit=0.05, warm_start=wreck, solution_limit=1),
        ),
    ):
        linked = {d.first for d in night.dependencies} | {d.second for d in night.dependencies}
        for item in plan.unassigned:
            visit = night.visit(item.visit_id)
            if item.reason != ReasonCode.NO_CAPACITY or visit.nurses_needed != 1:
                continue
            if visit.pin is not None or visit.id in linked:
                continue
            fits = plain_places(night, plan, visit)
            assert fits == [], (item, fits[0])


def plain_places(problem: Problem, plan: Plan, visit: Visit) -> list[InsertionOption]:
    """The quote's feasible places for ``visit`` in ``plan`` where it goes in and nothing
    else moves (no restock before it, no break moved, no other stop re-ordered), in a route
    not already past its shift or without its break: what `optimizer.fill` uses. Asked of a
    re-plan, ``problem`` is the night as it saw it (`replan.hold_promises`): without the
    holds the quote's soft urgency targets take a place that pushes a promised call past
    its promise, which the search and the fill refuse."""
    overrun = {v.nurse_id for v in plan.violations if v.code in ("shift_overrun", "break_missed")}
    return [
        o
        for o in quote(problem, plan, visit)
        if o.feasible
        and not o.restock_before
        and o.break_start is None
        and o.sequence is None
        and o.nurse_id not in overrun
    ]


@FAST
@given(nights(), st.integers(0, 8 * HOUR))
def test_locked_visits_never_move(problem: Problem, now: int) -> None:
    """Re-planning at any moment keeps started and finished visits exactly where they were."""
    plan = solve(problem, time_limit=0.2)
    live = state_at(problem, plan, now)
    replanned = solve(live, time_limit=0.2, warm_start=plan)
    # A 0.2 s re-plan on a loaded machine may not be clean, but never silently broken.
    _listed(replanned, live)
    starts = {
        (r.nurse_id, s.visit_id): s.start for r in replanned.routes for s in r.steps if s.visit_id
    }
    for visit in live.visits:
        if visit.state in (VisitState.STARTED, VisitState.DONE):
            for nurse_id in visit.assigned_nurses:
                assert starts[(nurse_id, visit.id)] == visit.started_at


def _listed(plan: Plan, problem: Problem) -> None:
    """Every rule the checker finds broken is listed in the plan (same code, visit, nurse)."""
    listed = {(v.code, v.visit_id, v.nurse_id) for v in plan.violations}
    for violation in check(problem, plan):
        assert (violation.code, violation.visit_id, violation.nurse_id) in listed, violation


@FAST
@given(nights(), st.integers(0, 8 * HOUR))
def test_every_plan_passes_the_checker_or_lists_the_violation(problem: Problem, now: int) -> None:
    """Fresh plans and live re-plans (pins with positions, en-route visits, passed breaks,
    half-empty bags): whatever the checker would reject, the plan itself lists."""
    plan = solve(problem, time_limit=0.2)
    _listed(plan, problem)
    live = state_at(problem, plan, now)
    _listed(solve(live, time_limit=0.2, warm_start=plan), live)
    _listed(solve(live, time_limit=0.2), live)


@st.composite
def new_calls(draw: st.DrawFn, problem: Problem) -> Visit:
    """A new single-nurse call somewhere on the night's map."""
    urgency = draw(st.sampled_from(["acute", "urgent", "planned"]))
    data: dict[str, Any] = {
        "id": "NEW",
        "client_ref": "ref-new",
        "location": draw(st.integers(0, len(problem.travel[0].seconds) - 1)),
        "service_seconds": draw(st.sampled_from([300, 900])),
        "urgency": urgency,
        "required_skills": draw(st.lists(st.sampled_from(SKILLS), max_size=1)),
        "materials": {"kit": draw(st.integers(0, 2))},
    }
    begin = draw(st.integers(0, 7 * HOUR))
    if urgency == "planned":
        data["window"] = {"start": begin, "end": begin + draw(st.integers(0, HOUR))}
    else:
        data["call_time"] = begin
    return Visit.model_validate(data)


def _sequences(problem: Problem, plan: Plan) -> dict[str, list[str]]:
    return {
        route.nurse_id: [
            step.visit_id if step.visit_id is not None else RESTOCK
            for step in route.steps
            if (step.type == StepType.VISIT and not problem.visit(step.visit_id or "").is_locked)
            or step.type == StepType.RESTOCK
        ]
        for route in plan.routes
    }


@FAST
@given(st.data())
def test_quote_agrees_with_evaluate(data: st.DataObject) -> None:
    """The quote's top feasible option, inserted and evaluated, breaks no rule the route kept
    and shows the start and arrival (ETA) it quoted (two-person visits, bags, breaks, shifts,
    pins and windows included)."""
    problem = data.draw(nights())
    plan = solve(problem, time_limit=0.2)
    visit = data.draw(new_calls(problem))
    trial = problem.model_copy(update={"visits": [*problem.visits, visit]})
    feasible = [o for o in quote(trial, plan, visit) if o.feasible]
    if not feasible:
        return
    best = feasible[0]
    sequences = _sequences(problem, plan)
    breaks = {r.nurse_id: s.start for r in plan.routes for s in r.steps if s.type == StepType.BREAK}
    before = evaluate(trial, sequences, break_starts=breaks)
    # ``position`` counts the stops of her open route (visits and later restocks); an
    # option that moves one of her stops too gives her whole new order.
    if best.sequence is not None:
        assert sorted(best.sequence) == sorted([*sequences[best.nurse_id], visit.id])
        sequences[best.nurse_id] = list(best.sequence)
    else:
        sequences[best.nurse_id].insert(best.position, visit.id)
    if best.restock_before:
        sequences[best.nurse_id].insert(best.position, RESTOCK)
    if best.break_start is not None:
        breaks[best.nurse_id] = best.break_start  # taken after the new visit
    after = evaluate(trial, sequences, break_starts=breaks)
    old = {(v.code, v.visit_id, v.nurse_id) for v in before.violations}
    new = {(v.code, v.visit_id, v.nurse_id) for v in after.violations} - old
    new = {key for key in new if key[1] != visit.id or key[0] != "missing"}
    assert not new, (best, after.violations)
    step = next(s for s in after.route(best.nurse_id).steps if s.visit_id == visit.id)
    assert step.start == best.start
    assert step.arrival == best.eta


@st.composite
def odd_nights(draw: st.DrawFn) -> Problem:
    """Schema-valid edge cases: no nurses, no visits, unreachable and identical places,
    one-second windows, zero-length shifts."""
    size = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["identical", "unreachable", "mixed"]))
    far = float(MAX_TRAVEL_SECONDS)
    matrix = [
        [
            0.0
            if i == j or kind == "identical"
            else far
            if kind == "unreachable"
            else draw(st.sampled_from([0.0, 1.0, 600.0, far]))
            for j in range(size)
        ]
        for i in range(size)
    ]
    nurses = []
    for n in range(draw(st.integers(0, 2))):
        begin = draw(st.integers(0, 8 * HOUR))
        fields: dict[str, Any] = {
            "start_location": draw(st.integers(0, size - 1)),
            "end_location": draw(st.integers(0, size - 1)),
            "shift": {"start": begin, "end": draw(st.integers(begin, 8 * HOUR))},
            "bag": {"kit": draw(st.integers(0, 1))},
        }
        nurses.append(nurse(f"N{n}", **fields))
    visits = []
    for v in range(draw(st.integers(0, 4))):
        begin = draw(st.integers(0, 8 * HOUR))
        visit: dict[str, Any] = {
            "id": f"V{v}",
            "client_ref": f"ref{v}",
            "location": draw(st.integers(0, size - 1)),
            "service_seconds": draw(st.sampled_from([0, 1, 600])),
            "materials": {"kit": draw(st.integers(0, 1))},
            "nurses_needed": draw(st.sampled_from([1, 2])),
        }
        if draw(st.booleans()):
            visit["urgency"] = "planned"
            visit["window"] = {
                "start": begin,
                "end": min(8 * HOUR, begin + draw(st.integers(0, 1))),
            }
        else:
            visit["urgency"] = "acute"
            visit["call_time"] = begin
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
@given(odd_nights())
def test_solve_never_crashes_on_a_schema_valid_night(problem: Problem) -> None:
    """Edge nights the schema accepts get a plan: every visit planned or left out with a
    reason, and whatever the checker finds listed."""
    plan = solve(problem, time_limit=0.2)
    planned = plan.assignments()
    left = {u.visit_id for u in plan.unassigned}
    assert {v.id for v in problem.visits} == set(planned) | left
    _listed(plan, problem)
    unreachable = [u for u in plan.unassigned if "unreachable" in u.message]
    for item in unreachable:
        assert item.reason.value == "unreachable_in_window"


@FAST
@given(nights(), st.data())
def test_the_fill_leaves_no_room_said_only_of_what_fits_nowhere(
    problem: Problem, data: st.DataObject
) -> None:
    """Whatever routes a short search hands over (here: a plan with some of its one-nurse
    visits taken out), `with_what_fits` returns a plan that breaks no new rule, in which
    ``no_capacity`` is said only of a visit without a plain place (as the previous property
    says of the search; this one does not depend on what the search found in its time)."""
    planned = solve(problem, time_limit=0.3, solution_limit=50)
    routes = {
        r.nurse_id: [
            RESTOCK if s.type == StepType.RESTOCK else str(s.visit_id)
            for s in r.steps
            if s.visit_id or s.type == StepType.RESTOCK
        ]
        for r in planned.routes
    }
    movable = sorted(
        v.id
        for v in problem.visits
        if v.nurses_needed == 1
        and v.pin is None
        and v.id in {i for ids in routes.values() for i in ids}
    )
    out = set(data.draw(st.lists(st.sampled_from(movable), unique=True))) if movable else set()
    partial = evaluate(problem, {n: [i for i in ids if i not in out] for n, ids in routes.items()})
    filled = with_what_fits(problem, partial)
    # Taking visits out can itself break a rule (a stop pinned at a position); none new.
    before = {(v.code, v.visit_id) for v in check(problem, partial)}
    assert {(v.code, v.visit_id) for v in check(problem, filled)} <= before
    for item in filled.unassigned:
        visit = problem.visit(item.visit_id)
        if item.reason != ReasonCode.NO_CAPACITY or visit.nurses_needed != 1 or visit.pin:
            continue
        plain = plain_places(problem, filled, visit)
        assert plain == [], (item, plain[0])
