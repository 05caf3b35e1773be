"""A call's response cost (issue 11): each minute from the call to the nurse on site costs,
so the first answer to a call (and the re-plan that follows it) gets a nurse there sooner
rather than saving a few minutes of driving while the call waits inside its aim. Fictional
night; times in seconds from 23:00, places on a line one minute apart."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.live import with_visit
from optimizer.model import DEFAULT_URGENCY_CLASSES, Problem, UrgencyClass, Visit
from optimizer.plan import Plan, StepType
from optimizer.quote import quote
from optimizer.replan import insert_new_calls
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned


def _start(plan: Plan, visit_id: str) -> int:
    return next(
        step.start
        for route in plan.routes
        for step in route.steps
        if step.type == StepType.VISIT and step.visit_id == visit_id
    )


def _live() -> tuple[Problem, Plan]:
    """N1 (home at 20) has planned care P at 5 (window an hour wide) when an acute call at
    7 comes in at 23:00. P first, then the call: 20 minutes of driving, the call begun
    23:17 (inside its 20-minute aim: free to the old search). The call first: 24 minutes
    of driving, on site 23:07, 10 minutes sooner (12 000 against 240 for the drive)."""
    night = line_problem([nurse(end_location=20)], [planned("P", 5, 0, HOUR)], now=0)
    current = evaluate(night, {"N1": ["P"]})
    call = Visit.model_validate(unplanned("CALL", 7, 0, "acute"))
    return with_visit(night, call), current


def test_the_first_answer_sends_her_to_the_call_before_her_planned_visit() -> None:
    """Old code: the quote ranked a nurse's places by added travel once the call was in its
    target, so the call waited 17 minutes behind P to save 4 minutes of driving."""
    problem, current = _live()
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    assert first.routes[0].visit_ids() == ["CALL", "P"]
    assert _start(first, "CALL") == 7 * MINUTE
    [option] = quote(problem, current, problem.visit("CALL"))
    assert (option.position, option.start) == (0, 7 * MINUTE)


def test_the_re_plan_after_the_first_answer_keeps_the_call_first() -> None:
    problem, current = _live()
    plan = solve(problem, time_limit=5.0, warm_start=current, solution_limit=200)
    assert check(problem, plan) == []
    assert plan.routes[0].visit_ids() == ["CALL", "P"]


def test_without_a_response_cost_the_shorter_drive_still_wins() -> None:
    """The field is what makes the difference: 0 restores ranking by driving alone."""
    classes = {
        name: c.model_copy(update={"response_cost_per_minute": 0})
        for name, c in DEFAULT_URGENCY_CLASSES.items()
    }
    problem, current = _live()
    problem = problem.model_copy(update={"urgency_classes": classes})
    first = insert_new_calls(problem, current)
    assert first.routes[0].visit_ids() == ["P", "CALL"]


@pytest.mark.parametrize(
    "fields",
    [
        {"target_seconds": None, "response_cost_per_minute": 10},
        {"target_seconds": 1800, "lateness_cost_per_minute": 5, "response_cost_per_minute": 10},
    ],
)
def test_a_response_cost_without_a_target_or_above_lateness_is_refused(
    fields: dict[str, object],
) -> None:
    with pytest.raises(ValidationError, match="at most lateness_cost_per_minute"):
        UrgencyClass.model_validate(
            {"lateness_cost_per_minute": 100, "omission_penalty": 1, **fields}
        )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    stops=st.lists(st.integers(1, 25), min_size=1, max_size=4, unique=True),
    call_at=st.integers(1, 25),
)
def test_the_first_answer_never_keeps_an_acute_call_behind_care_that_could_wait(
    stops: list[int], call_at: int
) -> None:
    """Property: one nurse, planned care with wide windows (none can be made late by a
    call first), an acute call: the first answer sends her straight to it. Going there
    first costs at most 2 x 25 minutes of extra driving (3 000), less than the 5 minutes a
    planned visit on the way would hold the call up (6 000 at 1 200 a minute)."""
    visits = [
        planned(f"P{i}", where, 0, 6 * HOUR, service_seconds=5 * MINUTE)
        for i, where in enumerate(stops)
    ]
    night = line_problem([nurse()], visits, now=0)
    current = evaluate(night, {"N1": [v["id"] for v in visits]})
    problem = with_visit(night, Visit.model_validate(unplanned("CALL", call_at, 0, "acute")))
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    # Straight to the call: on site after the drive from where she is (0, at 23:00).
    assert _start(first, "CALL") == call_at * MINUTE


def _tolerant(tolerance_minutes: int) -> tuple[Problem, Plan]:
    """N1 (at 0) is about to leave for planned care P at 5 (window 23:07-23:12, a tolerance
    of ``tolerance_minutes`` at 1000 a minute) when an acute call 1 minute away comes in
    (20 minutes of care). P first: the call begun 23:21, inside its 30 minutes. The call
    first: on site 23:01, P begun 23:25, 13 minutes past its window."""
    care = planned(
        "P",
        5,
        7 * MINUTE,
        12 * MINUTE,
        late_tolerance_seconds=tolerance_minutes * MINUTE,
        late_cost_per_minute=1000,
    )
    night = line_problem([nurse()], [care], now=0)
    current = evaluate(night, {"N1": ["P"]})
    call = unplanned("CALL", 1, 0, "acute", service_seconds=20 * MINUTE)
    return with_visit(night, Visit.model_validate(call)), current


def test_an_acute_call_may_use_planned_cares_tolerance_in_the_first_answer() -> None:
    """The region's rule (issue 11): an acute call may make planned care late within its
    tolerance, at its cost. Old code: a place that made anyone late ranked below every
    later place inside the call's target, so the first answer (and triage's) had her there
    at 23:21 instead of 23:01: 20 minutes of an acute call (24 000) against 13 of tolerance
    (13 000)."""
    problem, current = _tolerant(15)
    [option] = quote(problem, current, problem.visit("CALL"))
    assert (option.feasible, option.position, option.start) == (True, 0, 1 * MINUTE)
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    assert first.routes[0].visit_ids() == ["CALL", "P"]
    assert _start(first, "P") == 25 * MINUTE  # late, within its tolerance


def test_past_the_tolerance_planned_care_keeps_its_turn() -> None:
    """With 10 minutes of tolerance the call first would make P 13 minutes late: not allowed,
    so the call waits behind P (still inside its target)."""
    problem, current = _tolerant(10)
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    assert first.routes[0].visit_ids() == ["P", "CALL"]
    assert _start(first, "CALL") == 21 * MINUTE


def test_another_calls_lateness_is_not_traded_as_tolerance() -> None:
    """Her route holds an urgent call U already past its target: a new acute call that
    would make U later still ranks below a place inside its own target that does not
    (lateness caused to another call costs 100 times a minute of tolerance, so it is not
    priced as one)."""
    night = line_problem(
        [nurse()],
        [
            unplanned("U", 5, 0, "urgent", service_seconds=20 * MINUTE),
            # Later care with a tolerance, so the night has a rate for it.
            planned(
                "P", 9, 5 * HOUR, 6 * HOUR, late_tolerance_seconds=900, late_cost_per_minute=1000
            ),
        ],
        now=70 * MINUTE,
    )
    current = evaluate(night, {"N1": ["U", "P"]})
    # The call first: U 6 minutes later (600 000 at U's lateness rate; 6 000 priced as
    # tolerance) to have her there 28 minutes sooner (33 600), still inside the target.
    call = unplanned("CALL", 1, 70 * MINUTE, "acute", service_seconds=5 * MINUTE)
    problem = with_visit(night, Visit.model_validate(call))
    [option] = quote(problem, current, problem.visit("CALL"))
    assert option.position == 1 and option.added_lateness_others_seconds == 0
