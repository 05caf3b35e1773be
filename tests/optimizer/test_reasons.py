"""Every visit left out says the real reason, also after a silent start (no phone reported)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.generate import generated_night
from optimizer.model import Nurse, Problem, Visit, VisitState
from optimizer.plan import ReasonCode
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned
from .test_properties import nights

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_silent_start_names_the_passed_window_not_the_road() -> None:
    """N1's phone never reported: at 01:30 the 23:00-23:30 visit is not begun. It is not out
    of reach on the road (it is 5 minutes away), its window is over and it may well be done:
    the plan says so and names who had it; the later visit is planned as usual."""
    visits = [
        planned("EARLY", 5, 0, 30 * MINUTE, published_nurse="N1"),
        planned("LATER", 5, 3 * HOUR, 4 * HOUR, published_nurse="N1"),
    ]
    problem = line_problem([nurse("N1")], visits).model_copy(update={"now": 150 * MINUTE})
    plan = solve(problem, time_limit=0.5)
    (left,) = plan.unassigned
    assert left.visit_id == "EARLY"
    assert left.reason == ReasonCode.WINDOW_PASSED
    assert "23:00-23:30" in left.message and "N1" in left.message
    assert "unreachable" not in left.message
    assert plan.route("N1").visit_ids() == ["LATER"]


def test_a_window_past_its_end_but_inside_its_tolerance_is_still_planned() -> None:
    """The region's tolerance (repositioning: 60 min) keeps the end open: a re-plan at 00:00,
    20 minutes past the 23:40 end (an acute call came first), plans it late within the
    tolerance instead of dropping it as passed; past the tolerance it is passed."""
    visits = [
        planned(
            "TURN",
            5,
            0,
            40 * MINUTE,
            published_nurse="N1",
            late_tolerance_seconds=HOUR,
            late_cost_per_minute=1000,
        )
    ]
    problem = line_problem([nurse("N1")], visits)
    inside = solve(problem.model_copy(update={"now": HOUR}), time_limit=0.5)
    assert inside.unassigned == []
    assert inside.route("N1").visit_ids() == ["TURN"]
    past = solve(problem.model_copy(update={"now": 100 * MINUTE + 1}), time_limit=0.5)
    (left,) = past.unassigned
    assert left.reason == ReasonCode.WINDOW_PASSED


def test_a_window_still_open_but_out_of_reach_stays_unreachable() -> None:
    """The window closes after now but before anyone can be there: that is unreachable in
    its window, not a passed window."""
    visits = [planned("FAR", 30, 0, 2 * HOUR + 10 * MINUTE)]
    problem = line_problem([nurse("N1")], visits).model_copy(update={"now": 2 * HOUR})
    plan = solve(problem, time_limit=0.5)
    (left,) = plan.unassigned
    assert left.reason == ReasonCode.UNREACHABLE_IN_WINDOW


def _may_do(problem: Problem, nurse: Nurse, visit: Visit) -> bool:
    """Skills, pin and bag size, worked out here from the problem alone."""
    if not visit.required_skills <= nurse.skills:
        return False
    if visit.pin is not None and visit.pin.nurse != nurse.id:
        return False
    return all(q <= nurse.bag.get(item, 0) for item, q in visit.materials.items())


def _alone_fits(problem: Problem, nurse: Nurse, visit: Visit, *, window: bool) -> bool:
    """Whether ``nurse``, leaving now from her start, could do ``visit`` as her only stop
    and be back before her shift ends (inside its window too, if ``window``)."""
    matrix = problem.matrix(nurse.profile)
    leave = max(nurse.shift.start, problem.now or 0)
    target = problem.target(visit)
    begin = max(leave + math.ceil(matrix[nurse.start_location][visit.location]), target.start)
    if window and problem.is_planned_care(visit) and begin > target.end:
        return False
    back = math.ceil(matrix[visit.location][nurse.end_location])
    return begin + visit.service_seconds + back <= nurse.shift.end


@FAST
@given(nights(), st.integers(0, 7 * HOUR), st.booleans())
def test_every_reason_is_the_real_one(problem: Problem, now: int, published: bool) -> None:
    """At a random moment of a night whose phones never reported (nobody has a live state):
    a visit is 'window passed' exactly when its agreed window closed before now; one left out
    as unreachable in its window or outside the shifts has no nurse who could do it alone
    (and one of its window has a window still open); 'no skilled nurse' means none has the
    skills."""
    if published and problem.nurses:
        owner = problem.nurses[0].id
        problem = problem.model_copy(
            update={
                "visits": [v.model_copy(update={"published_nurse": owner}) for v in problem.visits]
            }
        )
    problem = problem.model_copy(update={"now": now})
    plan = solve(problem, time_limit=0.2)
    reasons = {u.visit_id: u for u in plan.unassigned}
    for visit in problem.visits:
        over = (
            problem.is_planned_care(visit)
            and visit.state == VisitState.PLANNED
            and visit.window is not None
            and visit.window.end + visit.late_tolerance_seconds < now
        )
        left = reasons.get(visit.id)
        if over and problem.nurses:
            assert left is not None and left.reason == ReasonCode.WINDOW_PASSED, left
            continue
        if left is None:
            continue
        assert left.reason != ReasonCode.WINDOW_PASSED, left
        able = [n for n in problem.nurses if _may_do(problem, n, visit)]
        if left.reason == ReasonCode.UNREACHABLE_IN_WINDOW:
            fit = [n for n in able if _alone_fits(problem, n, visit, window=True)]
            assert len(fit) < visit.nurses_needed, left
        elif left.reason == ReasonCode.OUTSIDE_SHIFTS:
            fit = [n for n in able if _alone_fits(problem, n, visit, window=False)]
            assert len(fit) < visit.nurses_needed, left
        elif left.reason == ReasonCode.NO_SKILLED_NURSE:
            assert not any(visit.required_skills <= n.skills for n in problem.nurses), left


def test_a_first_plan_cut_short_by_the_clock_does_not_blame_capacity() -> None:
    """With far too little time to build the first plan, the visits it never tried are
    'no plan in time', not 'no room': whatever the machine managed, a visit the short run
    calls 'no room' is also left out by the complete first plan."""
    problem = generated_night(nurses=10, visits=200, seed=2)
    full = solve(problem, time_limit=60, first_only=True)
    short = solve(problem, time_limit=0.05, processes=1)
    left_out = {u.visit_id for u in full.unassigned}
    blamed = {u.visit_id for u in short.unassigned if u.reason == ReasonCode.NO_CAPACITY}
    assert blamed <= left_out
    assert {v.id for v in problem.visits} == set(short.assignments()) | {
        u.visit_id for u in short.unassigned
    }
