"""Soft window ends for planned care: a cost per minute past the end, hard again past the
tolerance (the region's rule "medication 15 min, repositioning 60 min")."""

from __future__ import annotations

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.plan import ReasonCode
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned


def _two_tight_visits(tolerance: int) -> list[dict[str, object]]:
    # Both windows close at 00:10, ten and twenty minutes from the base: one nurse cannot
    # make both on time (A at 00:10, 10 min care, 10 min drive), so B is 20 minutes late.
    return [
        planned("A", 10, 0, 10 * MINUTE, late_tolerance_seconds=tolerance, late_cost_per_minute=60),
        planned("B", 20, 0, 10 * MINUTE, late_tolerance_seconds=tolerance, late_cost_per_minute=60),
    ]


def test_late_within_the_tolerance_is_planned_and_costed() -> None:
    """With a 60-minute tolerance both visits are planned; the later one is late, and says so."""
    problem = line_problem([nurse()], _two_tight_visits(60 * MINUTE))
    plan = solve(problem, time_limit=1.0)
    assert check(problem, plan) == []
    assert plan.unassigned == []
    assert plan.routes[0].visit_ids() == ["A", "B"]
    b = next(s for s in plan.routes[0].steps if s.visit_id == "B")
    assert b.start == 30 * MINUTE  # A at 00:10, 10 min care, 10 min drive
    assert b.lateness_seconds == 20 * MINUTE
    assert plan.summary.lateness_seconds_by_urgency["planned"] == 20 * MINUTE


def test_past_the_tolerance_the_end_is_hard_again() -> None:
    """With a 15-minute tolerance (medication) one nurse cannot do both: one is left out."""
    problem = line_problem([nurse()], _two_tight_visits(15 * MINUTE))
    plan = solve(problem, time_limit=1.0)
    assert check(problem, plan) == []
    assert len(plan.unassigned) == 1
    assert plan.unassigned[0].reason == ReasonCode.NO_CAPACITY


def test_without_tolerance_the_window_stays_hard() -> None:
    """The default (no tolerance) keeps the old rule: a late start is a violation."""
    problem = line_problem([nurse()], _two_tight_visits(0))
    plan = evaluate(problem, {"N1": ["A", "B"]})
    assert [v.code for v in plan.violations if v.visit_id == "B"] == ["window_missed"]
    tolerant = line_problem([nurse()], _two_tight_visits(HOUR))
    assert evaluate(tolerant, {"N1": ["A", "B"]}).violations == []


def test_the_cost_steers_which_visit_is_late() -> None:
    """A costly medication visit goes first; the cheap repositioning visit takes the delay."""
    visits = [
        planned(
            "MED", 30, 0, 30 * MINUTE, late_tolerance_seconds=15 * MINUTE, late_cost_per_minute=600
        ),
        planned("POS", 29, 0, 30 * MINUTE, late_tolerance_seconds=HOUR, late_cost_per_minute=6),
    ]
    problem = line_problem([nurse()], visits)
    plan = solve(problem, time_limit=1.0)
    assert check(problem, plan) == []
    assert plan.routes[0].visit_ids() == ["MED", "POS"]
