"""`solve(problem)`: tonight's routes from OR-Tools' vehicle-routing solver.

The routing model is in `optimizer.routing_model`, the search recipes and the portfolio runner
in `optimizer.search`, one search of the model (construction, search, iterated local search)
in `optimizer.night_search`, a large night's search region by region in
`optimizer.region_search`, reading a solution back into a plan in `optimizer.assemble`, the
live re-plan's warm start and quick answer in `optimizer.replan`. Imports point one way:
this module uses those, none of them uses it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from optimizer import search, timeline
from optimizer.assemble import plan_from_routes, unpartnered
from optimizer.eligibility import eligible_nurses, excluded
from optimizer.evaluate import evaluate
from optimizer.fill import with_what_fits
from optimizer.model import Problem, Visit, VisitState
from optimizer.night_search import Found, fallback_config, found_from, search_once
from optimizer.plan import OUT_OF_TIME, Plan, PromiseRelaxed, ReasonCode, SolverStats, Unassigned
from optimizer.region_search import first_plan_by_regions, first_plan_in_pieces
from optimizer.regions import FIRST_PLAN_SPLIT_FROM, SPLIT_FROM
from optimizer.replan import (
    break_starts_of,
    hold_promises,
    initial_routes,
    promises_of,
    quick_replan,
    warm_sequences,
)
from optimizer.routing_model import NightModel
from optimizer.search import SearchConfig

__all__ = [
    "LIVE_STALL_SECONDS",
    "PORTFOLIO_MIN_SECONDS",
    "eligible_nurses",
    "plan_from_routes",
    "solve",
]

Progress = Callable[[str], None]

#: Below this time limit one search runs in this process instead of the forked portfolio.
#: Measured with bench/portfolio_overhead.py (2 cores, load average 11): forking two workers
#: that hold a 50 x 1000 night and collecting their answers takes 0.16 s median, 0.33 s at
#: worst, against nothing in process. From 2 s that is under a tenth of the budget, and the
#: second core doubles the search; below it the overhead eats what the second run would add,
#: and iterated local search needs seconds before it beats guided local search anyway. The
#: live re-plan (warm start, budgets of about 0.8 s) therefore never forks.
PORTFOLIO_MIN_SECONDS = 2.0
#: The live re-plan's stop rule (``solve(stall_seconds=...)``), the service's default
#: (`api.core.config.Settings.live_replan_stall_seconds`): guided local search from a warm
#: start finds its better plans 40-180 ms apart on a 10 x 200 night; 0.2 s without one
#: ends the search. Measured with `nachtroute bench nights` (docs/benchmarks.md).
LIVE_STALL_SECONDS = 0.2
#: Wall-clock seconds kept back for forking and collecting (see above).
_PORTFOLIO_MARGIN = 0.25
#: Iterated local search runs only on nights with at least this many open visits per nurse:
#: below it OR-Tools 9.15's ruin step can loop forever (seen with fewer visits than nurses),
#: and such small nights gain nothing over guided local search anyway.
_ILS_MIN_VISITS_PER_NURSE = 2


def _warm_parameters(
    time_limit: float, strategy: int, *, first_only: bool = False, link_moves: bool = False
) -> pywrapcp.DefaultRoutingSearchParameters:
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    if link_moves:
        # Ruin and recreate of a visit and its closest ones: a linked partner at the same
        # door is the closest, so both halves of a pair move together, reinserted with the
        # links timed across routes (`NightModel.links_timed`). One-visit moves cannot move
        # a pair whose halves are tied in time. The same 8 s guided local search from one
        # plan: HHCRSP E2 936.6 -> 900.2, F2 1532.4 -> 1498.5.
        parameters.local_search_operators.use_local_cheapest_insertion_close_nodes_lns = (
            optional_boolean_pb2.BOOL_TRUE
        )
    parameters.first_solution_strategy = strategy
    metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    if first_only:
        # From a warm start the quickest good answer is plain descent to a local optimum;
        # a solution limit would not stop guided local search there.
        metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    parameters.local_search_metaheuristic = metaheuristic
    parameters.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
    return parameters


_Shared = tuple[Problem, Sequence[Visit], dict[str, timeline.Departure]]
#: The problem a forked portfolio worker searches, keyed by a token: fork hands it over
#: without pickling a 1000 x 1000 matrix (about 0.1 s to unpickle per worker).
_SHARED: dict[int, _Shared] = {}


def _portfolio_worker(
    token: int,
    payload: _Shared | None,
    config: SearchConfig,
    deadline: float,
    solution_limit: int | None,
) -> Found:
    problem, open_visits, departures = payload if payload is not None else _SHARED[token]
    return search_once(problem, open_visits, departures, config, deadline, False, solution_limit)


def _found_key(found: Found) -> tuple[bool, int]:
    return (found.objective is None, found.objective or 0)


def _search_portfolio(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    *,
    time_limit: float,
    first_only: bool,
    seed: int,
    configs: Sequence[SearchConfig] | None,
    processes: int | None,
    solution_limit: int | None,
) -> Found:
    """The cold search (`_search_cold`); on a large night the first plan built region by
    region (`first_plan_by_regions`), then each region searched again in turn with the time
    left, taking in the visits its neighbours left out (`RegionPlans.improve`).

    Measured 2026-11-29 (load 12-15): on the generated 50 x 1000 night the regions' first
    plan took 2.6 s, while a 10 s search that constructs the whole night first answered with
    every visit left out; a search of the whole night from the regions' routes did not
    restore them in time either, so the regions are searched one by one. Runs stopped by
    ``solution_limit`` (repeatable ones) skip the split.
    """
    began = time.monotonic()
    by_regions = None
    first_config = SearchConfig(label="gls-pci", seed=seed)
    if first_only or solution_limit is None:
        # A first plan alone is split from fewer visits (`regions.FIRST_PLAN_SPLIT_FROM`):
        # the quick answer at 10 x 200 in about 0.4 of the time, a search does not follow.
        quick = first_only and configs is None
        by_regions = first_plan_by_regions(
            problem,
            open_visits,
            departures,
            first_config,
            began + time_limit,
            split_from=FIRST_PLAN_SPLIT_FROM if quick else SPLIT_FROM,
        )
    if by_regions is not None:
        method = f"or-tools: {first_config.first_solution} in {len(by_regions)} regions"
        if not first_only and time_limit - (time.monotonic() - began) >= 0.2:
            # Guided local search in this process: iterated local search must run in a
            # forked process (see `search.run_portfolio`), and each region is small.
            config = configs[0] if configs else first_config
            if config.ils:
                config = fallback_config(config)
            cores = processes if processes is not None else (os.cpu_count() or 1)
            may_fork = (
                cores > 1
                and sys.platform.startswith("linux")
                and not multiprocessing.current_process().daemon
            )
            by_regions.improve(
                config.with_seed(config.seed + seed),
                began + time_limit - (_PORTFOLIO_MARGIN if may_fork else 0.0),
                processes=cores if may_fork else 1,
            )
            method += (
                ", then each region searched again"
                " (with its neighbours' left-out visits where it has room)"
            )
        if by_regions.in_pieces:
            method += (
                f" ({by_regions.in_pieces} of them built in small pieces: out of time"
                " for the whole region)"
            )
        if by_regions.moved:
            method += f" ({by_regions.moved} visits planned by a neighbouring region)"
        return by_regions.result(method)
    found = _search_cold(
        problem,
        open_visits,
        departures,
        time_limit=max(0.05, time_limit - (time.monotonic() - began)),
        first_only=first_only,
        seed=seed,
        configs=configs,
        processes=processes,
        solution_limit=solution_limit,
    )
    if found.sequences is None or found.cut_short:
        # The clock stopped the construction, which then places nothing at all: the night
        # built in small pieces to the end instead, where it can be cut into them (anytime:
        # never worse than that cheaper construction; `RegionPlans.build_in_pieces`).
        floor = first_plan_in_pieces(problem, open_visits, departures, first_config)
        if floor is not None and (
            found.sequences is None or (floor.objective or 0) < (found.objective or 0)
        ):
            return floor
    return found


def _search_cold(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    *,
    time_limit: float,
    first_only: bool,
    seed: int,
    configs: Sequence[SearchConfig] | None,
    processes: int | None,
    solution_limit: int | None,
) -> Found:
    """The tuned portfolio, one forked process per core, when it can pay; otherwise guided
    local search in this process (see `PORTFOLIO_MIN_SECONDS`)."""
    began = time.monotonic()
    chosen = list(configs) if configs else list(search.default_portfolio())
    if not configs and _has_lateness_costs(problem, open_visits):
        # The ILS recipe was tuned on distance (Solomon); on nights whose objective is
        # urgency lateness it stayed at its construction (3 x 45, 5 s: 14352 + 42347 s late
        # against none for guided local search from the construction; 10 x 200: objective
        # 7342204020 against 7289851428). There both cores run guided local search.
        chosen = [fallback_config(c) for c in chosen]
    chosen = [c.with_seed(c.seed + seed) for c in chosen]
    cores = processes if processes is not None else (os.cpu_count() or 1)
    chosen = chosen[: max(1, cores)]  # a second run on a shared core only halves both
    # A daemonic process (a multiprocessing.Pool worker) may not fork; processes=1 asks not to.
    may_fork = processes != 1 and not multiprocessing.current_process().daemon
    ils_fits = (
        time_limit >= PORTFOLIO_MIN_SECONDS
        and may_fork
        and len(open_visits) >= _ILS_MIN_VISITS_PER_NURSE * len(problem.nurses)
    )
    if any(c.ils for c in chosen) and (first_only or not ils_fits):
        chosen = [fallback_config(chosen[0])]
    if first_only or not may_fork or (not any(c.ils for c in chosen) and len(chosen) == 1):
        return search_once(
            problem,
            open_visits,
            departures,
            chosen[0],
            began + time_limit,
            first_only,
            solution_limit,
        )
    deadline = began + time_limit - _PORTFOLIO_MARGIN
    token = id(problem)
    forked = sys.platform.startswith("linux")  # run_portfolio forks there, spawns elsewhere
    payload = None if forked else (problem, open_visits, departures)
    _SHARED[token] = (problem, open_visits, departures)
    grace = max(0.5, 0.1 * time_limit)
    try:
        jobs = [(token, payload, c, deadline, solution_limit) for c in chosen]
        best = search.run_portfolio(
            _portfolio_worker,
            jobs,
            key=_found_key,
            processes=cores,
            timeout=deadline - time.monotonic() + grace,
        )
    finally:
        del _SHARED[token]
    if best is None:
        # Every worker overran its limit and was killed (see `search.run_portfolio`): a
        # short guided local search here, which always stops at its limit.
        rescue = search_once(
            problem,
            open_visits,
            departures,
            fallback_config(chosen[0]),
            time.monotonic() + grace,
            False,
            solution_limit,
        )
        return replace(rescue, method=f"{rescue.method} (after the portfolio overran)")
    if len(chosen) == 1:
        return best
    return replace(best, method=f"{best.method} (best of {len(chosen)} in parallel)")


def _has_lateness_costs(problem: Problem, visits: Sequence[Visit]) -> bool:
    """True when some open visit has an urgency target that costs when missed."""
    classes = problem.urgency_classes
    return any(
        classes[v.urgency].target_seconds is not None
        and classes[v.urgency].lateness_cost_per_minute > 0
        for v in visits
    )


def solve(
    problem: Problem,
    *,
    time_limit: float = 5.0,
    warm_start: Plan | None = None,
    first_only: bool = False,
    progress: Progress | None = None,
    seed: int = 0,
    configs: Sequence[SearchConfig] | None = None,
    processes: int | None = None,
    solution_limit: int | None = None,
    stall_seconds: float | None = None,
) -> Plan:
    """Plan tonight's routes within ``time_limit`` seconds (anytime: the best found by then).

    ``warm_start`` (the current plan) makes a live re-plan start from what the nurses were
    told. ``first_only`` returns the first feasible plan without improving it (the quickest
    answer). Started and finished visits never move; visits that cannot be planned come back
    in ``Plan.unassigned`` with a reason.

    Without a warm start the tuned search runs (``search.default_portfolio``: iterated local
    search from two node orders, one process per core when ``time_limit`` is at least
    ``PORTFOLIO_MIN_SECONDS``; on nights with urgency lateness costs guided local search from
    two node orders instead); ``configs`` replaces it, e.g. ``[search.baseline_config()]``.
    ``seed`` changes the node order each search starts from: the same seed and problem repeat
    a run exactly when ``solution_limit`` (improving solutions) stops it rather than the clock;
    a time limit stops after however many moves the machine managed, so answers may differ.
    ``processes`` caps the worker processes (1: never fork).

    ``stall_seconds`` is the stop rule of a live re-plan: its search from the warm start
    ends once the best plan has not improved for that many seconds (wall clock), with
    ``time_limit`` still the cap; ``None`` searches to the limit. Measured on 10 x 200
    re-plans (docs/benchmarks.md, `nachtroute bench nights`): guided local search from a
    warm start improves in steps of 40-180 ms and then levels off.

    A large night (at least ``regions.SPLIT_FROM`` open visits, with coordinates; for
    ``first_only`` with the default search, ``regions.FIRST_PLAN_SPLIT_FROM``)
    gets its first plan region by region (`optimizer.regions`): that is the ``first_only``
    answer, and a longer search answers with it unless it finds a better plan in time.
    Anytime also when the limit is shorter than the construction: OR-Tools' construction,
    stopped by the clock, places nothing, so a region (or a whole night) whose construction
    the limit stopped is built in pieces of about ``regions.PIECE_VISITS`` visits run to
    their end (`RegionPlans.build_in_pieces`; bounded work, about 0.3 CPU-s for 1000
    visits, by which a very short limit may be overrun). Visits a construction still never
    tried (a night that cannot be cut into pieces) come back as ``no_plan_in_time``.
    Whatever answered (the search, the current plan kept, the quick insertion), a re-plan's
    left-out visit that still fits somewhere is put in before the plan is returned
    (`optimizer.fill`), and so is one a cut-short first plan never tried: ``no_capacity``
    then means no route has a place for it.
    """
    relaxed: list[PromiseRelaxed] = []
    if warm_start is not None:
        # A live re-plan keeps what each partner was told (its answer, or its target if
        # later) as a hard limit wherever the night's facts still allow it.
        problem, relaxed = hold_promises(problem, warm_start)
    plan = _solve(
        problem,
        time_limit=time_limit,
        warm_start=warm_start,
        first_only=first_only,
        progress=progress,
        seed=seed,
        configs=configs,
        processes=processes,
        solution_limit=solution_limit,
        stall_seconds=stall_seconds,
    )
    if warm_start is None and not _out_of_time(plan):
        # A search from scratch that finished its first plan tried every left-out visit
        # (insertion, then local search); putting in what fits costs 0.1-0.4 s there. Not
        # so a pinned one: OR-Tools rarely inserts a node whose position cumul is fixed, and
        # a cold search left out pinned visits that fit at their place (a 3 x 30 night with
        # ten pins: tests/data/pinned_left_out.json), so those are tried.
        return with_what_fits(problem, plan, pinned_only=True)
    plan = with_what_fits(problem, plan)
    return plan.model_copy(update={"promises_relaxed": relaxed}) if relaxed else plan


def _out_of_time(plan: Plan) -> bool:
    """Whether ``plan`` was cut short: the current routes kept, or visits never tried."""
    kept = plan.stats is not None and plan.stats.status == OUT_OF_TIME
    return kept or any(u.reason == ReasonCode.NO_PLAN_IN_TIME for u in plan.unassigned)


def _solve(
    problem: Problem,
    *,
    time_limit: float,
    warm_start: Plan | None,
    first_only: bool,
    progress: Progress | None,
    seed: int,
    configs: Sequence[SearchConfig] | None,
    processes: int | None,
    solution_limit: int | None,
    stall_seconds: float | None,
) -> Plan:
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
    if problem.dependencies:
        open_visits = _without_lost_partners(problem, open_visits, unassigned)
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
    solution = None
    found: Found | None = None
    method = ""
    if warm_start is not None:
        promises = promises_of(problem, warm_start)
        if quick is not None:
            # A new call's first answer is what its partner is told (`replan.promised`): the
            # search may get a nurse there sooner, not later. Without it the search moved a
            # call the first answer sent her to first back behind planned care inside its
            # aim, to save a few minutes of driving (issue 11).
            promises = {**promises_of(problem, quick), **promises}
        model = NightModel(problem, open_visits, departures, promises=promises)
        routing = model.routing
        strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        link_moves = model.links_timed and not first_only
        routing.CloseModelWithParameters(
            _warm_parameters(time_limit, strategy, link_moves=link_moves)
        )
        if first_only and stall_seconds is None:
            # The quickest answer ends when the descent stops improving: its LNS operators
            # keep drawing moves, so it otherwise ran to the limit (5 s of a 5 s budget on a
            # 4 x 48 night whose new call needs two nurses, which no quick answer places).
            stall_seconds = LIVE_STALL_SECONDS
        stalled = [False] if stall_seconds is None else _stop_when_stalled(routing, stall_seconds)
        # RoutesToAssignment only sets the routes; the search below restores and checks them.
        # ReadAssignmentFromRoutes would check them too, by a search of its own that took
        # 0.5-0.9 s on a 50 x 1000 night before the search proper had begun.
        for insert_new in (True, False):
            # Without the quick insertion of new calls when it did not fit the model's view.
            initial = routing.solver().Assignment()
            if not routing.RoutesToAssignment(
                initial_routes(model, warm_start, insert_new=insert_new), True, True, initial
            ):
                continue
            remaining = max(0.05, time_limit - (time.perf_counter() - began))
            solution = routing.SolveFromAssignmentWithParameters(
                initial,
                _warm_parameters(remaining, strategy, first_only=first_only, link_moves=link_moves),
            )
            if solution is not None:
                method = "or-tools: warm start from the current plan + " + (
                    "descent" if first_only else "guided local search"
                )
                if stalled[0]:
                    method += f" (stopped: no better plan for {stall_seconds:g} s)"
                found = found_from(model, solution, method)
                break
        if progress is not None and found is None:
            progress("the current plan no longer fits; planning afresh")
    if found is None and warm_start is not None and quick is None:
        # The current plan with the new calls left out, if it still keeps every rule: what
        # a cold search on what is left of the budget must beat (on a large night it is cut
        # short: hundreds of visits left out, en-route visits missing, seen at 50 x 1000
        # with 0.9 s). One that breaks a rule (a shift shortened) is no answer to prefer.
        kept = _current_plan_kept(
            problem, warm_start, open_visits, began=began, time_limit=time_limit
        )
        quick = None if kept.violations else kept
    if found is None and quick is not None and time.perf_counter() - began >= time_limit:
        # No time left for a cold search (a construction would overrun the limit by
        # seconds on a large night): the quick answer stands.
        return quick
    if found is None:
        remaining = max(0.05, time_limit - (time.perf_counter() - began))
        if progress is not None:
            progress(f"searching ({remaining:.1f} s left)")
        found = _search_portfolio(
            problem,
            open_visits,
            departures,
            time_limit=remaining,
            first_only=first_only,
            seed=seed,
            configs=configs,
            processes=processes,
            solution_limit=solution_limit,
        )
        method = found.method
    if found.sequences is None:
        # Out of time before the first plan (a very large night on a short budget): say so
        # per visit rather than fail; the caller can ask again with more time.
        if quick is not None:
            return quick
        if warm_start is not None:
            return _current_plan_kept(
                problem, warm_start, open_visits, began=began, time_limit=time_limit
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

    if found.cut_short:
        # Out of time while building the first plan: what it did not place was never tried
        # (a loaded machine, a short budget), so "no room" would not be the real reason.
        placed = {key for sequence in found.sequences.values() for key in sequence}
        if warm_start is not None:
            kept = _current_plan_kept(
                problem, warm_start, open_visits, began=began, time_limit=time_limit
            )
            if len(kept.assignments()) > len(placed):
                # Fewer visits placed than the nurses' current routes hold: those routes
                # stay (a live night never trades them for a plan it did not finish).
                return kept
        message = f"no plan for it within the time limit of {time_limit:g} s: ask again"
        unassigned.extend(
            Unassigned(
                visit_id=v.id, urgency=v.urgency, reason=ReasonCode.NO_PLAN_IN_TIME, message=message
            )
            for v in open_visits
            if v.id not in placed
        )
    plan = plan_from_routes(
        problem,
        found.sequences,
        not_before=found.starts,
        break_starts=found.break_starts,
        unassigned=unassigned,
        stats=SolverStats(
            method=found.method,
            seconds=round(time.perf_counter() - began, 3),
            objective=found.objective,
            status=found.status,
        ),
    )
    if quick is not None and _left_out_cost(problem, plan) > _left_out_cost(problem, quick):
        # A short search can leave out a call the quick answer placed (an acute alarm, on a
        # loaded machine): the re-plan never answers worse than its own first answer.
        return quick
    return plan


def _stop_when_stalled(routing: Any, seconds: float) -> list[bool]:
    """Make ``routing``'s next search end once its best objective has not improved for
    ``seconds`` of wall clock since the last improvement (from its first solution on: a
    search still restoring its warm start is never stopped); its time limit stays the cap.

    OR-Tools calls a routing search back only when it finds a better solution, so the stall
    is checked by a custom search limit, which the search polls between moves (about a
    thousand times in 0.2 s of a 10 x 200 re-plan: no measurable cost). Returns a flag
    that turns ``[True]`` when the rule ended the search."""
    solver = routing.solver()
    cost = routing.CostVar()
    best: list[int] = []
    improved = [0.0]

    def at_solution() -> None:
        value = cost.Value()
        if not best or value < best[0]:
            best[:] = [value]
            improved[0] = time.monotonic()

    ended = [False]

    def stalled() -> bool:
        if best and time.monotonic() - improved[0] >= seconds:
            ended[0] = True
        return ended[0]

    routing.AddAtSolutionCallback(at_solution)
    routing.AddSearchMonitor(solver.CustomLimit(stalled))
    return ended


def _without_lost_partners(
    problem: Problem, open_visits: list[Visit], unassigned: list[Unassigned]
) -> list[Visit]:
    """``open_visits`` less those linked to a visit that cannot be planned at all (which join
    ``unassigned``, with a reason naming the link): a dependency is planned whole or not."""
    kept = {v.id for v in open_visits}
    for visit_id in sorted(_link_windows_empty(problem, open_visits)):
        visit = problem.visit(visit_id)
        link = problem.dependencies_of(visit_id)[0]
        unassigned.append(
            Unassigned(
                visit_id=visit_id,
                urgency=visit.urgency,
                reason=ReasonCode.LINK_INFEASIBLE,
                message=f"no start inside its window keeps the link ({link.label()})",
            )
        )
        kept.discard(visit_id)
    lost = unpartnered(problem, kept)
    for visit_id in sorted(lost):
        visit = problem.visit(visit_id)
        link = next(
            d
            for d in problem.dependencies_of(visit_id)
            if (d.second if d.first == visit_id else d.first) not in kept - lost
            and not problem.visit(d.second if d.first == visit_id else d.first).is_locked
        )
        other = link.second if link.first == visit_id else link.first
        unassigned.append(
            Unassigned(
                visit_id=visit_id,
                urgency=visit.urgency,
                reason=ReasonCode.LINK_INFEASIBLE,
                message=f"linked to {other} ({link.label()}), which cannot be planned tonight",
            )
        )
    return [v for v in open_visits if v.id in kept and v.id not in lost]


def _link_windows_empty(problem: Problem, open_visits: Sequence[Visit]) -> set[str]:
    """The open visits for which no start inside their windows satisfies their links.

    The model's gap constraints hold on the time cumuls even of visits left out (OR-Tools
    has no conditional constraint that keeps propagation strong), so windows the links
    cannot reconcile would make the whole model infeasible: those visits are found here, by
    narrowing each window by its partners' (a difference-constraint fixpoint), and left out.
    """
    horizon = problem.night.horizon
    bounds: dict[str, list[int]] = {}
    for visit in open_visits:
        if problem.dependencies_of(visit.id):
            stop = timeline.stop_for(problem, visit)
            bounds[visit.id] = [stop.earliest, horizon if stop.latest is None else stop.latest]
    links = [d for d in problem.dependencies if d.first in bounds and d.second in bounds]
    for _ in range(2 * len(links) + 2):
        changed = False
        for link in links:
            a, b = bounds[link.first], bounds[link.second]
            narrowed = (
                max(a[0], b[0] - link.max_seconds),
                min(a[1], b[1] - link.min_seconds),
                max(b[0], a[0] + link.min_seconds),
                min(b[1], a[1] + link.max_seconds),
            )
            if narrowed != (a[0], a[1], b[0], b[1]):
                a[0], a[1], b[0], b[1] = narrowed
                changed = True
        if not changed:
            return {visit_id for visit_id, (low, high) in bounds.items() if low > high}
    # Still narrowing: a cycle of links that contradict each other; none of them can hold.
    return {visit_id for link in links for visit_id in (link.first, link.second)}


def _current_plan_kept(
    problem: Problem,
    warm_start: Plan,
    open_visits: Sequence[Visit],
    *,
    began: float,
    time_limit: float,
) -> Plan:
    """What is still to come of ``warm_start`` laid out on ``problem`` as it is, the rules
    it now breaks (a nurse delayed) listed in it, the visits it lacks unassigned: the answer
    of a live re-plan that ran out of time, so the nurses keep their routes.

    A route that now runs past its nurse's shift (the planner ended it: she was sent home)
    loses its open visits from the first that would end after the shift: they are left out
    (``solve`` then puts in what fits elsewhere), not kept on the route of a nurse who has
    gone home."""
    sequences = warm_sequences(problem, warm_start, {v.id for v in open_visits})
    hints = break_starts_of(problem, warm_start)
    kept = evaluate(problem, sequences, break_starts=hints)
    if any(v.code == "shift_overrun" for v in kept.violations) and _cut_back_to_shift(
        problem, kept, sequences
    ):
        kept = evaluate(problem, sequences, break_starts=hints)
    # A visit the current plan did not have was never tried: "ask again", not "no room".
    known = set(warm_start.assignments()) | {u.visit_id for u in warm_start.unassigned}
    message = f"no plan for it within the time limit of {time_limit:g} s: ask again"
    unassigned = [
        u
        if u.visit_id in known
        else Unassigned(
            visit_id=u.visit_id,
            urgency=u.urgency,
            reason=ReasonCode.NO_PLAN_IN_TIME,
            message=message,
        )
        for u in kept.unassigned
    ]
    return kept.model_copy(
        update={
            "unassigned": unassigned,
            "stats": SolverStats(
                method="current plan kept: no better plan within the time limit",
                seconds=round(time.perf_counter() - began, 3),
                status=OUT_OF_TIME,
            ),
        }
    )


def _cut_back_to_shift(problem: Problem, kept: Plan, sequences: dict[str, list[str]]) -> bool:
    """Cut each nurse's sequence before her first open visit that, as ``kept`` lays it out,
    ends after her shift does (the planner ended it early: she was sent home); a visit she
    is driving to or has begun stays. Returns whether any sequence was cut."""
    cut = False
    for nurse in problem.nurses:
        try:
            steps = kept.route(nurse.id).steps
        except KeyError:
            continue
        past = {
            s.visit_id
            for s in steps
            if s.visit_id is not None
            and s.end > nurse.shift.end
            and problem.visit(s.visit_id).state == VisitState.PLANNED
        }
        sequence = sequences.get(nurse.id, [])
        first = next((k for k, stop in enumerate(sequence) if stop in past), None)
        if first is not None:
            del sequence[first:]
            cut = True
    return cut


def _left_out_cost(problem: Problem, plan: Plan) -> int:
    """The omission penalties of the visits ``plan`` leaves out, and its rule violations
    (each as costly as the largest penalty: a plan that breaks a rule is never preferred)."""
    classes = problem.urgency_classes
    largest = max((c.omission_penalty for c in classes.values()), default=0) + 1
    return sum(classes[u.urgency].omission_penalty for u in plan.unassigned) + largest * len(
        plan.violations
    )
