"""The quote prices a start past its soft bound (`timeline.soft_end`) as the routing model
charges it: the model's time dimension costs whole units per second, so a rate per minute
the quote took as it stood (1000: 16.67 a second) was charged 17 a second by the search, a
2 % gap (90 a minute for a margin: 33 %). Fictional night; times in seconds from 23:00,
places on a line one minute apart."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer import timeline
from optimizer.evaluate import evaluate
from optimizer.live import with_visit
from optimizer.model import Problem, Visit
from optimizer.plan import Plan, StepType
from optimizer.quote import quote
from optimizer.routing_model import NightModel

from .conftest import MINUTE, line_problem, nurse, planned, unplanned


def _model_soft_cost(problem: Problem, plan: Plan) -> int:
    """What the routing model's soft upper bounds charge for ``plan``'s starts, in the
    objective's units (read from the model OR-Tools searches, not re-derived)."""
    departures = {n.id: timeline.departure(problem, n) for n in problem.nurses}
    model = NightModel(problem, [v for v in problem.visits if not v.is_locked], departures)
    total = 0
    for route in plan.routes:
        for step in route.steps:
            if step.type != StepType.VISIT or step.visit_id is None:
                continue
            index = model.index(model.visit_nodes[step.visit_id][0])
            if model.time.HasCumulVarSoftUpperBound(index):
                bound = model.time.GetCumulVarSoftUpperBound(index)
                rate = model.time.GetCumulVarSoftUpperBoundCoefficient(index)
                total += rate * max(0, step.start - bound)
    return total


# P (at 10, 2 minutes' care) and an acute call at 2 made at 23:00: the call first pushes P
# to 23:20, 5 minutes into a tolerance after its window's end at 23:15, or 10 minutes into
# a 15-minute margin before a hard end at 23:25.
_CASES: dict[str, dict[str, Any]] = {
    "tolerance at 1000": {"late_tolerance_seconds": 15 * MINUTE, "late_cost_per_minute": 1000},
    "tolerance at 200": {"late_tolerance_seconds": 15 * MINUTE, "late_cost_per_minute": 200},
    "margin at 90": {"end_margin_seconds": 15 * MINUTE, "end_margin_cost_per_minute": 90},
}


@pytest.mark.parametrize("fields", _CASES.values(), ids=_CASES.keys())
def test_the_quote_prices_planned_care_past_its_soft_bound_as_the_model(
    fields: dict[str, Any],
) -> None:
    """The call first: what the quote says it adds past soft bounds is what the model's
    objective adds for the same two layouts (the quote's units are sixtieths of it)."""
    window_end = (25 if "end_margin_seconds" in fields else 15) * MINUTE
    care = planned("P", 10, 0, window_end, service_seconds=2 * MINUTE, **fields)
    night = line_problem([nurse()], [care], now=0)
    current = evaluate(night, {"N1": ["P"]})
    problem = with_visit(night, Visit.model_validate(unplanned("CALL", 2, 0, "acute")))
    [option] = quote(problem, current, problem.visit("CALL"))
    assert (option.position, option.start) == (0, 2 * MINUTE)
    call_first = evaluate(problem, {"N1": ["CALL", "P"]})
    assert next(s.start for s in call_first.routes[0].steps if s.visit_id == "P") == 20 * MINUTE
    added = _model_soft_cost(problem, call_first) - _model_soft_cost(problem, current)
    assert added > 0
    assert option.soft_cost == 60 * added


def test_the_quote_prices_a_call_past_its_aim_as_the_model() -> None:
    """An acute call 25 minutes' drive away starts 5 minutes past its 20-minute aim: the
    quote's cost of it is the model's (100 000 a minute: 1 667 a second, not 1 666.67)."""
    night = line_problem([nurse()], [], now=0)
    current = evaluate(night, {"N1": []})
    problem = with_visit(night, Visit.model_validate(unplanned("CALL", 25, 0, "acute")))
    [option] = quote(problem, current, problem.visit("CALL"))
    assert option.start == 25 * MINUTE
    laid = evaluate(problem, {"N1": ["CALL"]})
    assert option.soft_cost == 60 * _model_soft_cost(problem, laid)
