"""Insertion quotes: where could a new visit go tonight, and what would it cost?

A triage partner asks "can the night nurse be there within 30 minutes?". Answering must not
wait for a full solve, so for each nurse we try the new visit at every place in her current
route, lay the route out again, and keep her best feasible place. Pure Python on plain
tuples, because it runs on the request path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Nurse, Problem, Visit
from optimizer.plan import Plan, StepType

__all__ = ["InsertionOption", "quote"]


@dataclass(frozen=True, slots=True)
class InsertionOption:
    """One nurse's best place for the new visit."""

    nurse_id: str
    position: int
    eta: int
    start: int
    lateness_seconds: int
    added_travel_seconds: int
    added_lateness_others_seconds: int
    feasible: bool
    reason: str = ""


def quote(problem: Problem, plan: Plan, visit: Visit) -> list[InsertionOption]:
    """Every eligible nurse's best insertion of ``visit`` into ``plan``, best first.

    ``visit.location`` must index the problem's matrices. Ranking: feasible first, then the
    new visit's own lateness past its target, then lateness caused to others, then added
    travel. Planned windows and shift ends are hard; the break is kept.
    """
    eligible = {n.id for n in eligible_nurses(problem, visit)}
    new_stop = timeline.stop_for(problem, visit)
    options: list[InsertionOption] = []
    for nurse in problem.nurses:
        if nurse.id not in eligible:
            continue
        options.append(_best_for(problem, plan, nurse, new_stop))
    options.sort(
        key=lambda o: (
            not o.feasible,
            o.lateness_seconds,
            o.added_lateness_others_seconds,
            o.added_travel_seconds,
            o.eta,
        )
    )
    return options


def _current_stops(problem: Problem, plan: Plan, nurse: Nurse) -> list[timeline.Stop]:
    try:
        route = plan.route(nurse.id)
    except KeyError:
        return []
    stops = []
    for step in route.steps:
        if step.type == StepType.RESTOCK:
            if step.start >= (problem.now or 0):
                stops.append(timeline.restock_stop(problem))
        elif step.type == StepType.VISIT and step.visit_id is not None:
            visit = problem.visit(step.visit_id)
            if not visit.is_locked:
                # Keep two-person partners where they were planned (their partner waits).
                hold = step.start if visit.nurses_needed == 2 else 0
                stops.append(timeline.stop_for(problem, visit, not_before=hold))
    return stops


def _layout_cost(
    problem: Problem,
    nurse: Nurse,
    stops: list[timeline.Stop],
    leave: timeline.Departure,
    break_hint: int | None,
) -> tuple[bool, list[int], int, int]:
    """Feasible?, start per stop, total travel, total lateness past soft targets."""
    matrix = problem.matrix(nurse.profile)
    rule = nurse.break_rule if not nurse.break_taken else None
    # The break where the plan has it, or else as soon as its window opens: the better one.
    layouts = []
    for hint in dict.fromkeys((break_hint, None)):
        timed, placed, finish = timeline.simulate(
            matrix,
            leave,
            stops,
            break_duration=rule.duration_seconds if rule else 0,
            break_window=(rule.window.start, rule.window.end) if rule else None,
            break_start=hint,
        )
        late = any(t.stop.latest is not None and t.start > t.stop.latest for t in timed)
        layouts.append((late or (rule is not None and placed is None), finish, timed, placed))
    _, finish, timed, placed = min(layouts, key=lambda item: (item[0], item[1]))
    feasible = rule is None or placed is not None
    travel = 0
    lateness = 0
    for item in timed:
        travel += item.travel_seconds
        stop = item.stop
        if stop.latest is not None and item.start > stop.latest:
            feasible = False
        if stop.target is not None:
            lateness += max(0, item.start - stop.target)
    last = stops[-1].location if stops else leave.location
    home = math.ceil(matrix[last][nurse.end_location])
    if max(finish, placed[1] if placed else 0) + home > nurse.shift.end:
        feasible = False
    return feasible, [t.start for t in timed], travel + home, lateness


def _best_for(
    problem: Problem, plan: Plan, nurse: Nurse, new_stop: timeline.Stop
) -> InsertionOption:
    stops = _current_stops(problem, plan, nurse)
    leave = timeline.departure(problem, nurse)
    hint = _break_start(plan, nurse)
    _, _, base_travel, base_lateness = _layout_cost(problem, nurse, stops, leave, hint)
    best: InsertionOption | None = None
    for position in range(len(stops) + 1):
        trial = [*stops[:position], new_stop, *stops[position:]]
        feasible, starts, travel, lateness = _layout_cost(problem, nurse, trial, leave, hint)
        start = starts[position]
        own = max(0, start - new_stop.target) if new_stop.target is not None else 0
        if new_stop.latest is not None and start > new_stop.latest:
            feasible = False
        previous = stops[position - 1].location if position else leave.location
        eta = min(
            start, _arrival(problem, nurse, leave, previous, new_stop, starts, stops, position)
        )
        option = InsertionOption(
            nurse_id=nurse.id,
            position=position,
            eta=eta,
            start=start,
            lateness_seconds=own,
            added_travel_seconds=travel - base_travel,
            added_lateness_others_seconds=max(0, lateness - own - base_lateness),
            feasible=feasible,
            reason="" if feasible else "would break a planned window, her break or her shift",
        )
        if best is None or _rank(option) < _rank(best):
            best = option
    assert best is not None
    return best


def _arrival(
    problem: Problem,
    nurse: Nurse,
    leave: timeline.Departure,
    previous: int,
    new_stop: timeline.Stop,
    starts: list[int],
    stops: list[timeline.Stop],
    position: int,
) -> int:
    """When she would get to the new visit's door (before any wait for its window)."""
    if position == 0:
        ready = leave.time
    else:
        ready = starts[position - 1] + stops[position - 1].service_seconds
    return ready + problem.travel_seconds(nurse.profile, previous, new_stop.location)


def _break_start(plan: Plan, nurse: Nurse) -> int | None:
    """When the plan has this nurse's break start, if it has one still to take."""
    if nurse.break_rule is None or nurse.break_taken:
        return None
    try:
        route = plan.route(nurse.id)
    except KeyError:
        return None
    return next((s.start for s in route.steps if s.type == StepType.BREAK), None)


def _rank(option: InsertionOption) -> tuple[bool, int, int, int]:
    return (
        not option.feasible,
        option.lateness_seconds,
        option.added_lateness_others_seconds,
        option.added_travel_seconds,
    )
