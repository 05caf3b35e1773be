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

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optimizer.evaluate import evaluate
from optimizer.model import Problem
from optimizer.plan import Plan, ReasonCode
from optimizer.replan import (
    first_answer_arrival,
    hold_promises,
    insert_new_calls,
)

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned


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


def test_a_break_already_missed_does_not_block_the_room() -> None:
    """Her break's window (00:00-00:30) went by untaken: her route already breaks that rule.
    Making room counted it as broken by every place and left nothing out (simulated night 5
    of seed 11 at 05:18: both nurses' breaks missed, a call a nurse could reach in 20
    minutes refused as no_capacity)."""
    rule = {"duration_seconds": 30 * MINUTE, "window": {"start": 0, "end": 30 * MINUTE}}
    problem = line_problem(
        [nurse(break_rule=rule)],
        [planned("P", 20, 60 * MINUTE, 65 * MINUTE), unplanned("A", 25, 40 * MINUTE, "acute")],
        now=40 * MINUTE,
    )
    current = evaluate(problem, {"N1": ["P"]})
    assert [v.code for v in current.violations] == ["break_missed"]
    answer = first_answer_arrival(problem, current, "A")
    assert answer == ("N1", 65 * MINUTE), answer


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


@st.composite
def _busy_nights(draw: st.DrawFn) -> tuple[Problem, Plan]:
    """One or two nurses on a line, each with up to four planned visits (hard windows, or a
    tolerance) laid out in time in window order, and an acute call at ``now`` somewhere."""
    now = draw(st.integers(0, 3 * HOUR))
    nurses, visits, routes = [], [], {}
    for n in range(draw(st.integers(1, 2))):
        nurses.append(nurse(f"N{n}", start_location=draw(st.integers(0, 30))))
        mine = []
        for k in range(draw(st.integers(0, 4))):
            begin = now + draw(st.integers(0, 90)) * MINUTE
            fields = {}
            if draw(st.booleans()):
                fields = {"late_tolerance_seconds": 15 * MINUTE, "late_cost_per_minute": 1000}
            visit = planned(
                f"P{n}{k}",
                draw(st.integers(0, 30)),
                begin,
                begin + draw(st.integers(0, 30)) * MINUTE,
                service_seconds=draw(st.sampled_from([10, 20, 30])) * MINUTE,
                **fields,
            )
            visits.append(visit)
            mine.append(visit)
        mine.sort(key=lambda v: v["window"]["start"])
        routes[f"N{n}"] = [v["id"] for v in mine]
    call = unplanned("A", draw(st.integers(0, 30)), now, "acute", service_seconds=20 * MINUTE)
    problem = line_problem(nurses, [*visits, call], now=now)
    return problem, evaluate(problem, routes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_busy_nights())
def test_a_call_is_in_time_whenever_a_nurse_could_leave_her_planned_care(
    night: tuple[Problem, Plan],
) -> None:
    """Whatever the planned care and where the call is: when a nurse could be on site by
    the acute call's target by leaving her planned care for later (a right "no" is only when
    none can), the first answer, which triage reports, has her there by it. Old code: only
    inserted, so a call that fit only by pushing hard-window care past its end went late."""
    problem, current = night
    assume(not current.violations)
    call = problem.visit("A")
    target = problem.target(call).end
    reachable = any(
        max(problem.now or 0, 0) + problem.matrix(n.profile)[n.start_location][call.location]
        <= target
        for n in problem.nurses
    )
    answer = first_answer_arrival(problem, current, "A")
    if reachable:
        assert answer is not None and answer[1] <= target, (answer, current.routes)
