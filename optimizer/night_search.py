"""One search of a night's routing model (`optimizer.routing_model`): the construction with
its fallbacks, the search that continues from it, iterated local search; the answer as plain
data (`Found`), so it can cross process boundaries (the portfolio of `optimizer.solve`, the
regions of `optimizer.region_search`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from optimizer import search, timeline
from optimizer.assemble import extract
from optimizer.model import Problem, Visit
from optimizer.routing_model import NightModel
from optimizer.search import SearchConfig

__all__ = ["Found", "fallback_config", "first_plan_only", "found_from", "search_once"]

#: Above this share of the budget spent on construction, ILS (which constructs again) is
#: replaced by guided local search from the construction (see `_iterated`).
_CONSTRUCTION_SHARE = 0.2
#: Construction heuristics tried in turn when one finds no first solution in its time.
_FALLBACKS = ("PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_INSERTION", "PATH_CHEAPEST_ARC")


@dataclass(frozen=True, slots=True)
class Found:
    """One search's answer as plain data (it crosses process boundaries)."""

    method: str
    objective: int | None = None
    status: str = ""
    sequences: dict[str, list[str]] | None = None
    starts: dict[tuple[str, int], int] | None = None
    break_starts: dict[str, int] | None = None
    #: The construction stopped at its time limit: a visit it did not place may have fitted.
    cut_short: bool = False


def found_from(model: NightModel, solution: Any, method: str, *, cut_short: bool = False) -> Found:
    sequences, starts, break_starts = extract(model, solution)
    return Found(
        method=method,
        objective=int(solution.ObjectiveValue()),
        status=str(model.routing.status()),
        sequences=sequences,
        starts=starts,
        break_starts=break_starts,
        cut_short=cut_short,
    )


def first_plan_only(parameters: Any) -> None:
    """Stop ``parameters``' search at its first solution, built without the scheduling LP.

    With breaks or soft urgency targets OR-Tools checks every trial insertion of the
    construction with a per-route scheduling LP (GLOP, or CP-SAT with breaks); its plain
    cumul propagation already keeps every hard rule, so the LP only refines costs. Measured on
    the generated 10 x 200 night (load 2-3): parallel cheapest insertion 1.35 s with the LP,
    0.51 s without, the same visits left out (29) and objective within 0.01 %, every plan
    checked clean (`bench/first_plan_bench.py`). The search that follows runs with the LP as
    before. The construction the LP checks reports a higher objective for the same routes
    (3 x 45: 3288477 against 3130870, which is also what the LP gives those routes when they
    are read back), so the construction without it is also the fairer yardstick for
    `_iterated`'s "the better of the construction and the search". On the 50 x 1000 night
    it is what lets a 10 s portfolio answer at all: with the LP its workers did not finish
    construction within 10 s (measured 2026-11-29, load 1-4).
    """
    parameters.solution_limit = 1
    parameters.disable_scheduling_beware_this_may_degrade_performance = True


def search_once(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    config: SearchConfig,
    deadline: float,
    first_only: bool,
    solution_limit: int | None,
    fixed_slots: bool | None = None,
    scheduling: bool = True,
) -> Found:
    """Build the model with visits in ``config.seed``'s order and run ``config`` until
    ``deadline`` (``time.monotonic()``); a portfolio worker, so arguments and answer are plain.

    OR-Tools' routing search has no random seed: the node order is what a seed changes.
    ``scheduling=False`` searches without the per-route scheduling LP, like the construction
    (`first_plan_only`): every hard rule still holds, only the costs are less refined.
    """
    order = list(open_visits)
    if config.seed:
        random.Random(config.seed).shuffle(order)
    if config.ils and not first_only:
        return _iterated(
            lambda required=False: NightModel(problem, order, departures, visits_required=required),
            config,
            deadline,
            solution_limit,
        )
    model = NightModel(problem, order, departures, fixed_slots=fixed_slots)
    routing = model.routing
    if first_only:
        config = replace(config, ils=False, metaheuristic="GREEDY_DESCENT")
    names = [config.first_solution, *(n for n in _FALLBACKS if n != config.first_solution)]
    for name in names:
        tried = replace(config, first_solution=name)
        # The first plan apart, built as quickly as it can be (`first_plan_only`), then the
        # search from it: on a loaded machine a 1 s search on 10 x 200 otherwise spent its
        # budget in a construction checked by the LP and answered with 68 visits left out.
        construction = replace(tried, ils=False, metaheuristic="GREEDY_DESCENT")
        parameters = search.search_parameters(
            time_limit=max(0.05, deadline - time.monotonic()), config=construction
        )
        first_plan_only(parameters)
        first = routing.SolveWithParameters(parameters)
        if first is None:
            continue
        label = f"or-tools: {tried.label}, first plan by {name}"
        remaining = deadline - time.monotonic()
        if first_only or remaining < 0.05:
            return found_from(model, first, label, cut_short=remaining <= 0)
        parameters = search.search_parameters(
            time_limit=remaining, config=tried, mean_arc_cost=model.mean_arc_cost
        )
        if solution_limit is not None:
            parameters.solution_limit = solution_limit
        if not scheduling:
            parameters.disable_scheduling_beware_this_may_degrade_performance = True
        solution = _search_from_first(routing, first, parameters, deadline)
        return found_from(model, solution if solution is not None else first, label)
    return Found(method=f"or-tools: {config.label}", status="no solution within the time limit")


def _search_from_first(routing: Any, first: Any, parameters: Any, deadline: float) -> Any:
    """``SolveFromAssignmentWithParameters(first, parameters)``; when that fails without
    searching (ROUTING_FAIL: ``first`` did not restore), the same search from a construction
    of its own for the time left.

    Seen on the 333-visit regions of the 50 x 1000 night (load 15): a first plan built
    without the scheduling LP failed to restore in 0.1-0.3 s on some regions and some runs
    (with or without the LP in the search), so the search that should follow it ended at
    once and answered with the first plan.
    """
    solution = routing.SolveFromAssignmentWithParameters(first, parameters)
    left = deadline - time.monotonic()
    if solution is not None or left < 0.1:
        return solution
    parameters.time_limit.FromMilliseconds(int(1000 * left))
    return routing.SolveWithParameters(parameters)


def _iterated(
    build: Callable[..., NightModel],
    config: SearchConfig,
    deadline: float,
    solution_limit: int | None,
) -> Found:
    """Iterated local search, anytime: construct first, then search with ILS on a fresh model
    only if construction took a small part of the budget.

    OR-Tools' ILS has no warm start and constructs again inside its own time limit; on a large
    night or a loaded machine that construction can be cut short and ILS would answer with
    every visit left out. So the first plan is built here; when it took more than
    ``_CONSTRUCTION_SHARE`` of the budget, guided local search continues from it instead.
    ILS runs on a model of its own: on the model that already ran the construction it was
    measured clearly worse (RC208, 4 s: 885.8 against 815.5-823.4). The better of the
    construction and the search is returned.

    When the first plan has every visit and every visit's omission penalty exceeds that plan's
    whole objective, no plan that leaves a visit out can beat it, so ILS searches a model
    without the visits' disjunctions (`_can_require_all`): their make-active / make-inactive
    moves and penalty costs only slow it down there. Should ILS find nothing on that model,
    it runs on the usual one for the time left.
    """
    began = time.monotonic()
    model = build()
    routing = model.routing
    first: Any = None
    name = ""
    for name in dict.fromkeys((config.first_solution, *_FALLBACKS)):
        construction = replace(
            config, first_solution=name, ils=False, metaheuristic="GREEDY_DESCENT"
        )
        parameters = search.search_parameters(
            time_limit=max(0.05, deadline - time.monotonic()), config=construction
        )
        first_plan_only(parameters)
        first = routing.SolveWithParameters(parameters)
        if first is not None:
            break
    if first is None:
        return Found(method=f"or-tools: {config.label}", status="no solution within the time limit")
    remaining = deadline - time.monotonic()
    label = f"or-tools: {name} (the search found nothing better)"
    built = found_from(model, first, label, cut_short=remaining <= 0)
    took = time.monotonic() - began
    if remaining < 0.05:
        return built
    if took > _CONSTRUCTION_SHARE * (deadline - began):
        gls = search.search_parameters(time_limit=remaining, config=fallback_config(config))
        if solution_limit is not None:
            gls.solution_limit = solution_limit
        solution = _search_from_first(routing, first, gls, deadline)
        method = f"or-tools: {name} + guided local search (construction too slow for ILS)"
    else:
        solution = None
        for required in (True, False) if _can_require_all(model, first) else (False,):
            if deadline - time.monotonic() < 0.05:
                break
            model = build(required)
            parameters = search.search_parameters(
                time_limit=max(0.05, deadline - time.monotonic()),
                config=replace(config, first_solution=name),
                mean_arc_cost=model.mean_arc_cost,
            )
            if solution_limit is not None:
                parameters.solution_limit = solution_limit
            solution = model.routing.SolveWithIteratedLocalSearch(parameters)
            if solution is not None:
                break
        method = f"or-tools: {config.label}, first plan by {name}"
        if solution is not None and model.visits_required:
            method += ", every visit required"
    if solution is None or solution.ObjectiveValue() > built.objective:
        return built
    return found_from(model, solution, method)


def _can_require_all(model: NightModel, first: Any) -> bool:
    """True when ``first`` performs every visit node and leaving any visit out would cost
    more (its omission penalty alone) than the whole of ``first``."""
    routing = model.routing
    for nodes in model.visit_nodes.values():
        for node in nodes:
            if first.Value(routing.ActiveVar(model.index(node))) != 1:
                return False
    classes = model.problem.urgency_classes
    cheapest = min(classes[v.urgency].omission_penalty for v in model.visits)
    return bool(cheapest > first.ObjectiveValue())


def fallback_config(config: SearchConfig) -> SearchConfig:
    """Guided local search with ``config``'s seed: the search for short budgets."""
    return SearchConfig(label="gls-pci", seed=config.seed)
