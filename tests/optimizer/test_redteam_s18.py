"""Red-team findings of s18 in the solver, each a failing test until fixed (xfail strict)."""

from __future__ import annotations

import json
from pathlib import Path

from optimizer import check, solve
from optimizer.model import Problem
from optimizer.plan import Plan

DATA = Path(__file__).parents[1] / "data" / "redteam_s18"


def test_r01_a_feasible_link_added_live_keeps_both_visits_planned() -> None:
    """The demo night at 23:30 with a partner's check linked 60-90 min after V45 (same
    nurse). A cold solve plans both (0.8 s); the live re-plan, warm-started from the plan
    before the link, leaves V45 (planned until then) and V46 out as ``link_infeasible``
    ("no room for both tonight"), even with 5 s."""
    problem = Problem.model_validate_json((DATA / "r01_problem.json").read_text())
    before = Plan.model_validate(json.loads((DATA / "r01_warm_plan.json").read_text()))
    cold = solve(problem, time_limit=0.8, solution_limit=200)
    assert not cold.unassigned, "the night is feasible with both visits"
    live = solve(problem, time_limit=0.8, warm_start=before, solution_limit=200)
    assert check(problem, live) == []
    assert [u.visit_id for u in live.unassigned] == []
