"""`solve(problem)`: tonight's routes from OR-Tools' vehicle-routing solver.

The routing model is in `optimizer.routing_model`, reading a solution back into a plan in
`optimizer.assemble`, the live re-plan's warm start and quick answer in `optimizer.replan`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from optimizer import timeline
from optimizer.assemble import extract, plan_from_routes
from optimizer.eligibility import eligible_nurses, excluded
from optimizer.evaluate import evaluate
from optimizer.model import Problem, Visit, VisitState
from optimizer.plan import Plan, ReasonCode, SolverStats, StepType, Unassigned
from optimizer.replan import initial_routes, quick_replan, warm_sequences
from optimizer.routing_model import NightModel

__all__ = ["eligible_nurses", "plan_from_routes", "solve"]

Progress = Callable[[str], None]


def _parameters(
    time_limit: float, strategy: int, *, first_only: bool = False, warm: bool = False
) -> pywrapcp.DefaultRoutingSearchParameters:
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = strategy
    metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    if first_only and warm:
        # From a warm start the quickest good answer is plain descent to a local optimum;
        # a solution limit would not stop guided local search there.
        metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    elif first_only:
        parameters.solution_limit = 1
    parameters.local_search_metaheuristic = metaheuristic
    parameters.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
    return parameters


def solve(
    problem: Problem,
    *,
    time_limit: float = 5.0,
    warm_start: Plan | None = None,
    first_only: bool = False,
    progress: Progress | None = None,
) -> Plan:
    """Plan tonight's routes within ``time_limit`` seconds (anytime: the best found by then).

    ``warm_start`` (the current plan) makes a live re-plan start from what the nurses were
    told. ``first_only`` returns the first feasible plan without improving it (the quickest
    answer). Started and finished visits never move; visits that cannot be planned come back
    in ``Plan.unassigned`` with a reason.
    """
    began = time.perf_counter()
    unassigned: list[Unassigned] = []
    open_visits: list[Visit] = []
    departures = {n.id: timeline.departure(problem, n) for n in problem.nurses}
    for visit in problem.visits:
        if visit.is_locked:
            continue
        reason = excluded(problem, visit, departures)
        if reason is None:
            open_visits.append(visit)
        else:
            unassigned.append(reason)
    if not open_visits:
        # Nothing to search (no nurses, or every visit ruled out): no model to build.
        return plan_from_routes(
            problem,
            {},
            unassigned=unassigned,
            stats=SolverStats(method="nothing to plan", seconds=0.0),
        )
    quick = None
    if warm_start is not None:
        # The first answer of a live re-plan, and the fallback should the search run out of
        # time: the current plan with the new calls put in, no search needed.
        quick = quick_replan(problem, warm_start, open_visits, unassigned)
        if quick is not None:
            quick = quick.model_copy(
                update={
                    "stats": SolverStats(
                        method="current plan with new calls inserted (no search yet)",
                        seconds=round(time.perf_counter() - began, 3),
                    )
                }
            )
            if first_only:
                return quick
    model = NightModel(problem, open_visits, departures)
    routing = model.routing
    solution = None
    method = "or-tools: parallel cheapest insertion + guided local search"
    strategies = [
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION,
        routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION,
        routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC,
    ]
    routing.CloseModelWithParameters(_parameters(time_limit, strategies[0]))
    if warm_start is not None:
        initial = routing.ReadAssignmentFromRoutes(initial_routes(model, warm_start), True)
        if initial is None:
            # The quick insertion of new calls did not fit the model's view: start without.
            initial = routing.ReadAssignmentFromRoutes(
                initial_routes(model, warm_start, insert_new=False), True
            )
        if progress is not None and initial is None:
            progress("the current plan no longer fits; planning afresh")
        if initial is not None:
            remaining = max(0.05, time_limit - (time.perf_counter() - began))
            solution = routing.SolveFromAssignmentWithParameters(
                initial, _parameters(remaining, strategies[0], first_only=first_only, warm=True)
            )
            method = "or-tools: warm start from the current plan + guided local search"
    for strategy in strategies:
        if solution is not None:
            break
        remaining = max(0.05, time_limit - (time.perf_counter() - began))
        if progress is not None:
            progress(f"searching ({remaining:.1f} s left)")
        solution = routing.SolveWithParameters(
            _parameters(remaining, strategy, first_only=first_only)
        )
    if solution is None:
        # Out of time before the first plan (a very large night on a short budget): say so
        # per visit rather than fail; the caller can ask again with more time.
        if quick is not None:
            return quick
        if warm_start is not None:
            kept = evaluate(
                problem,
                warm_sequences(problem, warm_start, {v.id for v in open_visits}),
                break_starts={
                    r.nurse_id: s.start
                    for r in warm_start.routes
                    for s in r.steps
                    if s.type == StepType.BREAK and not problem.nurse(r.nurse_id).break_taken
                },
            )
            if not kept.violations:
                return kept.model_copy(
                    update={
                        "stats": SolverStats(
                            method="current plan kept: no better plan within the time limit",
                            seconds=round(time.perf_counter() - began, 3),
                        )
                    }
                )
        message = f"no plan found within the time limit of {time_limit:g} s"
        unassigned.extend(
            Unassigned(
                visit_id=v.id, urgency=v.urgency, reason=ReasonCode.NO_PLAN_IN_TIME, message=message
            )
            for v in open_visits
        )
        # A nurse already on her way keeps that visit (she is driving there).
        en_route = {
            nurse.id: [
                v.id
                for v in open_visits
                if v.state == VisitState.EN_ROUTE and v.assigned_nurses == (nurse.id,)
            ]
            for nurse in problem.nurses
        }
        unassigned = [u for u in unassigned if not any(u.visit_id in s for s in en_route.values())]
        return plan_from_routes(
            problem,
            en_route,
            unassigned=unassigned,
            stats=SolverStats(
                method=method,
                seconds=round(time.perf_counter() - began, 3),
                status="no solution within the time limit",
            ),
        )

    sequences, starts, break_starts = extract(model, solution)
    return plan_from_routes(
        problem,
        sequences,
        not_before=starts,
        break_starts=break_starts,
        unassigned=unassigned,
        stats=SolverStats(
            method=method,
            seconds=round(time.perf_counter() - began, 3),
            objective=int(solution.ObjectiveValue()),
            status=str(routing.status()),
        ),
    )
