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


def _tolerance_night(late_cost_per_minute: int) -> tuple[Problem, Plan]:
    """N1 (at 0) has planned care P at 10 (window 23:00-23:15, a 15-minute tolerance at
    ``late_cost_per_minute``, 2 minutes' care) when an acute call at 2 comes in at 23:00.
    P first: the call begun 23:20 (inside its aim). The call first: on site 23:02, P
    begun 23:20, 5 minutes into its tolerance."""
    care = planned(
        "P",
        10,
        0,
        15 * MINUTE,
        service_seconds=2 * MINUTE,
        late_tolerance_seconds=15 * MINUTE,
        late_cost_per_minute=late_cost_per_minute,
    )
    night = line_problem([nurse()], [care], now=0)
    current = evaluate(night, {"N1": ["P"]})
    call = Visit.model_validate(unplanned("CALL", 2, 0, "acute"))
    return with_visit(night, call), current


def test_a_call_pushes_planned_care_into_its_tolerance_when_its_minutes_are_worth_more() -> None:
    """18 acute minutes sooner (21 600 at 1 200 a minute) against 5 tolerance minutes
    (5 000 at 1 000): the call first. Old code ranked any minute pushed into a tolerance
    ahead of every cost, and the call waited 18 minutes behind P (issue 11: p90 18 min
    against 15 for the greedy dispatcher keeping the same rule)."""
    problem, current = _tolerance_night(1000)
    [option] = quote(problem, current, problem.visit("CALL"))
    assert (option.position, option.start) == (0, 2 * MINUTE)
    assert option.added_lateness_others_seconds == 5 * MINUTE
    assert option.added_call_lateness_others_seconds == 0
    first = insert_new_calls(problem, current)
    assert check(problem, first) == []
    assert first.routes[0].visit_ids() == ["CALL", "P"]
    assert _start(first, "P") == 20 * MINUTE  # inside window + tolerance (23:30)


def test_a_tolerance_priced_above_the_call_minutes_keeps_planned_care_first() -> None:
    """At 5 000 a tolerance minute (25 000 for 5) the 18 acute minutes are worth less."""
    problem, current = _tolerance_night(5000)
    [option] = quote(problem, current, problem.visit("CALL"))
    assert option.position == 1 and option.added_lateness_others_seconds == 0
    first = insert_new_calls(problem, current)
    assert first.routes[0].visit_ids() == ["P", "CALL"]
    assert _start(first, "CALL") == 20 * MINUTE


def test_the_spared_tolerance_rank_is_the_old_one() -> None:
    """``spare_tolerance`` (calls answered together, `replan.insert_new_calls`) ranks any
    minute pushed into a tolerance ahead of cost, as before."""
    problem, current = _tolerance_night(1000)
    [option] = quote(problem, current, problem.visit("CALL"), spare_tolerance=True)
    assert (option.position, option.start) == (1, 20 * MINUTE)
