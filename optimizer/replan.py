"""The live re-plan: a warm start from the current plan, the quick first answer that puts
tonight's new calls in without any search, and making room for an urgent call."""

from __future__ import annotations

from typing import Any

from optimizer import timeline
from optimizer.assemble import summarise
from optimizer.evaluate import evaluate
from optimizer.model import Problem, Visit, VisitState
from optimizer.plan import Plan, ReasonCode, StepType, Unassigned, Violation
from optimizer.quote import quote
from optimizer.routing_model import RESTOCK, NightModel

__all__ = ["initial_routes", "quick_replan", "warm_sequences"]


def initial_routes(model: NightModel, plan: Plan, *, insert_new: bool = True) -> list[list[int]]:
    """Node sequences per nurse taken from an earlier plan, for a warm start."""
    free = {visit_id: list(nodes) for visit_id, nodes in model.visit_nodes.items()}
    restocks = list(model.restock_nodes)
    routes: list[list[int]] = []
    for nurse in model.problem.nurses:
        sequence: list[int] = []
        try:
            earlier = plan.route(nurse.id)
        except KeyError:
            routes.append(sequence)
            continue
        for step in earlier.steps:
            if step.type == StepType.VISIT and step.visit_id in free and free[step.visit_id]:
                sequence.append(model.index(free[step.visit_id].pop(0)))
            elif (
                step.type == StepType.RESTOCK
                and restocks
                and step.start >= (model.problem.now or 0)
            ):
                sequence.append(model.index(restocks.pop(0)))
        routes.append(sequence)
    if insert_new:
        _insert_new_visits(model, plan, routes, free)
    return routes


def _insert_new_visits(
    model: NightModel, plan: Plan, routes: list[list[int]], free: dict[str, list[int]]
) -> None:
    """Put visits the earlier plan did not have (tonight's new calls) at their best
    feasible place, most urgent first, so the search starts from a plan that has them."""
    problem = model.problem
    vehicle_of = {n.id: v for v, n in enumerate(problem.nurses)}
    known = set(plan.assignments()) | {u.visit_id for u in plan.unassigned}
    new = [
        v
        for v in model.visits
        if v.id not in known and v.nurses_needed == 1 and len(free.get(v.id, [])) == 1
    ]
    new.sort(key=lambda v: -problem.urgency_classes[v.urgency].omission_penalty)
    for visit in new:
        # A place after a new restock is left to the search (it has the restock nodes).
        options = [o for o in quote(problem, plan, visit) if o.feasible and not o.restock_before]
        if not options:
            model.new_visits_left_out = True
            continue
        best = options[0]
        sequence = routes[vehicle_of[best.nurse_id]]
        sequence.insert(min(best.position, len(sequence)), model.index(free[visit.id][0]))


def warm_sequences(problem: Problem, warm_start: Plan, open_ids: set[str]) -> dict[str, list[str]]:
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
            step.visit_id if step.visit_id is not None else RESTOCK
            for step in route.steps
            if (step.type == StepType.VISIT and step.visit_id in open_ids)
            or (step.type == StepType.RESTOCK and step.start >= now)
        ]
    return sequences


def quick_replan(
    problem: Problem, warm_start: Plan, open_visits: list[Visit], excluded: list[Unassigned]
) -> Plan | None:
    """The current plan with tonight's new calls put at their best feasible place, laid out
    without any search; ``None`` when a new call does not fit or a rule would break.

    This is the live re-plan's first answer: milliseconds, whatever the size of the night.
    """
    sequences = warm_sequences(problem, warm_start, {v.id for v in open_visits})
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
    for count, visit in enumerate(new, 1):
        if visit.nurses_needed != 1:
            return None
        options = quote(problem, plan, visit)
        feasible = [o for o in options if o.feasible]
        if feasible:
            best = feasible[0]
            sequence = sequences[best.nurse_id]
            if best.sequence is not None and sorted(best.sequence) == sorted([*sequence, visit.id]):
                sequence[:] = best.sequence  # the quote moved one of her stops as well
            else:
                sequence.insert(min(best.position, len(sequence)), visit.id)
            if best.restock_before:
                sequence.insert(min(best.position, len(sequence)), RESTOCK)
            if best.break_start is not None:
                hints[best.nurse_id] = best.break_start  # the quote took it after the call
        else:
            room = _make_room(problem, sequences, visit, options[:_ROOM_TRIES], hints)
            if room is None:
                return None
            sequences, left = room
            displaced.update(left)
        if count < len(new):
            # The next call is quoted on the plan with this one in; after the last call the
            # plan is laid out once, below (each layout with its checks: 0.45 s at 50 x 1000).
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
        if key == RESTOCK
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
                if key != RESTOCK
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
