"""The fill keeps each insertion that breaks nothing, when one among them breaks a rule its
own layout did not see: the group is halved until the bad one is alone (issue 9).

Fictional night; times in seconds from 23:00."""

from __future__ import annotations

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.fill import with_what_fits
from optimizer.model import Problem

from .conftest import HOUR, MINUTE, line_problem, nurse, planned


def _night() -> Problem:
    """At 00:00 N1 is driving to E (10 minutes away); then A, then her break (window
    00:00-01:30, 30 minutes), planned after A. V fits only between E and A, and there only
    when her break, pushed out of its planned place, is taken as soon as its window opens:
    before the drive to E. W fits N2's empty route."""
    driving = planned("E", 10, 0, 4 * HOUR)
    driving.update(state="en_route", assigned_nurses=["N1"])
    visits = [
        driving,
        planned("A", 12, 82 * MINUTE, 170 * MINUTE),
        planned("V", 5, HOUR, 2 * HOUR, service_seconds=40 * MINUTE),
        planned("W", 25, HOUR, 5 * HOUR),
    ]
    rest = {"duration_seconds": 30 * MINUTE, "window": {"start": HOUR, "end": 150 * MINUTE}}
    nurses = [
        nurse("N1", break_rule=rest),
        nurse("N2", start_location=25, end_location=25, skills=["basic"]),
    ]
    return line_problem(nurses, visits, now=HOUR)


def test_one_bad_insertion_is_halved_out_and_the_good_one_kept() -> None:
    """Both V and W look fine to the fill's layout, but the plan with V shows N1 taking her
    break before the drive to E, the visit she is driving to (``en_route_moved``): the plan
    with both is refused, the group halved, W put in alone and V left out; no rule broken."""
    problem = _night()
    plan = evaluate(problem, {"N1": ["E", "A"], "N2": []}, break_starts={"N1": 92 * MINUTE})
    assert plan.violations == []
    assert sorted(u.visit_id for u in plan.unassigned) == ["V", "W"]
    # What the fill's layout offers for both at once breaks a rule: its break before E.
    both = evaluate(problem, {"N1": ["E", "V", "A"], "N2": ["W"]}, break_starts={"N1": HOUR})
    assert ("en_route_moved", "E") in {(v.code, v.visit_id) for v in both.violations}

    filled = with_what_fits(problem, plan)

    assert filled.route("N2").visit_ids() == ["W"]
    assert filled.route("N1").visit_ids() == ["E", "A"]
    assert [u.visit_id for u in filled.unassigned] == ["V"]
    assert filled.violations == []
    assert check(problem, filled) == []
