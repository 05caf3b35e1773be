"""Evaluating hand-made routes: the timeline and every broken rule, no optimising."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.evaluate import evaluate
from optimizer.generate import generated_night
from optimizer.plan import ReasonCode

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


def test_a_trial_layout_is_the_same_plan_without_the_search_for_reasons() -> None:
    """``explain=False`` (a trial layout): the same routes, times, violations and left-out
    visits; only the left-out visit's reason is the general one, not the pin that keeps it
    out (V2 pinned first for N1 10 min out, V1 closes at 23:20: only the pin keeps V1 out)."""
    problem = line_problem(
        [nurse("N1")],
        [
            planned("V1", 15, 0, 20 * MINUTE),
            planned("V2", 10, 0, 4 * HOUR, pin={"nurse": "N1", "position": 0}),
        ],
    )
    explained = evaluate(problem, {"N1": ["V2"]})
    trial = evaluate(problem, {"N1": ["V2"]}, explain=False)
    assert trial.routes == explained.routes
    assert trial.violations == explained.violations
    assert [u.visit_id for u in trial.unassigned] == [u.visit_id for u in explained.unassigned]
    assert explained.unassigned[0].reason == ReasonCode.PIN_INFEASIBLE
    assert trial.unassigned[0].reason != ReasonCode.PIN_INFEASIBLE


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), visits=st.integers(1, 25), kept=st.floats(0, 1))
def test_explaining_changes_nothing_but_the_reasons(seed: int, visits: int, kept: float) -> None:
    """Any routes, any share of the visits left out: with or without the search for reasons,
    the plan's routes, violations and the ids (and order) of what is left out agree."""
    problem = generated_night(nurses=3, visits=visits, seed=seed)
    rng = random.Random(seed)
    routes: dict[str, list[str]] = {n.id: [] for n in problem.nurses}
    for visit in problem.visits:
        if rng.random() < kept:
            routes[rng.choice(list(routes))].append(visit.id)
    explained = evaluate(problem, routes)
    trial = evaluate(problem, routes, explain=False)
    assert trial.routes == explained.routes
    assert trial.violations == explained.violations
    assert [u.visit_id for u in trial.unassigned] == [u.visit_id for u in explained.unassigned]
