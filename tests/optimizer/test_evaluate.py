"""Evaluating hand-made routes: the timeline and every broken rule, no optimising."""

from __future__ import annotations

import pytest

from optimizer.evaluate import evaluate

from .conftest import HOUR, MINUTE, line_problem, nurse, planned

PROBLEM = line_problem(
    [nurse("N1"), nurse("N2", skills=["basic"])],
    [
        planned("A", 10, 0, HOUR),
        planned("B", 20, 0, 15 * MINUTE),
        planned("IV", 5, 0, 7 * HOUR, required_skills=["iv"]),
    ],
)


def test_order_is_kept_and_timed() -> None:
    """A then B: B is reached at 10+10+10 minutes, after its window closed: a violation."""
    plan = evaluate(PROBLEM, {"N1": ["A", "B"], "N2": []})
    assert plan.route("N1").visit_ids() == ["A", "B"]
    step = next(s for s in plan.route("N1").steps if s.visit_id == "B")
    assert step.start == 30 * MINUTE
    assert any(v.code == "window_missed" and v.visit_id == "B" for v in plan.violations)


def test_wrong_skill_and_unplanned_visits_are_reported() -> None:
    """IV given to N2 (no iv skill) is a violation; B in no route is unassigned."""
    plan = evaluate(PROBLEM, {"N1": ["A"], "N2": ["IV"]})
    assert any(v.code == "skill_missing" and v.visit_id == "IV" for v in plan.violations)
    assert [u.visit_id for u in plan.unassigned] == ["B"]


def test_unknown_visit_is_a_clear_error() -> None:
    """A typo in a hand-made route names the route and position."""
    with pytest.raises(ValueError, match=r"routes.N1\[1\]: unknown visit 'X'"):
        evaluate(PROBLEM, {"N1": ["A", "X"]})
