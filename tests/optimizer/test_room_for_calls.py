"""The first answer makes room for a call that fits only late (brief s23-triage, issue 11).

Triage asks the first answer (`replan.first_answer_arrival`, which is `insert_new_calls`)
where a call would go. That answer only inserted: where every in-time place pushed planned
care past its hard window, the call went in late (or nowhere) and triage said "no", though
leaving the planned visit for later or for the back-up (its omission costs 3 * 10**8, an
acute call's 10**9) puts a nurse there in time, as the search's own first answer
(`quick_replan`, `_make_room`) does. On 10 simulated nights with 2 nurses triage said "no" to
16 of 35 acute calls while `nearest_free` reached 91 % of them.
"""

from __future__ import annotations

from optimizer.evaluate import evaluate
from optimizer.model import Problem
from optimizer.plan import Plan, ReasonCode
from optimizer.replan import first_answer_arrival, hold_promises, insert_new_calls

from .conftest import MINUTE, line_problem, nurse, planned, unplanned


def _night() -> tuple[Problem, Plan]:
    """One nurse at 0; planned P at 20 (hard window 20-25 min); acute A at 25, called at 0:
    A first makes P 15 minutes late, A after P is on site at 35 minutes, 5 past target."""
    problem = line_problem(
        [nurse()],
        [planned("P", 20, 20 * MINUTE, 25 * MINUTE), unplanned("A", 25, 0, "acute")],
        now=0,
    )
    current = evaluate(problem, {"N1": ["P"]})
    return problem, current


def test_an_acute_call_displaces_planned_care_to_be_in_time() -> None:
    """Old code: A at 35 minutes (after P), so triage said no; now A is first, in time, and
    P is left out as displaced (the back-up or a later re-plan takes it)."""
    problem, current = _night()
    answer = first_answer_arrival(problem, current, "A")
    assert answer == ("N1", 25 * MINUTE), answer
    plan = insert_new_calls(problem, current)
    [left] = plan.unassigned
    assert (left.visit_id, left.reason) == ("P", ReasonCode.DISPLACED)
    assert not plan.violations


def test_a_call_told_yes_is_never_displaced() -> None:
    """At 40 minutes an urgent call U answered before is due at 60 (its target: held to it),
    and acute A comes in. A first would make U 20 minutes past its promise, so making room
    for A could leave U out (urgent is less urgent than acute); a partner was told a time for
    U, so it stays and A goes after it (late). Without the rule A displaced U."""
    problem = line_problem(
        [nurse()],
        [unplanned("U", 20, 0, "urgent"), unplanned("A", 25, 40 * MINUTE, "acute")],
        now=40 * MINUTE,
    )
    current = evaluate(problem, {"N1": ["U"]})
    held, _ = hold_promises(problem, current)
    assert held.visit("U").promised_by == 60 * MINUTE
    plan = insert_new_calls(held, current)
    assert plan.assignments() == {"U": ["N1"], "A": ["N1"]}, plan.unassigned
    assert not plan.violations


def test_no_room_when_no_nurse_can_be_there_in_time() -> None:
    """A right "no": the call is 40 minutes' drive away; nothing is left out for it."""
    problem = line_problem(
        [nurse()],
        [planned("P", 20, 20 * MINUTE, 25 * MINUTE), unplanned("A", 40, 0, "acute")],
        size=41,
        now=0,
    )
    current = evaluate(problem, {"N1": ["P"]})
    plan = insert_new_calls(problem, current)
    assert "P" in plan.assignments()
