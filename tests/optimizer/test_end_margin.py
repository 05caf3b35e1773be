"""A margin before a hard window's end (`Visit.end_margin_seconds`): the last minutes before
the end cost, so the plan keeps room for a slower drive or care running over instead of
timing hard-ended planned care to the last minute (issue 11: such visits were made late by
the night's noise). The service side is tests/api/test_tolerance_rule.py."""

from __future__ import annotations

from typing import Any

from optimizer.checker import check
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned


def _night(**a_fields: Any) -> list[dict[str, Any]]:
    # One nurse from 0 to 30 on the line. B (at 10) then A (at 20) is the short way (30 min
    # of driving) and reaches A at 00:30, 2 minutes before its hard end; A first drives 50
    # minutes and is there at 00:20.
    return [
        planned("A", 20, 0, 32 * MINUTE, **a_fields),
        planned("B", 10, 0, 2 * HOUR),
    ]


def _first_nurse() -> dict[str, Any]:
    return nurse(end_location=30)


def test_without_a_margin_the_plan_times_the_hard_end_to_the_last_minutes() -> None:
    problem = line_problem([_first_nurse()], _night())
    plan = solve(problem, time_limit=1.0)
    assert check(problem, plan) == []
    assert plan.routes[0].visit_ids() == ["B", "A"]


def test_a_costly_margin_keeps_room_before_the_hard_end() -> None:
    """Eight minutes inside a 10-minute margin at 300 a minute (2400) cost more than 20
    minutes more driving (1200): A goes first, 12 minutes before its end."""
    problem = line_problem(
        [_first_nurse()],
        _night(end_margin_seconds=10 * MINUTE, end_margin_cost_per_minute=300),
    )
    plan = solve(problem, time_limit=1.0)
    assert check(problem, plan) == []
    assert plan.routes[0].visit_ids() == ["A", "B"]
    a = next(s for s in plan.routes[0].steps if s.visit_id == "A")
    assert a.start == 20 * MINUTE
    assert a.lateness_seconds == 0  # a margin is not lateness: the window is kept either way


def test_a_cheap_margin_does_not_buy_more_driving_than_it_is_worth() -> None:
    """At 100 a minute the eight minutes (800) cost less than the extra drive (1200)."""
    problem = line_problem(
        [_first_nurse()],
        _night(end_margin_seconds=10 * MINUTE, end_margin_cost_per_minute=100),
    )
    plan = solve(problem, time_limit=1.0)
    assert plan.routes[0].visit_ids() == ["B", "A"]


def test_a_tolerance_window_ignores_the_margin() -> None:
    """Care with a tolerance has a soft end past the window: that is its room; the margin
    (one soft bound per variable in the routing model) is not added to it."""
    problem = line_problem(
        [_first_nurse()],
        _night(
            late_tolerance_seconds=15 * MINUTE,
            late_cost_per_minute=1000,
            end_margin_seconds=10 * MINUTE,
            end_margin_cost_per_minute=300,
        ),
    )
    plan = solve(problem, time_limit=1.0)
    assert check(problem, plan) == []
    assert plan.routes[0].visit_ids() == ["B", "A"]
