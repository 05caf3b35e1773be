"""A live re-plan's warm start puts several new calls in at once, each quoted on the plan
with the calls before it in (issue 9, red team R07). Fictional night; times in seconds from
23:00."""

from __future__ import annotations

from optimizer import timeline
from optimizer.evaluate import evaluate
from optimizer.live import with_visit
from optimizer.model import Visit
from optimizer.replan import initial_routes
from optimizer.routing_model import NightModel

from .conftest import MINUTE, line_problem, nurse, planned, unplanned


def test_two_calls_at_once_do_not_both_take_the_place_one_of_them_fits() -> None:
    """N1's next visit P (at 10) must start by 23:50. Either acute call (at 1 and 2, 20
    minutes each) fits first alone. Quoted each on the plan without the other, both took
    that place, C2 then C1: P started 23:52, a warm start that breaks P's window (OR-Tools
    then cannot restore it, and the search starts without the calls). Quoted with C1 in,
    C2 goes after C1 (P at 23:50) or after P."""
    night = line_problem([nurse()], [planned("P", 10, 40 * MINUTE, 50 * MINUTE)], now=0)
    plan = evaluate(night, {"N1": ["P"]})
    problem = night
    for name, location in (("C1", 1), ("C2", 2)):
        call = unplanned(name, location, 0, "acute", service_seconds=20 * MINUTE)
        problem = with_visit(problem, Visit.model_validate(call))
    departures = {n.id: timeline.departure(problem, n) for n in problem.nurses}
    model = NightModel(problem, list(problem.visits), departures)
    [route] = initial_routes(model, plan)
    order = [model.nodes[model.manager.IndexToNode(i)].visit for i in route]
    sequence = [visit.id for visit in order if visit is not None]
    assert sorted(sequence) == ["C1", "C2", "P"]
    warm = evaluate(problem, {"N1": sequence})
    assert warm.violations == []
