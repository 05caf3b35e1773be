"""`solve(problem)`: tonight's routes from OR-Tools' vehicle-routing solver.

The routing model is in `optimizer.routing_model`, the search recipes and the portfolio runner
in `optimizer.search`, reading a solution back into a plan in `optimizer.assemble`, the live
re-plan's warm start and quick answer in `optimizer.replan`.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from optimizer import search, timeline
from optimizer.assemble import extract, plan_from_routes, unpartnered
from optimizer.checker import check
from optimizer.eligibility import eligible_nurses, excluded
from optimizer.evaluate import evaluate
from optimizer.fill import insert_what_fits
from optimizer.model import Problem, Visit, VisitState
from optimizer.plan import Plan, ReasonCode, SolverStats, StepType, Unassigned
from optimizer.regions import Region, regions
from optimizer.replan import initial_routes, quick_replan, warm_sequences
from optimizer.routing_model import FIXED_SLOT_THRESHOLD, NightModel
from optimizer.search import SearchConfig

__all__ = ["PORTFOLIO_MIN_SECONDS", "eligible_nurses", "plan_from_routes", "solve"]

Progress = Callable[[str], None]

#: Below this time limit one search runs in this process instead of the forked portfolio.
#: Measured with bench/portfolio_overhead.py (2 cores, load average 11): forking two workers
#: that hold a 50 x 1000 night and collecting their answers takes 0.16 s median, 0.33 s at
#: worst, against nothing in process. From 2 s that is under a tenth of the budget, and the
#: second core doubles the search; below it the overhead eats what the second run would add,
#: and iterated local search needs seconds before it beats guided local search anyway. The
#: live re-plan (warm start, budgets of about 0.8 s) therefore never forks.
PORTFOLIO_MIN_SECONDS = 2.0
#: Wall-clock seconds kept back for forking and collecting (see above).
_PORTFOLIO_MARGIN = 0.25
#: Iterated local search runs only on nights with at least this many open visits per nurse:
#: below it OR-Tools 9.15's ruin step can loop forever (seen with fewer visits than nurses),
#: and such small nights gain nothing over guided local search anyway.
_ILS_MIN_VISITS_PER_NURSE = 2
#: Above this share of the budget spent on construction, ILS (which constructs again) is
#: replaced by guided local search from the construction (see `_iterated`).
_CONSTRUCTION_SHARE = 0.2
#: Construction heuristics tried in turn when one finds no first solution in its time.
_FALLBACKS = ("PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_INSERTION", "PATH_CHEAPEST_ARC")


@dataclass(frozen=True, slots=True)
class _Found:
    """One search's answer as plain data (it crosses process boundaries)."""

    method: str
    objective: int | None = None
    status: str = ""
    sequences: dict[str, list[str]] | None = None
    starts: dict[tuple[str, int], int] | None = None
    break_starts: dict[str, int] | None = None
    #: The construction stopped at its time limit: a visit it did not place may have fitted.
    cut_short: bool = False


def _found(model: NightModel, solution: Any, method: str, *, cut_short: bool = False) -> _Found:
    sequences, starts, break_starts = extract(model, solution)
    return _Found(
        method=method,
        objective=int(solution.ObjectiveValue()),
        status=str(model.routing.status()),
        sequences=sequences,
        starts=starts,
        break_starts=break_starts,
        cut_short=cut_short,
    )


def _warm_parameters(
    time_limit: float, strategy: int, *, first_only: bool = False
) -> pywrapcp.DefaultRoutingSearchParameters:
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = strategy
    metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    if first_only:
        # From a warm start the quickest good answer is plain descent to a local optimum;
        # a solution limit would not stop guided local search there.
        metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    parameters.local_search_metaheuristic = metaheuristic
    parameters.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
    return parameters


def _first_plan_only(parameters: Any) -> None:
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


def _search_once(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    config: SearchConfig,
    deadline: float,
    first_only: bool,
    solution_limit: int | None,
    fixed_slots: bool | None = None,
    scheduling: bool = True,
) -> _Found:
    """Build the model with visits in ``config.seed``'s order and run ``config`` until
    ``deadline`` (``time.monotonic()``); a portfolio worker, so arguments and answer are plain.

    OR-Tools' routing search has no random seed: the node order is what a seed changes.
    ``scheduling=False`` searches without the per-route scheduling LP, like the construction
    (`_first_plan_only`): every hard rule still holds, only the costs are less refined.
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
        # The first plan apart, built as quickly as it can be (`_first_plan_only`), then the
        # search from it: on a loaded machine a 1 s search on 10 x 200 otherwise spent its
        # budget in a construction checked by the LP and answered with 68 visits left out.
        construction = replace(tried, ils=False, metaheuristic="GREEDY_DESCENT")
        parameters = search.search_parameters(
            time_limit=max(0.05, deadline - time.monotonic()), config=construction
        )
        _first_plan_only(parameters)
        first = routing.SolveWithParameters(parameters)
        if first is None:
            continue
        label = f"or-tools: {tried.label}, first plan by {name}"
        remaining = deadline - time.monotonic()
        if first_only or remaining < 0.05:
            return _found(model, first, label, cut_short=remaining <= 0)
        parameters = search.search_parameters(
            time_limit=remaining, config=tried, mean_arc_cost=model.mean_arc_cost
        )
        if solution_limit is not None:
            parameters.solution_limit = solution_limit
        if not scheduling:
            parameters.disable_scheduling_beware_this_may_degrade_performance = True
        solution = _search_from_first(routing, first, parameters, deadline)
        return _found(model, solution if solution is not None else first, label)
    return _Found(method=f"or-tools: {config.label}", status="no solution within the time limit")


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
) -> _Found:
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
        _first_plan_only(parameters)
        first = routing.SolveWithParameters(parameters)
        if first is not None:
            break
    if first is None:
        return _Found(
            method=f"or-tools: {config.label}", status="no solution within the time limit"
        )
    remaining = deadline - time.monotonic()
    label = f"or-tools: {name} (the search found nothing better)"
    built = _found(model, first, label, cut_short=remaining <= 0)
    took = time.monotonic() - began
    if remaining < 0.05:
        return built
    if took > _CONSTRUCTION_SHARE * (deadline - began):
        gls = search.search_parameters(time_limit=remaining, config=_fallback_config(config))
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
    return _found(model, solution, method)


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
) -> _Found:
    problem, open_visits, departures = payload if payload is not None else _SHARED[token]
    return _search_once(problem, open_visits, departures, config, deadline, False, solution_limit)


class _RegionPlans:
    """A large night planned region by region (`optimizer.regions`), and re-planned a region
    at a time with the visits its neighbours left out.

    Every rule is per nurse or per visit, and a region holds both copies of its two-person
    visits and the nurse of each pinned or en-route visit, so the regions' routes together are
    a plan of the night and their objectives add up to its objective. Two-person visits get
    the slot the whole night would give them (`routing_model.FIXED_SLOT_THRESHOLD`).

    A visit a region leaves out is tried by both neighbouring regions (along the sweep)
    before the first plan is returned, where they have room (left out none of their own), and
    again in each later pass (`improve`): a region's own nurses being full says nothing about
    the next region's, so "no nurse has room" is only said after they were tried. A visit
    may move to a region when nothing ties it to a nurse elsewhere (a pin, en route, on her
    phone, a dependency) and that region has as many nurses who may do it as it needs.
    """

    def __init__(
        self,
        problem: Problem,
        parts: Sequence[Region],
        departures: dict[str, timeline.Departure],
        fixed_slots: bool,
    ) -> None:
        self.problem = problem
        self.departures = departures
        self.fixed_slots = fixed_slots
        self.nurses = [list(part.nurses) for part in parts]
        #: The open visits each region answers for: those it plans and those it left out.
        self.visits = [list(part.visits) for part in parts]
        self.found: list[_Found | None] = [None] * len(parts)
        #: Each region's objective counting only its own visits' omission penalties.
        self.cost = [0] * len(parts)
        self.region_of = {n.id: k for k, nurses in enumerate(self.nurses) for n in nurses}
        #: Visits a region's construction never tried (the clock stopped it first).
        self.untried: set[str] = set()
        self.moved = 0

    def __len__(self) -> int:
        return len(self.nurses)

    def left_out(self, k: int) -> list[Visit]:
        """Region ``k``'s visits its current plan does not have (all of them before it has one)."""
        found = self.found[k]
        if found is None or found.sequences is None:
            return list(self.visits[k])
        placed = {key for sequence in found.sequences.values() for key in sequence}
        return [v for v in self.visits[k] if v.id not in placed]

    def own_problem(self, k: int) -> Problem:
        """The night as region ``k`` plans it: every visit, only its own nurses."""
        return self.problem.model_copy(update={"nurses": self.nurses[k]})

    def _may_move(self, visit: Visit, k: int) -> bool:
        problem = self.problem
        if visit.pin is not None or visit.state == VisitState.EN_ROUTE:
            return False
        if problem.dependencies_of(visit.id):
            return False
        shown = visit.published_nurse
        if shown in self.region_of and self.region_of[shown] != k:
            return False
        able = sum(1 for n in eligible_nurses(problem, visit) if self.region_of[n.id] == k)
        return able >= visit.nurses_needed

    def plan(
        self,
        k: int,
        neighbours: Sequence[int],
        config: SearchConfig,
        deadline: float,
        *,
        first_only: bool,
    ) -> None:
        """Plan region ``k`` again with the visits ``neighbours`` leave out that it may do;
        keep the new plan when it costs no more (the visits it leaves out counted at their
        omission penalty), moving the neighbours' visits it placed into region ``k``."""
        extra = self.extras(k, neighbours, first_only=first_only)
        if extra is None:
            return
        self.accept(k, extra, self.search(k, extra, config, deadline, first_only=first_only))

    def extras(self, k: int, neighbours: Sequence[int], *, first_only: bool) -> list[Visit] | None:
        """The visits ``neighbours`` leave out that region ``k`` may take in; ``None`` when
        there is nothing to try (a first plan's pass into a full region)."""
        extra = [
            v
            for j in dict.fromkeys(neighbours)
            if j != k
            for v in self.left_out(j)
            if v.id not in self.untried and self._may_move(v, k)
        ]
        if self.found[k] is not None and self.left_out(k):
            # A region whose plan leaves out visits of its own has no room that another
            # construction would find for a neighbour's. (On the generated 50 x 1000 nights,
            # where every region is full, trying anyway doubled the first plan's CPU time,
            # 0.75 -> 1.35 s, and was never kept; in the later search a region given its
            # neighbours' visits started from a construction so much worse that the search
            # never caught up, load 15.) It is searched with its own visits.
            return None if first_only else []
        return extra

    def search(
        self,
        k: int,
        extra: Sequence[Visit],
        config: SearchConfig,
        deadline: float,
        *,
        first_only: bool,
        solution_limit: int | None = None,
    ) -> _Found:
        """Region ``k``'s visits and ``extra`` planned by its own nurses until ``deadline``
        (``time.monotonic()``) or ``solution_limit`` solutions (a repeatable run)."""
        own = self.own_problem(k)
        # The search without the scheduling LP: on a 333-visit region with breaks each move
        # it checks is a CP-SAT model per route, and the construction's plan (built without
        # it) often failed to restore into the search with it (ROUTING_FAIL, load 15).
        return _search_once(
            own,
            [*self.visits[k], *extra],
            self.departures,
            config,
            deadline,
            first_only,
            solution_limit,
            self.fixed_slots,
            scheduling=False,
        )

    def _violations(self, k: int, found: _Found) -> int:
        """How many rules region ``k``'s plan ``found`` breaks, by the independent checker on
        the region's own nurses (the same yardstick for every plan of one region)."""
        assert found.sequences is not None
        own = self.own_problem(k)
        plan = plan_from_routes(
            own, found.sequences, not_before=found.starts, break_starts=found.break_starts
        )
        return len(check(own, plan))

    def accept(self, k: int, extra: Sequence[Visit], found: _Found | None) -> None:
        """Keep ``found`` as region ``k``'s plan if it costs no more than the current one and
        breaks no rule the current one keeps."""
        if found is None or found.sequences is None:
            return
        current = self.found[k]
        if current is not None and self._violations(k, found) > self._violations(k, current):
            # A plan that breaks rules is never kept for a cheaper one. (Seen on a 14-nurse
            # night with links: the search traded a call a nurse was driving to for visits it
            # kept out, and the layout put the call back in front; the model now keeps such
            # calls, `NightModel._keep_penalty`. This stays as the last guard.)
            return
        classes = self.problem.urgency_classes

        def penalty(visit: Visit) -> int:
            return classes[visit.urgency].omission_penalty * visit.nurses_needed

        objective = found.objective or 0
        if self.found[k] is not None and objective > self.cost[k] + sum(map(penalty, extra)):
            return  # the neighbours' visits are counted as left out either way
        self.found[k] = found
        placed = {key for sequence in found.sequences.values() for key in sequence}
        taken = {v.id for v in extra if v.id in placed}
        self.cost[k] = objective - sum(penalty(v) for v in extra if v.id not in taken)
        if taken:
            self.moved += len(taken)
            for j in range(len(self)):
                if j != k:
                    self.cost[j] -= sum(penalty(v) for v in self.visits[j] if v.id in taken)
                    self.visits[j] = [v for v in self.visits[j] if v.id not in taken]
            self.visits[k].extend(v for v in extra if v.id in taken)
        if found.cut_short:
            self.untried |= {v.id for v in self.visits[k] if v.id not in placed}
        else:
            self.untried -= {v.id for v in self.visits[k]}

    def first_plan(self, config: SearchConfig, deadline: float) -> bool:
        """Build every region's first plan, then let each region with room try the visits
        its neighbours left out; ``False`` when a region found no plan at all (the caller
        then plans the night whole)."""
        count = len(self)
        for k in range(count):
            if deadline <= time.monotonic():
                # Never tried: the caller says so per visit (`no_plan_in_time`).
                self.untried |= {v.id for v in self.visits[k]}
                continue
            self.plan(k, [], config, deadline, first_only=True)
            if self.found[k] is None:
                return False
        for k in range(count):
            if deadline <= time.monotonic():
                break
            self.plan(k, [(k - 1) % count, (k + 1) % count], config, deadline, first_only=True)
        return True

    def improve(self, config: SearchConfig, deadline: float, *, processes: int = 1) -> None:
        """Search each region again with the time left, taking in the visits both of its
        neighbours leave out where it has room.

        When no region takes in a neighbour's visits (every region full, as on the generated
        nights) the regions are independent, and with ``processes`` > 1 they are searched
        side by side in forked processes, each for the time left divided by the rounds they
        need; otherwise one after the other, each with an equal share.
        """
        count = len(self)
        around = [[(k - 1) % count, (k + 1) % count] for k in range(count)]
        extras = [self.extras(k, around[k], first_only=False) for k in range(count)]
        if processes > 1 and count > 1 and not any(extras):
            rounds = -(-count // processes)
            share = (deadline - time.monotonic()) / rounds
            if share < 0.1:
                return
            token = id(self)
            _REGIONS[token] = self
            try:
                found = _run_each(
                    _region_worker,
                    [(token, k, config, share) for k in range(count)],
                    processes=processes,
                    timeout=deadline - time.monotonic() + max(0.5, 0.1 * share),
                )
            finally:
                del _REGIONS[token]
            for k, answer in enumerate(found):
                self.accept(k, [], answer)
            return
        for k in range(count):
            now = time.monotonic()
            share = (deadline - now) / (count - k)
            if share < 0.1:
                break
            self.plan(k, around[k], config, now + share, first_only=False)

    def result(self, method: str) -> _Found:
        """The regions' plans as one plan of the night."""
        classes = self.problem.urgency_classes
        sequences: dict[str, list[str]] = {}
        starts: dict[tuple[str, int], int] = {}
        break_starts: dict[str, int] = {}
        objective = 0
        status = ""
        for k, found in enumerate(self.found):
            if found is None or found.sequences is None:
                objective += sum(
                    classes[v.urgency].omission_penalty * v.nurses_needed for v in self.visits[k]
                )
                continue
            sequences.update(found.sequences)
            starts.update(found.starts or {})
            break_starts.update(found.break_starts or {})
            objective += self.cost[k]
            status = status or found.status
        return _Found(
            method=method,
            objective=objective,
            status=status,
            sequences=sequences,
            starts=starts,
            break_starts=break_starts,
            cut_short=bool(self.untried),
        )


#: The region plans a forked worker searches, keyed by a token (fork hands them over).
_REGIONS: dict[int, _RegionPlans] = {}


def _region_worker(token: int, k: int, config: SearchConfig, seconds: float) -> _Found:
    """Search region ``k`` of the registered `_RegionPlans` for ``seconds`` from now (a
    region waiting for a free core starts its clock when it starts)."""
    plans = _REGIONS[token]
    return plans.search(k, [], config, time.monotonic() + seconds, first_only=False)


def _run_each(
    worker: Callable[..., _Found],
    jobs: Sequence[tuple[Any, ...]],
    *,
    processes: int,
    timeout: float,
) -> list[_Found | None]:
    """``worker(*job)`` for every job in forked processes, each answer in job order; ``None``
    for a job that failed or had not answered when ``timeout`` (seconds) ran out."""
    context = multiprocessing.get_context("fork")
    deadline = time.monotonic() + timeout
    answers: list[_Found | None] = []
    pool = context.Pool(processes)
    try:
        pending = [pool.apply_async(worker, job) for job in jobs]
        for future in pending:
            try:
                answers.append(future.get(max(0.0, deadline - time.monotonic())))
            except Exception:  # a killed or failed region keeps its plan
                answers.append(None)
    finally:
        pool.terminate()
        pool.join()
    return answers


def _first_plan_by_regions(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    config: SearchConfig,
    deadline: float,
) -> _RegionPlans | None:
    """The first plan of a large night built region by region (`_RegionPlans`); ``None`` when
    the night is not split or a region found no plan in time (the caller then builds it
    whole). The regions run one after the other in this process: forking them measured no
    faster on the loaded 2-core machine, and each takes a few tenths of a second.
    """
    parts = regions(problem, open_visits, departures)
    if parts is None:
        return None
    plans = _RegionPlans(problem, parts, departures, len(open_visits) > FIXED_SLOT_THRESHOLD)
    if not plans.first_plan(config, deadline):
        return None
    return plans


def _found_key(found: _Found) -> tuple[bool, int]:
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
) -> _Found:
    """The cold search (`_search_cold`); on a large night the first plan built region by
    region (`_first_plan_by_regions`), then each region searched again in turn with the time
    left, taking in the visits its neighbours left out (`_RegionPlans.improve`).

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
        by_regions = _first_plan_by_regions(
            problem, open_visits, departures, first_config, began + time_limit
        )
    if by_regions is not None:
        method = f"or-tools: {first_config.first_solution} in {len(by_regions)} regions"
        if not first_only and time_limit - (time.monotonic() - began) >= 0.2:
            # Guided local search in this process: iterated local search must run in a
            # forked process (see `search.run_portfolio`), and each region is small.
            config = configs[0] if configs else first_config
            if config.ils:
                config = _fallback_config(config)
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
        if by_regions.moved:
            method += f" ({by_regions.moved} visits planned by a neighbouring region)"
        return by_regions.result(method)
    return _search_cold(
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
) -> _Found:
    """The tuned portfolio, one forked process per core, when it can pay; otherwise guided
    local search in this process (see `PORTFOLIO_MIN_SECONDS`)."""
    began = time.monotonic()
    chosen = list(configs) if configs else list(search.default_portfolio())
    if not configs and _has_lateness_costs(problem, open_visits):
        # The ILS recipe was tuned on distance (Solomon); on nights whose objective is
        # urgency lateness it stayed at its construction (3 x 45, 5 s: 14352 + 42347 s late
        # against none for guided local search from the construction; 10 x 200: objective
        # 7342204020 against 7289851428). There both cores run guided local search.
        chosen = [_fallback_config(c) for c in chosen]
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
        chosen = [_fallback_config(chosen[0])]
    if first_only or not may_fork or (not any(c.ils for c in chosen) and len(chosen) == 1):
        return _search_once(
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
        rescue = _search_once(
            problem,
            open_visits,
            departures,
            _fallback_config(chosen[0]),
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


def _fallback_config(config: SearchConfig) -> SearchConfig:
    """Guided local search with ``config``'s seed: the search for short budgets."""
    return SearchConfig(label="gls-pci", seed=config.seed)


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

    A large night (at least ``regions.SPLIT_FROM`` open visits, with coordinates)
    gets its first plan region by region (`optimizer.regions`): that is the ``first_only``
    answer, and a longer search answers with it unless it finds a better plan in time.
    Visits a construction cut short by the time limit never tried come back as
    ``no_plan_in_time``.
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
    found: _Found | None = None
    method = ""
    if warm_start is not None:
        model = NightModel(problem, open_visits, departures)
        routing = model.routing
        strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        routing.CloseModelWithParameters(_warm_parameters(time_limit, strategy))
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
                initial, _warm_parameters(remaining, strategy, first_only=first_only)
            )
            if solution is not None:
                method = "or-tools: warm start from the current plan + guided local search"
                found = _found(model, solution, method)
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
    plan = _with_what_fits(problem, plan, found, unassigned)
    if quick is not None and _left_out_cost(problem, plan) > _left_out_cost(problem, quick):
        # A short search can leave out a call the quick answer placed (an acute alarm, on a
        # loaded machine): the re-plan never answers worse than its own first answer.
        return quick
    return plan


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


def _with_what_fits(
    problem: Problem, plan: Plan, found: _Found, unassigned: list[Unassigned]
) -> Plan:
    """``plan`` with the visits the search left out that still fit put in (`fill`): a
    short search must not answer "no nurse has room" for a visit one insertion places. The
    plan is laid out again only when something went in, and kept only if it breaks no more
    rules than before."""
    assert found.sequences is not None
    # "No room" from the search, and "not tried" from a construction cut short.
    untried = (ReasonCode.NO_CAPACITY, ReasonCode.NO_PLAN_IN_TIME)
    left_out = [problem.visit(u.visit_id) for u in plan.unassigned if u.reason in untried]
    if not left_out:
        return plan
    sequences, not_before, inserted = insert_what_fits(
        problem, found.sequences, found.break_starts or {}, found.starts or {}, left_out
    )
    if not inserted:
        return plan
    filled = plan_from_routes(
        problem,
        sequences,
        not_before=not_before,
        break_starts=found.break_starts,
        unassigned=[u for u in unassigned if u.visit_id not in inserted],
        stats=SolverStats(
            method=f"{found.method}, then {len(inserted)} left-out visits put in",
            seconds=plan.stats.seconds if plan.stats is not None else 0.0,
            objective=found.objective,
            status=found.status,
        ),
    )
    return filled if len(filled.violations) <= len(plan.violations) else plan


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
    of a live re-plan that ran out of time, so the nurses keep their routes."""
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
            ),
        }
    )


def _left_out_cost(problem: Problem, plan: Plan) -> int:
    """The omission penalties of the visits ``plan`` leaves out, and its rule violations
    (each as costly as the largest penalty: a plan that breaks a rule is never preferred)."""
    classes = problem.urgency_classes
    largest = max((c.omission_penalty for c in classes.values()), default=0) + 1
    return sum(classes[u.urgency].omission_penalty for u in plan.unassigned) + largest * len(
        plan.violations
    )
