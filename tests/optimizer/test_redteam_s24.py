"""Red-team checks of s24 on the quote's pricing of planned care's tolerance (issue 11):
the place `quote` picks for a call against every place tried one by one."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.live import with_visit
from optimizer.model import Problem, Visit
from optimizer.plan import Plan, StepType
from optimizer.quote import InsertionOption, _rank, _response_cost, quote
from optimizer.replan import hold_promises, insert_new_calls
from optimizer.timeline import soft_end

from .conftest import MINUTE, line_problem, nurse, planned, three_calls_at_once, unplanned

CALL = "CALL"


def _lateness(plan: Plan) -> int:
    """Seconds past target or window end, over every visit of ``plan``."""
    return sum(s.lateness_seconds for r in plan.routes for s in r.steps if s.type == StepType.VISIT)


def _soft_cost(problem: Problem, plan: Plan) -> int:
    """What ``plan``'s starts cost past their soft bounds (`timeline.soft_end`), in the
    quote's units (sixtieths of the objective's: 60 x cost per second x seconds)."""
    total = 0
    for route in plan.routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id is not None:
                bound = soft_end(problem, problem.visit(step.visit_id))
                if bound is not None and step.start > bound[0]:
                    total += 60 * bound[1] * (step.start - bound[0])
    return total


def _calls_late(problem: Problem, plan: Plan) -> int:
    """Seconds past their urgency targets, over the calls of ``plan``."""
    return sum(
        s.lateness_seconds
        for r in plan.routes
        for s in r.steps
        if s.type == StepType.VISIT
        and s.visit_id is not None
        and not problem.is_planned_care(problem.visit(s.visit_id))
    )


def _placed(problem: Problem, current: Plan, order: list[str], position: int) -> InsertionOption:
    """The call at ``position`` of ``order`` (nothing else moved), timed by `evaluate` and
    described as `quote` describes a place: feasible when it breaks no rule."""
    trial = evaluate(problem, {"N1": [*order[:position], CALL, *order[position:]]})
    step = next(s for s in trial.routes[0].steps if s.visit_id == CALL)
    own = step.lateness_seconds
    return InsertionOption(
        nurse_id="N1",
        position=position,
        eta=step.arrival,
        start=step.start,
        lateness_seconds=own,
        added_travel_seconds=trial.summary.travel_seconds - current.summary.travel_seconds,
        added_lateness_others_seconds=max(0, _lateness(trial) - own - _lateness(current)),
        feasible=not trial.violations,
        soft_cost=max(0, _soft_cost(problem, trial) - _soft_cost(problem, current)),
        added_call_lateness_others_seconds=max(
            0, _calls_late(problem, trial) - own - _calls_late(problem, current)
        ),
    )


@st.composite
def _care(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """Planned care with a window somewhere in the first three hours, maybe a tolerance."""
    opens = draw(st.integers(0, 180)) * MINUTE
    fields: dict[str, Any] = {"service_seconds": draw(st.integers(5, 25)) * MINUTE}
    tolerance = draw(st.sampled_from([0, 5, 10, 15, 30]))
    if tolerance:
        fields["late_tolerance_seconds"] = tolerance * MINUTE
        fields["late_cost_per_minute"] = draw(st.sampled_from([200, 1000]))
    width = draw(st.integers(0, 40)) * MINUTE
    return planned(f"P{index}", draw(st.integers(1, 20)), opens, opens + width, **fields)


@st.composite
def _night_and_call(
    draw: st.DrawFn, nurses: int = 1
) -> tuple[Problem, Plan, list[str], dict[str, list[str]]]:
    """Up to four planned visits (some with a tolerance), maybe an urgent call ``U``
    answered before, on ``nurses`` nurses' routes that break nothing, and a new call:
    (problem with the call, the plan without it, the first nurse's order, every route)."""
    cares = [draw(_care(i)) for i in range(draw(st.integers(1, 4)))]
    call_at = draw(st.integers(0, 60)) * MINUTE
    visits = list(cares)
    order = [c["id"] for c in sorted(cares, key=lambda c: c["window"]["start"])]
    if draw(st.booleans()):
        visits.append(
            unplanned(
                "U",
                draw(st.integers(1, 20)),
                draw(st.integers(0, call_at // MINUTE)) * MINUTE,
                "urgent",
                service_seconds=draw(st.integers(5, 30)) * MINUTE,
            )
        )
        order.insert(draw(st.integers(0, len(order))), "U")
    team = [nurse(f"N{i + 1}", start_location=draw(st.integers(0, 20))) for i in range(nurses)]
    night = line_problem(team, visits, now=call_at)
    routes: dict[str, list[str]] = {n["id"]: [] for n in team}
    for visit_id in order:
        routes[f"N{draw(st.integers(1, nurses))}"].append(visit_id)
    current = evaluate(night, routes)
    assume(not current.violations)
    call = unplanned(
        CALL,
        draw(st.integers(1, 20)),
        call_at,
        draw(st.sampled_from(["acute", "urgent"])),
        service_seconds=draw(st.integers(5, 30)) * MINUTE,
    )
    problem = with_visit(night, Visit.model_validate(call))
    return problem, current, routes["N1"], routes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(night=_night_and_call())
def test_no_plain_place_ranks_better_than_the_quotes_for_a_call(
    night: tuple[Problem, Plan, list[str], dict[str, list[str]]],
) -> None:
    """One nurse, up to four planned visits (some with a tolerance) and maybe an urgent
    call answered before, in a route that breaks nothing, and a new call: no place of the
    new call in her route, timed one by one, ranks strictly better (`_rank`, with the call's
    response cost) than the one `quote` picks. A `bound` that is not a lower bound would
    skip the better place."""
    problem, current, order, _routes = night
    [chosen] = quote(problem, current, problem.visit(CALL))
    response = _response_cost(problem, problem.visit(CALL))
    for position in range(len(order) + 1):
        place = _placed(problem, current, order, position)
        assert _rank(place, response) >= _rank(chosen, response), (
            position,
            place,
            chosen,
        )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(night=_night_and_call(nurses=2))
def test_the_first_answer_keeps_tolerances_and_promises(
    night: tuple[Problem, Plan, list[str], dict[str, list[str]]],
) -> None:
    """The same nights with two nurses through `insert_new_calls`: the call's first answer
    never makes planned care start past its window end plus its tolerance (`check` clean),
    nor a call answered before (``U``) start past what its partner was told."""
    problem, current, _order, _routes = night
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    held, _ = hold_promises(problem, current)
    for visit in held.visits:
        if visit.promised_by is not None:
            assert _start(first, visit.id) <= visit.promised_by, (visit.id, first)


def _start(plan: Plan, visit_id: str) -> int:
    return next(s.start for r in plan.routes for s in r.steps if s.visit_id == visit_id)


def test_a_place_that_makes_another_call_late_ranks_after_one_that_makes_nobody_late() -> None:
    """N1's route holds an urgent call U (due on site at 01:00); an acute call comes in at
    23:50 a minute from her. Her only place inside its target is before U, which it makes
    10 minutes late; N2, 24 minutes away, makes nobody late. Within N1's places another
    call's lateness ranks before cost (`_best_for`), and so it must among the nurses: the
    quote listed N1 first, her 10 minutes of U's lateness (10 000 a minute) priced as
    planned care's tolerance (1000) against N2's later start."""
    night = line_problem(
        [nurse("N1"), nurse("N2", start_location=25, end_location=25)],
        [
            unplanned("U", 10, 0, "urgent", service_seconds=20 * MINUTE),
            # Care with a tolerance elsewhere in the night, so the night has a rate for it.
            planned(
                "P",
                30,
                300 * MINUTE,
                360 * MINUTE,
                late_tolerance_seconds=900,
                late_cost_per_minute=1000,
            ),
        ],
        now=50 * MINUTE,
    )
    current = evaluate(night, {"N1": ["U"], "N2": ["P"]})
    assert current.violations == [] and _start(current, "U") == 60 * MINUTE
    call = unplanned(CALL, 1, 50 * MINUTE, "acute")
    problem = with_visit(night, Visit.model_validate(call))
    options = quote(problem, current, problem.visit(CALL))
    by_nurse = {o.nurse_id: o for o in options}
    assert by_nurse["N1"].added_lateness_others_seconds == 10 * MINUTE
    assert by_nurse["N2"].added_lateness_others_seconds == 0
    assert by_nurse["N2"].lateness_seconds == by_nurse["N1"].lateness_seconds == 0
    assert [o.nurse_id for o in options] == ["N2", "N1"]


def test_three_calls_at_once_leave_no_planned_care_out_where_all_fit_in_time() -> None:
    """Three calls at 23:00 on two nurses with planned care that has tolerances: the first
    answer places everything, each call inside its target (N1 P0 P1 C2, N2 C1 C0 P2).
    Session 24 tried pricing the tolerance into a call's place (24a9e55): C0 (acute) then
    took N1's soonest place on P0's tolerance, and to get C2 (urgent) in time P1 was left
    out (``displaced``): the calls go in one by one at their soonest arrival, so the first
    spent tolerance the later ones needed (4 of 446 random three-call nights, 3 better).
    With no gain measured on 30 simulated nights it was taken out; this guards the case."""
    problem, current = three_calls_at_once()
    assert current.violations == []
    kept = evaluate(problem, {"N1": ["P0", "P1", "C2"], "N2": ["C1", "C0", "P2"]})
    assert kept.violations == [] and _lateness(kept) == 8 * MINUTE  # P2's tolerance only
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    assert [u.visit_id for u in first.unassigned] == []
