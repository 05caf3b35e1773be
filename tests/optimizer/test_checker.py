"""The independent checker catches each kind of broken plan."""

from __future__ import annotations

from optimizer.checker import check
from optimizer.plan import Plan, StepType
from optimizer.solve import solve

from .conftest import HOUR, line_problem, nurse, planned

PROBLEM = line_problem(
    [nurse("N1", skills=["basic"]), nurse("N2")],
    [planned("A", 5, HOUR, 2 * HOUR), planned("B", 10, 0, 3 * HOUR, required_skills=["iv"])],
)


def _plan() -> Plan:
    plan = solve(PROBLEM, time_limit=0.5)
    assert check(PROBLEM, plan) == []
    return plan


def _codes(plan: Plan) -> set[str]:
    return {v.code for v in check(PROBLEM, plan)}


def _edit_step(plan: Plan, visit_id: str, **changes: int) -> Plan:
    routes = []
    for route in plan.routes:
        steps = [s.model_copy(update=changes) if s.visit_id == visit_id else s for s in route.steps]
        routes.append(route.model_copy(update={"steps": steps}))
    return plan.model_copy(update={"routes": routes})


def test_a_valid_plan_passes() -> None:
    """The solver's own plan has no violations."""
    assert _plan().violations == []


def test_start_outside_window_is_caught() -> None:
    """Moving A to before its window opens breaks the window rule."""
    assert "window_missed" in _codes(_edit_step(_plan(), "A", start=600, end=1200, arrival=600))


def test_too_fast_travel_is_caught() -> None:
    """Arriving sooner than the road allows is caught."""
    plan = _plan()
    nurse_of_b = plan.assignments()["B"][0]
    route = plan.route(nurse_of_b)
    first = next(s for s in route.steps if s.type == StepType.VISIT)
    assert "too_fast" in _codes(
        _edit_step(plan, first.visit_id or "", arrival=1, start=first.start)
    )


def test_missing_visit_is_caught() -> None:
    """A visit neither planned nor unassigned is reported missing."""
    plan = _plan()
    routes = [
        r.model_copy(update={"steps": [s for s in r.steps if s.visit_id != "A"]})
        for r in plan.routes
    ]
    assert "missing" in _codes(plan.model_copy(update={"routes": routes}))


def test_wrong_skill_is_caught() -> None:
    """Giving the iv visit to the nurse without iv is caught."""
    plan = _plan()
    owner = plan.assignments()["B"][0]
    other = "N1" if owner == "N2" else "N2"
    step = next(s for s in plan.route(owner).steps if s.visit_id == "B")
    routes = []
    for route in plan.routes:
        steps = [s for s in route.steps if s.visit_id != "B"]
        if route.nurse_id == other:
            steps.insert(len(steps) - 1, step)
        routes.append(route.model_copy(update={"steps": steps}))
    assert "skill_missing" in _codes(plan.model_copy(update={"routes": routes}))


def test_visit_planned_twice_is_caught() -> None:
    """The same single-nurse visit in two routes is reported."""
    plan = _plan()
    owner = plan.assignments()["A"][0]
    other = "N1" if owner == "N2" else "N2"
    step = next(s for s in plan.route(owner).steps if s.visit_id == "A")
    routes = []
    for route in plan.routes:
        steps = list(route.steps)
        if route.nurse_id == other:
            steps.insert(len(steps) - 1, step)
        routes.append(route.model_copy(update={"steps": steps}))
    assert "wrong_nurse_count" in _codes(plan.model_copy(update={"routes": routes}))
