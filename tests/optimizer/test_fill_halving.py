"""The fill keeps each insertion that breaks nothing, when one among them breaks a rule its
own layout did not see: the group is halved until the bad one is alone (issue 9).

Fictional night; times in seconds from 23:00."""

from __future__ import annotations

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.fill import with_what_fits
from optimizer.model import Problem

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned


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


def test_the_fill_puts_an_acute_call_where_it_is_soonest_not_cheapest() -> None:
    """An acute call left out by a short search, at 29 on N1's way home (she ends at 30):
    put in last it adds no travel but starts past 02:00, an hour and a half late; put in
    first it starts at 23:29, in time, for 18 more minutes of driving. The fill ranked
    places by added travel alone (red team R07: acute calls hours late after a 0.3 s
    re-plan); it ranks them as the quote does, lateness first."""
    visits = [
        planned("A", 20, 0, 8 * HOUR, service_seconds=HOUR),
        planned("B", 25, 0, 8 * HOUR, service_seconds=HOUR),
        unplanned("C", 29, 0, "acute"),
    ]
    problem = line_problem([nurse(end_location=30)], visits, now=0)
    plan = evaluate(problem, {"N1": ["A", "B"]})
    assert [u.visit_id for u in plan.unassigned] == ["C"]

    filled = with_what_fits(problem, plan)

    assert filled.route("N1").visit_ids() == ["C", "A", "B"]
    [call] = [s for s in filled.route("N1").steps if s.visit_id == "C"]
    assert call.start == 29 * MINUTE and call.lateness_seconds == 0
    assert filled.violations == []
