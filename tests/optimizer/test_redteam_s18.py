"""Red-team findings of s18 in the solver, each a failing test until fixed (xfail strict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer import check, solve
from optimizer.fill import with_what_fits
from optimizer.model import Problem
from optimizer.plan import Plan, ReasonCode
from optimizer.replan import hold_promises

from .test_properties import plain_places

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


def _fitting(problem: Problem, plan: Plan) -> list[str]:
    """The visits ``plan`` calls ``no_capacity`` that have a plain place (`plain_places`)."""
    return [
        u.visit_id
        for u in plan.unassigned
        if u.reason == ReasonCode.NO_CAPACITY
        and plain_places(problem, plan, problem.visit(u.visit_id))
    ]


def test_r04_no_capacity_is_said_only_of_visits_no_nurse_has_room_for() -> None:
    """The demo night after a cut-short search (R03) and a restart: the start-up re-plan,
    warm-started from the wreck (0.24 s of search), kept 43 visits out, 41 of them
    ``no_capacity`` ("no nurse has room for it inside its agreed window tonight"), and every
    one of those 41 has a feasible insertion by the optimizer's own `quote` into that very
    plan (a cold 0.8 s solve leaves 10 out). Partners read the reason and call the back-up.
    Now what fits is put in (`optimizer.fill`), whatever the search managed."""
    problem = Problem.model_validate_json((DATA / "r04_problem.json").read_text())
    stored = Plan.model_validate(json.loads((DATA / "r04_stored_plan.json").read_text()))
    assert len(_fitting(problem, stored)) >= 30  # the wreck as the service stored it (41 of 43 fit)
    replanned = solve(problem, time_limit=0.25, warm_start=stored, solution_limit=1)
    assert check(problem, replanned) == []
    # What fits is judged as the re-plan sees the night: every call answered before held to
    # its promise (a visit that would push one past it does not fit; s20-sim).
    assert _fitting(hold_promises(problem, stored)[0], replanned) == []
    assert len(replanned.unassigned) < len(stored.unassigned)


@pytest.mark.parametrize(("night", "seed"), [("r04", 8), ("r04", 10), ("r04b", 9)])
def test_what_fits_is_put_in_whatever_the_short_search_returned(night: str, seed: int) -> None:
    """CI failure of stop 18: the R04 re-plan (0.25 s) sometimes left 19 visits
    ``no_capacity`` that fit. The search's answer varies with the machine's load; two such
    answers, saved with ``seed`` (warm start from the wreck, 0.25 s, one solution), are the
    input here. The fill laid routes out without the holds the filled plan keeps, so its
    plan made a visit late (seed 10: V8 past 04:30) or a linked check too soon after its
    injection (seed 8: V46 58 min after V45, gap 60-90), and the whole fill was thrown away.
    The same in CI for R04b (seed 9): the search put N3's break at 18928 s, the moment she
    reaches V42; laid out again, a break hinted at exactly the arrival was not taken there,
    fell back to the window's opening, and made V43, V6 and V4 late in the fill's and the
    quote's eyes, so visits went in that made them late and the fill was thrown away."""
    problem = Problem.model_validate_json((DATA / f"{night}_problem.json").read_text())
    searched = Plan.model_validate(
        json.loads((DATA / f"{night}_search_seed{seed}.json").read_text())
    )
    assert len(_fitting(problem, searched)) >= 4
    filled = with_what_fits(problem, searched)
    assert check(problem, filled) == []
    assert _fitting(problem, filled) == []


def test_r04b_after_ten_calls_at_once_what_fits_is_put_in() -> None:
    """The plan integ e6a3731 stored after ten acute calls at once (load 10): 6 of its 11
    ``no_capacity`` visits have a feasible insertion, two of them said to be "kept out by
    N1's 30-minute break". A re-plan from it, however short, leaves none of them so."""
    problem = Problem.model_validate_json((DATA / "r04b_problem.json").read_text())
    stored = Plan.model_validate(json.loads((DATA / "r04b_stored_plan.json").read_text()))
    assert len(_fitting(problem, stored)) >= 4
    replanned = solve(problem, time_limit=0.25, warm_start=stored, solution_limit=1)
    assert check(problem, replanned) == []
    # What fits is judged as the re-plan sees the night: every call answered before held to
    # its promise (a visit that would push one past it does not fit; s20-sim).
    assert _fitting(hold_promises(problem, stored)[0], replanned) == []
