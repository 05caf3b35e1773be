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


@pytest.mark.xfail(
    strict=True,
    reason="known (session 25): the routing model prices only minutes past a call's aim; a "
    "second dimension carrying the response cost was tried and made 30 nights' acute calls "
    "later (docs/benchmarks.md 'Session 25')",
)
def test_the_search_itself_prices_each_minute_to_the_call() -> None:
    """A search from scratch (no first answer to keep) puts P first and the call at 23:17,
    4 minutes less driving, where the quote sends her to the call first (23:07)."""
    problem, _current = _live()
    plan = solve(problem, time_limit=5.0, solution_limit=200)
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
