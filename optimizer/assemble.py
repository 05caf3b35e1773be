"""From solver output to a `Plan`: the stop sequences read from an OR-Tools solution, the
timed routes laid out by `timeline`, the summary and the reasons for visits left out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from optimizer import timeline
from optimizer.checker import check
from optimizer.model import Problem, Visit, VisitState
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
from optimizer.reasons import why_left_out

if TYPE_CHECKING:
    from ortools.constraint_solver import pywrapcp

    from optimizer.routing_model import NightModel

__all__ = [
    "RESTOCK",
    "explain",
    "extract",
    "finish",
    "plan_from_routes",
    "summarise",
    "unpartnered",
    "with_own_check",
]

#: The key of a restock stop in a stop sequence.
RESTOCK = "restock"


def extract(
    model: NightModel, solution: pywrapcp.Assignment
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
            key = node.visit.id if node.visit is not None else RESTOCK
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
    lone |= unpartnered(problem, {key for key in served if key not in lone})
    if lone:
        for nurse_id, sequence in sequences.items():
            kept = [(k, s) for k, s in enumerate(sequence) if s not in lone]
            for new, (old, _) in enumerate(kept):
                starts[(nurse_id, new)] = starts[(nurse_id, old)]
            sequences[nurse_id] = [s for _, s in kept]
    _en_route_first(model, sequences, starts)
    break_starts = {
        problem.nurses[v].id: int(solution.StartValue(interval))
        for v, interval in model.breaks.items()
    }
    return sequences, starts, break_starts


def unpartnered(problem: Problem, planned: set[str]) -> set[str]:
    """The visits of ``planned`` whose dependency partner is neither planned nor started:
    a link is planned whole or not at all, so these must go too (transitively)."""
    if not problem.dependencies:
        return set()
    kept = set(planned)
    dropped: set[str] = set()
    changed = True
    while changed:
        changed = False
        for link in problem.dependencies:
            for this, other in ((link.first, link.second), (link.second, link.first)):
                if this in kept and other not in kept and not problem.visit(other).is_locked:
                    kept.discard(this)
                    dropped.add(this)
                    changed = True
    return dropped


def _en_route_first(
    model: NightModel, sequences: dict[str, list[str]], starts: dict[tuple[str, int], int]
) -> None:
    """A nurse driving to a visit keeps it as her next stop, even where the solution left it
    out (the model keeps it unless no plan can, `NightModel._keep_penalty`): the layout then
    reports whatever that costs."""
    for visit in model.visits:
        if visit.state != VisitState.EN_ROUTE or visit.nurses_needed != 1:
            continue
        nurse_id = visit.assigned_nurses[0]
        sequence = sequences.get(nurse_id, [])
        if sequence[:1] == [visit.id]:
            continue
        order = [k for k, key in enumerate(sequence) if key != visit.id]
        timed = {new + 1: starts.get((nurse_id, old)) for new, old in enumerate(order)}
        for position in range(len(sequence) + 1):
            starts.pop((nurse_id, position), None)
        starts.update({(nurse_id, k): t for k, t in timed.items() if t is not None})
        sequences[nurse_id] = [visit.id, *(sequence[k] for k in order)]


def _drop_idle_restocks(
    model: NightModel, sequences: dict[str, list[str]], starts: dict[tuple[str, int], int]
) -> None:
    """Remove restocks that come before anything was used from the bag: they only cost time."""
    problem = model.problem
    for nurse in problem.nurses:
        sequence = sequences[nurse.id]
        used = any(nurse.contents_now(i) < nurse.bag.get(i, 0) for i in nurse.bag)
        kept: list[tuple[int, str]] = []
        for position, key in enumerate(sequence):
            if key == RESTOCK:
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
    final: bool = True,
) -> Plan:
    """A timed plan from stop sequences per nurse (visit ids, or ``"restock"``).

    ``not_before`` holds the solver's start times, which keep two-person visits in step;
    visits in no sequence and not already listed come back unassigned. ``final=False`` gives
    a draft: no reasons looked for and no self-check (the caller calls `finish`).
    """
    not_before = not_before or {}
    break_starts = break_starts or {}
    routes: list[Route] = []
    violations: list[Violation] = []
    for nurse in problem.nurses:
        stops = []
        for position, key in enumerate(sequences.get(nurse.id, [])):
            at = not_before.get((nurse.id, position), 0)
            if key == RESTOCK:
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
    left_out.extend(
        _link_reason(problem, visit, planned) or _reason_left_out(problem, visit)
        for visit in problem.visits
        if visit.id not in planned and visit.id not in listed and not visit.is_locked
    )
    plan = Plan(
        routes=routes,
        unassigned=left_out,
        summary=summarise(problem, routes, left_out),
        violations=violations,
        stats=stats,
    )
    if not final:
        return plan
    plan = with_own_check(problem, plan)
    if not_before:
        # The solver's own start times can hold a stop later than its rules need (waiting
        # that nothing explains). Laid out as early as allowed, with two-person visits in
        # step, the same routes are what `evaluate` and the quote show: use that layout
        # unless it breaks a rule the solver's times kept.
        early = with_own_check(
            problem,
            in_step(
                problem, {k: list(v) for k, v in sequences.items()}, break_starts, unassigned, stats
            ),
        )
        if _keys(early) <= _keys(plan):
            plan = early
    # The reasons depend on the routes only, not on their times: looked for once, for the
    # layout chosen (they were a quarter of a 10 x 200 first plan's time, twice over).
    return explain(problem, plan, sequences, break_starts)


def _keys(plan: Plan) -> set[tuple[str, str | None, str | None]]:
    return {(v.code, v.visit_id, v.nurse_id) for v in plan.violations}


def in_step(
    problem: Problem,
    sequences: dict[str, list[str]],
    break_starts: dict[str, int],
    unassigned: list[Unassigned] | None = None,
    stats: SolverStats | None = None,
) -> Plan:
    """A draft plan for ``sequences`` with every stop as early as its rules allow, except
    that the earlier nurse of a two-person visit is held until the later one can be there
    (within the sync tolerance). No reasons looked for, no self-check (see `finish`)."""
    not_before: dict[tuple[str, int], int] = {}
    plan = plan_from_routes(
        problem,
        sequences,
        break_starts=break_starts,
        unassigned=unassigned,
        stats=stats,
        final=False,
    )
    # Two-person visits: hold the earlier nurse until the later one can be there too.
    for _ in range(len(problem.visits) + 1):
        moved = False
        starts: dict[str, list[tuple[str, int, int]]] = {}
        for route in plan.routes:
            for position, visit_id in enumerate(sequences.get(route.nurse_id, [])):
                step = (
                    next(s for s in route.steps if s.visit_id == visit_id and visit_id != RESTOCK)
                    if visit_id != RESTOCK
                    else None
                )
                if step is not None:
                    starts.setdefault(visit_id, []).append((route.nurse_id, position, step.start))
        for entries in starts.values():
            if len(entries) != 2:
                continue
            latest = max(e[2] for e in entries)
            for nurse_id, position, start in entries:
                if start < latest - problem.night.sync_tolerance_seconds:
                    # Within the tolerance is in step: hold her no longer than that needs.
                    not_before[(nurse_id, position)] = latest - problem.night.sync_tolerance_seconds
                    moved = True
        for link in problem.dependencies:
            # B too soon after A: hold B; B too long after A: hold A (no earlier than needed).
            # A two-person visit has two starts: every pair of starts keeps the gap.
            first, second = starts.get(link.first), starts.get(link.second)
            if first is None or second is None:
                continue
            latest_a = max(entry[2] for entry in first)
            latest_b = max(entry[2] for entry in second)
            held = False
            for nurse_b, position_b, start_b in second:
                if start_b < latest_a + link.min_seconds:
                    not_before[(nurse_b, position_b)] = latest_a + link.min_seconds
                    held = moved = True
            if held:
                continue
            for nurse_a, position_a, start_a in first:
                if latest_b > start_a + link.max_seconds:
                    not_before[(nurse_a, position_a)] = latest_b - link.max_seconds
                    moved = True
        if not moved:
            break
        plan = plan_from_routes(
            problem,
            sequences,
            not_before=not_before,
            break_starts=break_starts,
            unassigned=unassigned,
            stats=stats,
            final=False,
        )
    return plan


def finish(
    problem: Problem,
    plan: Plan,
    sequences: Mapping[str, Sequence[str]],
    break_starts: Mapping[str, int] | None = None,
) -> Plan:
    """The last touch on a plan laid out from ``sequences``: visits left out for no named
    reason get the rule that keeps them out (a pin, a break) where one can be found, and
    every rule the checker finds broken is listed (`with_own_check`)."""
    return with_own_check(problem, explain(problem, plan, sequences, break_starts))


def explain(
    problem: Problem,
    plan: Plan,
    sequences: Mapping[str, Sequence[str]],
    break_starts: Mapping[str, int] | None = None,
) -> Plan:
    """``plan`` with the visits it leaves out for no named reason given the rule that keeps
    them out (a pin, a break, the bag) where `reasons.why_left_out` finds one."""
    general = [
        problem.visit(u.visit_id)
        for u in plan.unassigned
        if u == _reason_left_out(problem, problem.visit(u.visit_id))
    ]
    explained = why_left_out(problem, sequences, break_starts or {}, general)
    if explained:
        plan = plan.model_copy(
            update={"unassigned": [explained.get(u.visit_id, u) for u in plan.unassigned]}
        )
    return plan


def with_own_check(problem: Problem, plan: Plan) -> Plan:
    """``plan`` with every rule the independent checker finds broken listed in it.

    Whatever builds a plan, it never leaves here looking valid when the checker would reject
    it: a violation found only by the checker is added (same code, visit and nurse).
    """
    seen = {(v.code, v.visit_id, v.nurse_id) for v in plan.violations}
    added = []
    for violation in check(problem, plan):
        key = (violation.code, violation.visit_id, violation.nurse_id)
        if key not in seen:
            seen.add(key)
            added.append(violation)
    if not added:
        return plan
    return plan.model_copy(update={"violations": [*plan.violations, *added]})


def _link_reason(problem: Problem, visit: Visit, planned: set[str]) -> Unassigned | None:
    """The reason naming the link, for a visit left out with (or because of) its partner."""
    for link in problem.dependencies_of(visit.id):
        other = link.second if link.first == visit.id else link.first
        if other in planned or problem.visit(other).is_locked:
            continue
        return Unassigned(
            visit_id=visit.id,
            urgency=visit.urgency,
            reason=ReasonCode.LINK_INFEASIBLE,
            message=f"linked to {other} ({link.label()}): no room for both tonight",
        )
    return None


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
    if visit.pin is not None:
        # Only its nurse was tried: "no nurse has room" (or "ask the back-up partner") sent
        # the planner looking for help the other nurses may well have had. The code stays
        # ``no_capacity``: the fill (`fill.with_what_fits`) still tries to put it in.
        cannot = (
            "has no room for it inside its agreed window tonight"
            if problem.is_planned_care(visit)
            else "cannot fit it in before her shift ends without breaking a planned window"
        )
        message = (
            f"pinned to {visit.pin.nurse}, who {cannot}: unpin it to let another nurse take it"
        )
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
