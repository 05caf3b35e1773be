"""`solve(problem)`: tonight's routes from OR-Tools' vehicle-routing solver.

The model, briefly (why each part is shaped as it is):

- one node per visit (two for a two-person visit, one per nurse), one start and one end node
  per nurse, and optional restock nodes at the base;
- travel and service come in as matrices (`RegisterTransitMatrix`), never per-arc Python
  callbacks, so the search runs at C++ speed;
- a time dimension whose slack is waiting; planned windows are hard cumul ranges, urgency
  targets are soft upper bounds whose cost per minute is set by the urgency class;
- every visit sits in a disjunction whose penalty ranks it by urgency, so a visit is left out
  only when nothing else is feasible, and then with a reason;
- skills and pins restrict a node's vehicles; a pinned position is an exact cumul on a visit
  counter; a two-person visit's copies go to different nurses and start within the tolerance;
- the night bag is one capacity dimension per item, and a restock node's slack refills it;
- breaks are OR-Tools break intervals on the time dimension;
- stability (moving a visit a nurse already has on her phone) is a per-nurse unary cost on
  a dimension whose span is paid for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from optimizer import timeline
from optimizer.model import Nurse, Problem, Visit, VisitState
from optimizer.plan import (
    Plan,
    ReasonCode,
    Route,
    SolverStats,
    StepType,
    Summary,
    Unassigned,
    Violation,
)

__all__ = ["eligible_nurses", "plan_from_routes", "solve"]

_START, _END, _VISIT, _RESTOCK = "start", "end", "visit", "restock"
#: Above this many open visits, two-person visits get a fixed start slot (see `_Model`).
FIXED_SLOT_THRESHOLD = 300
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str
    location: int
    service: int
    visit: Visit | None = None
    copy: int = 0


def eligible_nurses(problem: Problem, visit: Visit) -> list[Nurse]:
    """The nurses who could do ``visit``: skills, pin, bag size; shifts are checked later."""
    result = []
    pinned = visit.pin.nurse if visit.pin is not None else None
    for nurse in problem.nurses:
        if not visit.required_skills <= nurse.skills:
            continue
        if pinned is not None and nurse.id != pinned:
            continue
        if visit.state == VisitState.EN_ROUTE and nurse.id not in visit.assigned_nurses:
            continue
        if any(q > nurse.bag.get(item, 0) for item, q in visit.materials.items() if q):
            continue
        result.append(nurse)
    return result


def _reachable(
    problem: Problem, nurse: Nurse, visit: Visit, stop: timeline.Stop, leave: timeline.Departure
) -> bool:
    """Whether ``nurse`` could do ``visit`` (as ``stop``) as her only remaining stop."""
    begin = max(
        leave.time + problem.travel_seconds(nurse.profile, leave.location, visit.location),
        stop.earliest,
    )
    if stop.latest is not None and begin > stop.latest:
        return False
    home = problem.travel_seconds(nurse.profile, visit.location, nurse.end_location)
    return begin + visit.service_seconds + home <= nurse.shift.end


def _excluded(
    problem: Problem, visit: Visit, departures: dict[str, timeline.Departure]
) -> Unassigned | None:
    """Why ``visit`` cannot be planned at all, before any search; ``None`` if it might be."""
    candidates = eligible_nurses(problem, visit)

    def unassigned(reason: ReasonCode, message: str) -> Unassigned:
        return Unassigned(visit_id=visit.id, urgency=visit.urgency, reason=reason, message=message)

    if not candidates:
        if visit.pin is not None:
            return unassigned(
                ReasonCode.PIN_INFEASIBLE,
                f"pinned to {visit.pin.nurse}, who lacks a skill or bag item this visit needs",
            )
        skills = sorted(visit.required_skills)
        missing = ", ".join(f"`{s}`" for s in skills) or "the items this visit needs"
        if skills and not any(visit.required_skills <= n.skills for n in problem.nurses):
            return unassigned(
                ReasonCode.NO_SKILLED_NURSE, f"no nurse with skill {missing} on shift"
            )
        return unassigned(
            ReasonCode.NO_CAPACITY, "no nurse on shift carries enough of the materials it needs"
        )
    stop = timeline.stop_for(problem, visit)
    reachable = 0
    for nurse in candidates:
        reachable += _reachable(problem, nurse, visit, stop, departures[nurse.id])
        if reachable >= visit.nurses_needed:
            return None
    if reachable < visit.nurses_needed:
        if len(candidates) < visit.nurses_needed:
            return unassigned(
                ReasonCode.NOT_ENOUGH_NURSES,
                f"needs {visit.nurses_needed} nurses with the right skills; "
                f"{len(candidates)} on shift",
            )
        if problem.is_planned_care(visit):
            return unassigned(
                ReasonCode.UNREACHABLE_IN_WINDOW,
                "no nurse can be there inside its agreed window and back before her shift ends",
            )
        return unassigned(
            ReasonCode.OUTSIDE_SHIFTS,
            "no nurse can reach it and finish before her shift ends: ask the back-up partner",
        )
    return None


class _Model:
    """The OR-Tools model of one problem, with the maps back from nodes to visits."""

    def __init__(
        self, problem: Problem, visits: list[Visit], departures: dict[str, timeline.Departure]
    ) -> None:
        self.problem = problem
        self.visits = visits
        nurses = problem.nurses
        self.nodes: list[_Node] = []
        self.departures = [departures[n.id] for n in nurses]
        for leave in self.departures:
            self.nodes.append(_Node(_START, leave.location, 0))
        for nurse in nurses:
            self.nodes.append(_Node(_END, nurse.end_location, 0))
        self.visit_nodes: dict[str, list[int]] = {}
        for visit in visits:
            for copy in range(visit.nurses_needed):
                self.visit_nodes.setdefault(visit.id, []).append(len(self.nodes))
                self.nodes.append(_Node(_VISIT, visit.location, visit.service_seconds, visit, copy))
        self.items = sorted({item for v in visits for item, q in v.materials.items() if q > 0})
        self.restock_nodes: list[int] = []
        if self._restocks_may_help():
            for _ in range(min(2 * len(nurses), 20)):
                self.restock_nodes.append(len(self.nodes))
                self.nodes.append(
                    _Node(_RESTOCK, problem.night.base_location, problem.night.restock_seconds)
                )
        count = len(nurses)
        self.manager = pywrapcp.RoutingIndexManager(
            len(self.nodes), count, list(range(count)), list(range(count, 2 * count))
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        self.breaks: dict[int, object] = {}
        self.new_visits_left_out = False  # set when a warm start could not place a new call
        # Cross-route constraints keep two-person visits in step exactly, but every search
        # move then needs full propagation: past a few hundred visits the first plan would
        # not arrive in time. Large nights give each two-person visit a fixed slot instead.
        self.fixed_slots = len(visits) > FIXED_SLOT_THRESHOLD
        self._build()

    def _restocks_may_help(self) -> bool:
        for item in self.items:
            demand = sum(v.materials.get(item, 0) * v.nurses_needed for v in self.visits)
            on_hand = min(n.contents_now(item) for n in self.problem.nurses)
            if demand > on_hand:
                return True
        return False

    # ------------------------------------------------------------------ build

    def _build(self) -> None:
        problem, routing = self.problem, self.routing
        locations = np.array([n.location for n in self.nodes], dtype=np.int64)
        service = np.array([n.service for n in self.nodes], dtype=np.int64)
        time_callbacks: dict[str, int] = {}
        cost_callbacks: dict[str, int] = {}
        for profile in {n.profile for n in problem.nurses}:
            full = np.ceil(np.asarray(problem.matrix(profile), dtype=np.float64)).astype(np.int64)
            travel = full[np.ix_(locations, locations)]
            cost = travel.copy()
            # A restock costs its time too, so the search adds one only where the bag runs out.
            cost[:, self.restock_nodes] += problem.night.restock_seconds
            cost_callbacks[profile] = routing.RegisterTransitMatrix(cost.tolist())
            time_callbacks[profile] = routing.RegisterTransitMatrix(
                (travel + service[:, None]).tolist()
            )
        for v, nurse in enumerate(problem.nurses):
            routing.SetArcCostEvaluatorOfVehicle(cost_callbacks[nurse.profile], v)

        horizon = problem.night.horizon
        routing.AddDimensionWithVehicleTransits(
            [time_callbacks[n.profile] for n in problem.nurses], horizon, horizon, False, "time"
        )
        self.time = routing.GetDimensionOrDie("time")
        self._time_windows(horizon)
        self._disjunctions()
        self._skills_and_pins()
        self._two_person_visits()
        self._bag()
        self._breaks(service)
        self._stability()

    def _index(self, node: int) -> int:
        return int(self.manager.NodeToIndex(node))

    def _time_windows(self, horizon: int) -> None:
        problem, routing, time_dim = self.problem, self.routing, self.time
        for v, nurse in enumerate(problem.nurses):
            leave = self.departures[v]
            # A nurse already past her shift end (a live re-plan late at night) still gets a
            # route home rather than making the whole model infeasible.
            home = problem.travel_seconds(nurse.profile, leave.location, nurse.end_location)
            end = max(nurse.shift.end, leave.time + home)
            time_dim.CumulVar(routing.Start(v)).SetRange(leave.time, end)
            time_dim.CumulVar(routing.End(v)).SetRange(leave.time, end)
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
        for visit in self.visits:
            stop = timeline.stop_for(problem, visit)
            latest = stop.latest if stop.latest is not None else horizon
            urgency = problem.urgency_classes[visit.urgency]
            per_second = math.ceil(urgency.lateness_cost_per_minute / 60)
            if visit.nurses_needed == 2 and self.fixed_slots:
                # Both copies in one short slot: in step without a cross-route constraint.
                slot_end = stop.earliest + problem.night.sync_tolerance_seconds
                latest = min(max(stop.earliest, latest), slot_end)
            for node in self.visit_nodes[visit.id]:
                index = self._index(node)
                cumul = time_dim.CumulVar(index)
                cumul.SetRange(stop.earliest, max(stop.earliest, latest))
                if stop.target is not None and per_second > 0:
                    time_dim.SetCumulVarSoftUpperBound(index, stop.target, per_second)
                routing.AddVariableMinimizedByFinalizer(cumul)
        for node in self.restock_nodes:
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(self._index(node)))

    def _disjunctions(self) -> None:
        for visit in self.visits:
            penalty = self.problem.urgency_classes[visit.urgency].omission_penalty
            for node in self.visit_nodes[visit.id]:
                self.routing.AddDisjunction([self._index(node)], penalty)
        for node in self.restock_nodes:
            self.routing.AddDisjunction([self._index(node)], 0)

    def _skills_and_pins(self) -> None:
        problem, routing = self.problem, self.routing
        vehicle_of = {n.id: v for v, n in enumerate(problem.nurses)}
        positioned: list[tuple[int, int]] = []
        for visit in self.visits:
            allowed = [vehicle_of[n.id] for n in eligible_nurses(problem, visit)]
            if len(allowed) == len(problem.nurses):
                continue
            for node in self.visit_nodes[visit.id]:
                # SetAllowedVehiclesForIndex's Python binding rejects lists in ortools 9.15.
                routing.VehicleVar(self._index(node)).SetValues([-1, *allowed])
            if visit.state == VisitState.EN_ROUTE:
                nurse = problem.nurse(visit.assigned_nurses[0])
                positioned.append(
                    (self.visit_nodes[visit.id][0], len(timeline.locked_prefix(problem, nurse)))
                )
            elif visit.pin is not None and visit.pin.position is not None:
                positioned.append((self.visit_nodes[visit.id][0], visit.pin.position))
        if not positioned:
            return
        counts = [1 if node.kind == _VISIT else 0 for node in self.nodes]
        counter = routing.RegisterUnaryTransitVector(counts)
        routing.AddDimension(counter, 0, len(self.nodes), False, "position")
        position = routing.GetDimensionOrDie("position")
        for v, nurse in enumerate(problem.nurses):
            done = len(timeline.locked_prefix(problem, nurse))
            position.CumulVar(routing.Start(v)).SetValue(done)
        for node, rank in positioned:
            position.CumulVar(self._index(node)).SetValue(rank)

    def _two_person_visits(self) -> None:
        # Copies stay in their own disjunctions, so the search can add them one at a time;
        # a lone copy in the final solution is dropped (see `_extract`).
        solver, routing = self.routing.solver(), self.routing
        tolerance = self.problem.night.sync_tolerance_seconds
        for nodes in self.visit_nodes.values():
            if len(nodes) != 2 or self.fixed_slots:
                continue
            a, b = (self._index(n) for n in nodes)
            service = self.nodes[nodes[0]].service
            if service <= tolerance:
                # Otherwise starting within the tolerance already rules out one nurse doing
                # both copies in turn, and the reified constraint slows every search move.
                both_off = solver.IsEqualCstVar(routing.ActiveVar(a) + routing.ActiveVar(b), 0)
                different = solver.IsDifferentVar(routing.VehicleVar(a), routing.VehicleVar(b))
                solver.Add(different + both_off >= 1)
            start_a, start_b = self.time.CumulVar(a), self.time.CumulVar(b)
            solver.Add(start_a <= start_b + tolerance)
            solver.Add(start_b <= start_a + tolerance)

    def _bag(self) -> None:
        problem, routing = self.problem, self.routing
        restocks = set(self.restock_nodes)
        for item in self.items:
            capacities = [n.bag.get(item, 0) for n in problem.nurses]
            refill = max(capacities)
            demand = [
                -refill
                if i in restocks
                else (node.visit.materials.get(item, 0) if node.visit is not None else 0)
                for i, node in enumerate(self.nodes)
            ]
            callback = routing.RegisterUnaryTransitVector(demand)
            routing.AddDimensionWithVehicleCapacity(callback, refill, capacities, False, item)
            dimension = routing.GetDimensionOrDie(item)
            for v, nurse in enumerate(problem.nurses):
                used = nurse.bag.get(item, 0) - nurse.contents_now(item)
                dimension.CumulVar(routing.Start(v)).SetValue(used)
            for i in range(len(self.nodes)):
                if self.nodes[i].kind == _END:
                    continue
                if i not in restocks:
                    dimension.SlackVar(self._index(i)).SetValue(0)

    def _breaks(self, service: np.ndarray) -> None:
        problem, routing, manager = self.problem, self.routing, self.manager
        solver = routing.solver()
        size = routing.Size() + routing.vehicles()
        visit_transits = [int(service[manager.IndexToNode(i)]) for i in range(size)]
        for v, nurse in enumerate(problem.nurses):
            rule = nurse.break_rule
            if rule is None or nurse.break_taken:
                continue
            earliest = max(rule.window.start, self.departures[v].time)
            latest = max(earliest, rule.latest_start)
            interval = solver.FixedDurationIntervalVar(
                earliest, latest, rule.duration_seconds, False, f"break {v}"
            )
            self.time.SetBreakIntervalsOfVehicle([interval], v, visit_transits)
            self.breaks[v] = interval

    def _stability(self) -> None:
        problem, routing = self.problem, self.routing
        published = [
            (i, node.visit.published_nurse)
            for i, node in enumerate(self.nodes)
            if node.visit is not None and node.visit.published_nurse is not None
        ]
        if not published:
            return
        callbacks = []
        for nurse in problem.nurses:
            costs = [0] * len(self.nodes)
            for i, owner in published:
                if owner != nurse.id:
                    costs[i] = problem.night.stability_cost
            callbacks.append(routing.RegisterUnaryTransitVector(costs))
        bound = problem.night.stability_cost * (len(published) + 1)
        routing.AddDimensionWithVehicleTransitAndCapacity(
            callbacks, 0, [bound] * len(problem.nurses), True, "stability"
        )
        routing.GetDimensionOrDie("stability").SetSpanCostCoefficientForAllVehicles(1)

    # ---------------------------------------------------------------- search

    def initial_routes(self, plan: Plan, *, insert_new: bool = True) -> list[list[int]]:
        """Node sequences per nurse taken from an earlier plan, for a warm start."""
        free = {visit_id: list(nodes) for visit_id, nodes in self.visit_nodes.items()}
        restocks = list(self.restock_nodes)
        routes: list[list[int]] = []
        for nurse in self.problem.nurses:
            sequence: list[int] = []
            try:
                earlier = plan.route(nurse.id)
            except KeyError:
                routes.append(sequence)
                continue
            for step in earlier.steps:
                if step.type == StepType.VISIT and step.visit_id in free and free[step.visit_id]:
                    sequence.append(self._index(free[step.visit_id].pop(0)))
                elif (
                    step.type == StepType.RESTOCK
                    and restocks
                    and step.start >= (self.problem.now or 0)
                ):
                    sequence.append(self._index(restocks.pop(0)))
            routes.append(sequence)
        if insert_new:
            self._insert_new_visits(plan, routes, free)
        return routes

    def _insert_new_visits(
        self, plan: Plan, routes: list[list[int]], free: dict[str, list[int]]
    ) -> None:
        """Put visits the earlier plan did not have (tonight's new calls) at their best
        feasible place, most urgent first, so the search starts from a plan that has them."""
        from optimizer.quote import quote  # quote builds on this module

        problem = self.problem
        vehicle_of = {n.id: v for v, n in enumerate(problem.nurses)}
        known = set(plan.assignments()) | {u.visit_id for u in plan.unassigned}
        new = [
            v
            for v in self.visits
            if v.id not in known and v.nurses_needed == 1 and len(free.get(v.id, [])) == 1
        ]
        new.sort(key=lambda v: -problem.urgency_classes[v.urgency].omission_penalty)
        for visit in new:
            options = [o for o in quote(problem, plan, visit) if o.feasible]
            if not options:
                self.new_visits_left_out = True
                continue
            best = options[0]
            sequence = routes[vehicle_of[best.nurse_id]]
            sequence.insert(min(best.position, len(sequence)), self._index(free[visit.id][0]))


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
        reason = _excluded(problem, visit, departures)
        if reason is None:
            open_visits.append(visit)
        else:
            unassigned.append(reason)
    quick = None
    if warm_start is not None:
        # The first answer of a live re-plan, and the fallback should the search run out of
        # time: the current plan with the new calls put in, no search needed.
        quick = _quick_replan(problem, warm_start, open_visits, unassigned)
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
    model = _Model(problem, open_visits, departures)
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
        initial = routing.ReadAssignmentFromRoutes(model.initial_routes(warm_start), True)
        if initial is None:
            # The quick insertion of new calls did not fit the model's view: start without.
            initial = routing.ReadAssignmentFromRoutes(
                model.initial_routes(warm_start, insert_new=False), True
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
            from optimizer.evaluate import evaluate  # evaluate builds on this module

            kept = evaluate(
                problem,
                _warm_sequences(problem, warm_start, {v.id for v in open_visits}),
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

    sequences, starts, break_starts = _extract(model, solution)
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


def _warm_sequences(problem: Problem, warm_start: Plan, open_ids: set[str]) -> dict[str, list[str]]:
    """Per nurse, what is still to come of the current plan: open visits, later restocks."""
    now = problem.now or 0
    sequences: dict[str, list[str]] = {}
    for nurse in problem.nurses:
        try:
            route = warm_start.route(nurse.id)
        except KeyError:
            sequences[nurse.id] = []
            continue
        sequences[nurse.id] = [
            step.visit_id if step.visit_id is not None else _RESTOCK
            for step in route.steps
            if (step.type == StepType.VISIT and step.visit_id in open_ids)
            or (step.type == StepType.RESTOCK and step.start >= now)
        ]
    return sequences


def _quick_replan(
    problem: Problem, warm_start: Plan, open_visits: list[Visit], excluded: list[Unassigned]
) -> Plan | None:
    """The current plan with tonight's new calls put at their best feasible place, laid out
    without any search; ``None`` when a new call does not fit or a rule would break.

    This is the live re-plan's first answer: milliseconds, whatever the size of the night.
    """
    from optimizer.evaluate import evaluate  # both build on this module
    from optimizer.quote import quote

    sequences = _warm_sequences(problem, warm_start, {v.id for v in open_visits})
    hints = {
        route.nurse_id: step.start
        for route in warm_start.routes
        for step in route.steps
        if step.type == StepType.BREAK and not problem.nurse(route.nurse_id).break_taken
    }
    known = set(warm_start.assignments()) | {u.visit_id for u in warm_start.unassigned}
    new = [v for v in open_visits if v.id not in known]
    new.sort(key=lambda v: -problem.urgency_classes[v.urgency].omission_penalty)
    plan = warm_start
    displaced: dict[str, Unassigned] = {}
    for visit in new:
        if visit.nurses_needed != 1:
            return None
        options = quote(problem, plan, visit)
        feasible = [o for o in options if o.feasible]
        if feasible:
            best = feasible[0]
            sequence = sequences[best.nurse_id]
            sequence.insert(min(best.position, len(sequence)), visit.id)
        else:
            room = _make_room(problem, sequences, visit, options[:_ROOM_TRIES], hints)
            if room is None:
                return None
            sequences, left = room
            displaced.update(left)
        plan = evaluate(problem, sequences, break_starts=hints)
    plan = evaluate(problem, sequences, break_starts=hints)
    if plan.violations:
        return None
    earlier = {u.visit_id: u for u in warm_start.unassigned}
    reasons = {u.visit_id: u for u in excluded}
    left_out = [
        reasons.get(u.visit_id) or displaced.get(u.visit_id) or earlier.get(u.visit_id) or u
        for u in plan.unassigned
    ]
    return plan.model_copy(
        update={"unassigned": left_out, "summary": summarise(problem, plan.routes, left_out)}
    )


_ROOM_TRIES = 3  # nurses tried when a new call only fits by leaving out less urgent care
_ROOM_REMOVALS = 4  # visits at most that one new call may push out of a route


def _route_violations(
    problem: Problem, nurse_id: str, sequence: list[str], break_start: int | None
) -> list[Violation]:
    """The rules one nurse's route would break, laid out on its own (cheap: no checker)."""
    stops = [
        timeline.restock_stop(problem)
        if key == _RESTOCK
        else timeline.stop_for(problem, problem.visit(key))
        for key in sequence
    ]
    _, broken = timeline.route(problem, problem.nurse(nurse_id), stops, break_start=break_start)
    return broken


def _make_room(
    problem: Problem,
    sequences: dict[str, list[str]],
    visit: Visit,
    options: list[Any],
    hints: dict[str, int],
) -> tuple[dict[str, list[str]], dict[str, Unassigned]] | None:
    """Insert ``visit`` where it fits by leaving out visits less urgent than it, the fewest
    and least urgent first; ``None`` if no tried place works."""
    urgency = problem.urgency_classes
    rank = urgency[visit.urgency].omission_penalty
    best: tuple[int, dict[str, list[str]], list[str]] | None = None
    places = [
        (option.nurse_id, position)
        for option in options
        for position in range(len(sequences[option.nurse_id]) + 1)
    ]
    for nurse_id, position in places:
        trial = {nurse: list(seq) for nurse, seq in sequences.items()}
        route = trial[nurse_id]
        route.insert(position, visit.id)
        removed: list[str] = []
        for _ in range(_ROOM_REMOVALS + 1):
            broken = _route_violations(problem, nurse_id, route, hints.get(nurse_id))
            if not broken:
                break
            candidates = [
                key
                for key in route
                if key != _RESTOCK
                and key != visit.id
                and urgency[problem.visit(key).urgency].omission_penalty < rank
                and problem.visit(key).state == VisitState.PLANNED
                # Leaving out one nurse's half of a two-person visit would strand the other.
                and problem.visit(key).nurses_needed == 1
            ]
            named = [v.visit_id for v in broken if v.visit_id in candidates]
            victim = named[0] if named else None
            if victim is None and candidates:
                # Shift or break overrun: drop the least urgent visit after the new one.
                after = route[route.index(visit.id) + 1 :]
                later = [key for key in candidates if key in after] or candidates
                victim = min(
                    later, key=lambda k: urgency[problem.visit(k).urgency].omission_penalty
                )
            if victim is None or len(removed) == _ROOM_REMOVALS:
                break
            route.remove(victim)
            removed.append(victim)
        else:
            continue
        if broken:
            continue
        cost = sum(urgency[problem.visit(k).urgency].omission_penalty for k in removed)
        if best is None or cost < best[0]:
            best = (cost, trial, removed)
    if best is None:
        return None
    _, trial, removed = best
    left = {
        key: Unassigned(
            visit_id=key,
            urgency=problem.visit(key).urgency,
            reason=ReasonCode.DISPLACED,
            message=(
                f"left out to make room for {visit.urgency} call {visit.id}: "
                "ask the back-up partner or re-plan when the night quietens"
            ),
        )
        for key in removed
    }
    return trial, left


def _extract(
    model: _Model, solution: pywrapcp.Assignment
) -> tuple[dict[str, list[str]], dict[tuple[str, int], int], dict[str, int]]:
    """Per nurse the stop sequence (visit ids, ``"restock"``), start times and break start."""
    routing, problem = model.routing, model.problem
    sequences: dict[str, list[str]] = {}
    starts: dict[tuple[str, int], int] = {}
    served: dict[str, int] = {}
    for v, nurse in enumerate(problem.nurses):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        sequence: list[str] = []
        while not routing.IsEnd(index):
            node = model.nodes[model.manager.IndexToNode(index)]
            key = node.visit.id if node.visit is not None else _RESTOCK
            starts[(nurse.id, len(sequence))] = solution.Value(model.time.CumulVar(index))
            sequence.append(key)
            if node.visit is not None:
                served[key] = served.get(key, 0) + 1
            index = solution.Value(routing.NextVar(index))
        sequences[nurse.id] = sequence
    _drop_idle_restocks(model, sequences, starts)
    lone = {
        visit.id
        for visit in model.visits
        if visit.nurses_needed == 2 and served.get(visit.id, 0) == 1
    }
    if lone:
        for nurse_id, sequence in sequences.items():
            kept = [(k, s) for k, s in enumerate(sequence) if s not in lone]
            for new, (old, _) in enumerate(kept):
                starts[(nurse_id, new)] = starts[(nurse_id, old)]
            sequences[nurse_id] = [s for _, s in kept]
    break_starts = {
        problem.nurses[v].id: int(solution.StartValue(interval))
        for v, interval in model.breaks.items()
    }
    return sequences, starts, break_starts


def _drop_idle_restocks(
    model: _Model, sequences: dict[str, list[str]], starts: dict[tuple[str, int], int]
) -> None:
    """Remove restocks that come before anything was used from the bag: they only cost time."""
    problem = model.problem
    for nurse in problem.nurses:
        sequence = sequences[nurse.id]
        used = any(nurse.contents_now(i) < nurse.bag.get(i, 0) for i in nurse.bag)
        kept: list[tuple[int, str]] = []
        for position, key in enumerate(sequence):
            if key == _RESTOCK:
                if not used:
                    continue
                used = False
            elif any(q > 0 for q in problem.visit(key).materials.values()):
                used = True
            kept.append((position, key))
        for new, (old, _) in enumerate(kept):
            starts[(nurse.id, new)] = starts[(nurse.id, old)]
        sequences[nurse.id] = [key for _, key in kept]


def plan_from_routes(
    problem: Problem,
    sequences: dict[str, list[str]],
    *,
    not_before: dict[tuple[str, int], int] | None = None,
    break_starts: dict[str, int] | None = None,
    unassigned: list[Unassigned] | None = None,
    stats: SolverStats | None = None,
) -> Plan:
    """A timed plan from stop sequences per nurse (visit ids, or ``"restock"``).

    ``not_before`` holds the solver's start times, which keep two-person visits in step;
    visits in no sequence and not already listed come back unassigned.
    """
    not_before = not_before or {}
    break_starts = break_starts or {}
    routes: list[Route] = []
    violations: list[Violation] = []
    for nurse in problem.nurses:
        stops = []
        for position, key in enumerate(sequences.get(nurse.id, [])):
            at = not_before.get((nurse.id, position), 0)
            if key == _RESTOCK:
                stops.append(timeline.restock_stop(problem, not_before=at))
            else:
                stops.append(timeline.stop_for(problem, problem.visit(key), not_before=at))
        route, broken = timeline.route(
            problem, nurse, stops, break_start=break_starts.get(nurse.id)
        )
        routes.append(route)
        violations.extend(broken)
    left_out = list(unassigned or [])
    listed = {u.visit_id for u in left_out}
    planned = {visit_id for route in routes for visit_id in route.visit_ids()}
    for visit in problem.visits:
        if visit.id not in planned and visit.id not in listed and not visit.is_locked:
            left_out.append(_reason_left_out(problem, visit))
    return Plan(
        routes=routes,
        unassigned=left_out,
        summary=summarise(problem, routes, left_out),
        violations=violations,
        stats=stats,
    )


def _reason_left_out(problem: Problem, visit: Visit) -> Unassigned:
    if problem.is_planned_care(visit):
        message = "no nurse has room for it inside its agreed window tonight"
    else:
        message = (
            f"no nurse can fit it in before her shift ends without breaking a planned window: "
            f"ask the back-up partner ({visit.urgency})"
        )
    if visit.nurses_needed == 2:
        message = "no two nurses can be there together in time"
    return Unassigned(
        visit_id=visit.id, urgency=visit.urgency, reason=ReasonCode.NO_CAPACITY, message=message
    )


def summarise(problem: Problem, routes: list[Route], unassigned: list[Unassigned]) -> Summary:
    """Totals over the routes: travel, visits per nurse, lateness per urgency class."""
    lateness = dict.fromkeys(problem.urgency_classes, 0)
    late = dict.fromkeys(problem.urgency_classes, 0)
    counted: set[str] = set()
    for route in routes:
        for step in route.steps:
            if step.type != StepType.VISIT or step.visit_id is None:
                continue
            if step.visit_id in counted:
                continue
            counted.add(step.visit_id)
            urgency = problem.visit(step.visit_id).urgency
            lateness[urgency] += step.lateness_seconds
            late[urgency] += 1 if step.lateness_seconds > 0 else 0
    return Summary(
        travel_seconds=sum(r.travel_seconds for r in routes),
        visits_planned=len(counted),
        visits_unassigned=len(unassigned),
        visits_per_nurse={r.nurse_id: r.visit_count for r in routes},
        lateness_seconds_by_urgency=lateness,
        late_visits_by_urgency=late,
        travel_estimated=problem.travel_estimated,
    )
