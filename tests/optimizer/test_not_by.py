"""A visit is never given to a nurse it may not be given (`Visit.not_by`: the service bars a
nurse whose phone is silent, `api.night.reach`): not by the search, the quick insertion of
new calls, nor the fill."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.model import Problem
from optimizer.replan import insert_new_calls
from optimizer.solve import solve

from .conftest import line_problem, nurse, unplanned
from .test_properties import nights


def _barred(problem: Problem, data: st.DataObject) -> Problem:
    codes = [n.id for n in problem.nurses]
    visits = [
        v.model_copy(update={"not_by": frozenset(data.draw(st.sets(st.sampled_from(codes))))})
        for v in problem.visits
    ]
    return problem.model_copy(update={"visits": visits})


@given(problem=nights(), data=st.data())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_plan_puts_a_visit_with_a_nurse_it_may_not_be_given(
    problem: Problem, data: st.DataObject
) -> None:
    problem = _barred(problem, data)
    for plan in (solve(problem, time_limit=0.3), insert_new_calls(problem, None)):
        for route in plan.routes:
            for step in route.steps:
                if step.visit_id:
                    assert route.nurse_id not in problem.visit(step.visit_id).not_by, step


def test_the_nearest_nurse_barred_the_call_goes_to_the_other() -> None:
    """N1 waits next to the call, N2 far away: barred from N1, N2 takes it."""
    problem = line_problem(
        [nurse("N1", current_location=1), nurse("N2", current_location=20)],
        [unplanned("A", 2, 0, "acute", not_by=["N1"])],
        now=0,
    )
    for plan in (solve(problem, time_limit=0.5), insert_new_calls(problem, None)):
        holders = [r.nurse_id for r in plan.routes for s in r.steps if s.visit_id == "A"]
        assert holders == ["N2"], plan.routes
