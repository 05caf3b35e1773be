"""Insertion quotes: where could a new visit go tonight, and what would it cost?

A triage partner asks "can the night nurse be there within 30 minutes?". Answering must not
wait for a full solve, so for each nurse we try the new visit at every place in her current
route, lay the route out again, and keep her best feasible place. Pure Python on plain
tuples, because it runs on the request path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Nurse, Problem, Visit, VisitState
from optimizer.plan import Plan, StepType

__all__ = ["InsertionOption", "promised", "quote"]


@dataclass(frozen=True, slots=True)
class InsertionOption:
    """One nurse's best place for the new visit: before her ``position``-th open stop (visits
    and restocks still to come), after a restock at the base when ``restock_before``; ``eta``
    and ``start`` are the arrival and start a plan with it would show."""

    nurse_id: str
    position: int
    eta: int
    start: int
    lateness_seconds: int
    added_travel_seconds: int
    added_lateness_others_seconds: int
    feasible: bool
    reason: str = ""
    restock_before: bool = False
    #: Where the layout moved her break to (it had not begun): after the new visit instead
    #: of before it, as a re-plan would; ``None``: her break stays where the plan has it.
    break_start: int | None = None
    #: Her open stops in their new order (visit ids, ``"restock"``) when the option also
    #: moves one of her other stops (``position`` is then the new visit's index in it);
    #: ``None``: the new visit is inserted at ``position`` and nothing else moves.
    sequence: tuple[str, ...] | None = None


def quote(problem: Problem, plan: Plan, visit: Visit) -> list[InsertionOption]:
    """Every eligible nurse's best insertion of ``visit`` into ``plan``, best first.

    ``visit.location`` must index the problem's matrices. Ranking: feasible first, then the
    new visit's own lateness past its target, then lateness caused to others, then added
    travel. Planned windows and shift ends are hard; the break is kept.
    """
    eligible = {n.id for n in eligible_nurses(problem, visit)}
    new_stop = timeline.stop_for(problem, visit)
    if problem.dependencies_of(visit.id):
        # A linked partner already in the plan stays where it is: the new visit must fit the
        # gap around it, and go to another nurse where the link asks for that.
        new_stop = timeline.within_links(problem, visit, new_stop, _planned_starts(plan))
        for link in problem.dependencies_of(visit.id):
            other = link.second if link.first == visit.id else link.first
            holders = set(plan.assignments().get(other, []))
            if link.nurse == "different":
                eligible -= holders
            elif link.nurse == "same" and holders:
                eligible &= holders
    options: list[InsertionOption] = []
    for nurse in problem.nurses:
        if nurse.id not in eligible:
            continue
        options.append(_best_for(problem, plan, nurse, new_stop, visit))
    if visit.nurses_needed == 2 and sum(o.feasible for o in options) < 2:
        # One nurse alone cannot do a two-person visit: no option is feasible on its own.
        options = [
            dataclasses.replace(
                o, feasible=False, reason=o.reason or "needs a second nurse who can be there too"
            )
            for o in options
        ]
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


def promised(
    problem: Problem, visit: Visit, options: Sequence[InsertionOption]
) -> InsertionOption | None:
    """The option a plan takes for ``visit``, and the one triage promises: for a call with
    an urgency target the soonest arrival on site (ties: the quote's order); otherwise the
    quote's best. ``None`` when no option is feasible.

    One choice for both: triage answered "nurse N2 in 4 minutes" while the first answer,
    taking the quote's cheapest option, sent N1 in 24 (simulated nights of issue 11)."""
    feasible = [o for o in options if o.feasible]
    if not feasible:
        return None
    if visit.call_time is None or problem.urgency_classes[visit.urgency].target_seconds is None:
        return feasible[0]
    return min(feasible, key=lambda o: o.eta)  # min keeps the first of equal arrivals


def _planned_starts(plan: Plan) -> dict[str, int]:
    """Visit id -> its start in ``plan`` (the first nurse's, for a two-person visit)."""
    starts: dict[str, int] = {}
    for route in plan.routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id is not None:
                starts.setdefault(step.visit_id, step.start)
    return starts


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
                # Keep two-person and linked visits where they were planned (their partner
                # waits, or is timed from them).
                links = problem.dependencies_of(visit.id)
                hold = step.start if visit.nurses_needed == 2 or links else 0
                stop = timeline.stop_for(problem, visit, not_before=hold)
                if links:
                    # Pushed past its gap around a planned partner reads as past its window.
                    stop = timeline.within_links(problem, visit, stop, _planned_starts(plan))
                stops.append(stop)
    return stops


@dataclass(frozen=True, slots=True)
class _Layout:
    """One nurse's stops laid out as `timeline.route` lays them out, with what they break."""

    timed: list[timeline.TimedStop]
    travel: int
    lateness: int
    late: frozenset[int]  # stops past a hard window, or a two-person visit past its partner
    short: frozenset[tuple[int, str]]  # (stop index, item) where the bag has none left
    break_missed: bool
    overrun: bool


def _layout(
    problem: Problem,
    nurse: Nurse,
    stops: list[timeline.Stop],
    leave: timeline.Departure,
    break_hint: int | None,
) -> _Layout:
    """Lay out ``stops`` exactly as a plan does (`timeline.route`): the break where the plan
    has it or, if it no longer fits there, as soon as its window opens."""
    matrix = problem.matrix(nurse.profile)
    rule = nurse.break_rule if not nurse.break_taken else None
    window = (rule.window.start, rule.window.end) if rule else None
    duration = rule.duration_seconds if rule else 0
    timed, placed, finish = timeline.simulate(
        matrix, leave, stops, break_duration=duration, break_window=window, break_start=break_hint
    )
    if rule is not None and placed is None and break_hint is not None:
        timed, placed, finish = timeline.simulate(
            matrix, leave, stops, break_duration=duration, break_window=window
        )
    travel = 0
    lateness = 0
    late: set[int] = set()
    short: set[tuple[int, str]] = set()
    load = {item: nurse.contents_now(item) for item in nurse.bag}
    tolerance = problem.night.sync_tolerance_seconds
    for index, item in enumerate(timed):
        travel += item.travel_seconds
        stop = item.stop
        if stop.latest is not None and item.start > stop.latest:
            late.add(index)
        if stop.not_before and item.start > stop.not_before + tolerance:
            late.add(index)  # a two-person visit pushed past its partner: a re-plan matter
        if stop.target is not None:
            lateness += max(0, item.start - stop.target)
        if stop.kind == StepType.RESTOCK:
            load = dict(nurse.bag)
        for name, quantity in stop.materials.items():
            load[name] = load.get(name, 0) - quantity
            if load[name] < 0:
                short.add((index, name))
    last = stops[-1].location if stops else leave.location
    if rule is not None and placed is not None and not any(t.break_before for t in timed):
        finish = max(finish, placed[1])
    back = max(finish, leave.time) + math.ceil(matrix[last][nurse.end_location])
    return _Layout(
        timed=timed,
        travel=travel + math.ceil(matrix[last][nurse.end_location]),
        lateness=lateness,
        late=frozenset(late),
        short=frozenset(short),
        break_missed=rule is not None and placed is None,
        overrun=back > nurse.shift.end,
    )


def _what_breaks(base: _Layout, trial: _Layout, position: int, inserted: int = 1) -> str:
    """The first rule that inserting ``inserted`` stops at ``position`` (the new visit last)
    breaks and the route kept; "" if none."""
    new = position + inserted - 1
    was_short = {(i + inserted * (i >= position), item) for i, item in base.short}
    for index, item in sorted(trial.short - was_short):
        if index == new:
            return f"her night bag has no {item} left"
        return f"her night bag would run out of {item} for a later visit"
    was_late = {i + inserted * (i >= position) for i in base.late}
    for index in sorted(trial.late - was_late):
        if index == new:
            return "she cannot be there inside its window"
        later = trial.timed[index].stop.visit_id or "a restock"
        return f"{later} would miss its window or its partner"
    if trial.break_missed and not base.break_missed:
        return "no room left for her break"
    if trial.overrun and not base.overrun:
        return "she would be back after her shift ends"
    return ""


def _moves_a_pin(
    problem: Problem, nurse: Nurse, stops: list[timeline.Stop], position: int, visit: Visit
) -> str:
    """The stop the insertion at ``position`` moves off its place: a pinned visit, or the
    visit she is driving to (both must stay where they are); "" if none."""
    done = len(timeline.locked_prefix(problem, nurse))
    ids = [s.visit_id for s in stops if s.kind == StepType.VISIT and s.visit_id is not None]
    ids.insert(sum(1 for s in stops[:position] if s.kind == StepType.VISIT), visit.id)
    for index, visit_id in enumerate(ids):
        current = visit if visit_id == visit.id else problem.visit(visit_id)
        if current.state == VisitState.EN_ROUTE and index != 0:
            return f"{visit_id}, which she is driving to"
        pin = current.pin
        if pin is not None and pin.position is not None and done + index != pin.position:
            return f"{visit_id}, pinned as her stop {pin.position}"
    return ""


def _best_for(
    problem: Problem, plan: Plan, nurse: Nurse, new_stop: timeline.Stop, visit: Visit
) -> InsertionOption:
    stops = _current_stops(problem, plan, nurse)
    leave = timeline.departure(problem, nurse)
    hint = _break_start(plan, nurse)
    base = _layout(problem, nurse, stops, leave, hint)
    best: InsertionOption | None = None
    restock = timeline.restock_stop(problem)
    for position in range(len(stops) + 1):
        with_new = [*stops[:position], new_stop, *stops[position:]]
        trial = _layout(problem, nurse, with_new, leave, hint)
        broken = _what_breaks(base, trial, position)
        inserted = 1
        moved_break = _break_after(problem, nurse, with_new, position, leave, trial)
        if moved_break is not None:
            # Her break has not begun: a re-plan may take it after the new visit rather than
            # keep her from it (a call held back by a break that could wait was refused).
            later = _layout(problem, nurse, with_new, leave, moved_break)
            if not _what_breaks(base, later, position) and (
                broken or later.timed[position].start < trial.timed[position].start
            ):
                trial, broken = later, ""
            else:
                moved_break = None
        if broken.startswith("her night bag has no") and problem.night.restocks_allowed:
            # Empty-handed she cannot do it; after a restock at the base she might.
            refilled = _layout(
                problem,
                nurse,
                [*stops[:position], restock, new_stop, *stops[position:]],
                leave,
                hint,
            )
            if not _what_breaks(base, refilled, position, 2):
                trial, broken, inserted, moved_break = refilled, "", 2, None
        moved = "" if broken else _moves_a_pin(problem, nurse, stops, position, visit)
        broken = broken or (f"it would move {moved}" if moved else "")
        option = _option(
            nurse,
            position,
            position + inserted - 1,
            new_stop,
            trial,
            base,
            feasible=not broken,
            reason=broken,
            restock_before=inserted == 2,
            break_start=moved_break,
        )
        if best is None or _rank(option) < _rank(best):
            best = option
    assert best is not None
    if best.lateness_seconds > 0 or not best.feasible:
        reordered = _best_with_one_move(problem, nurse, stops, new_stop, leave, hint, base)
        if reordered is not None and _rank(reordered) < _rank(best):
            return reordered
    return best


_RESTOCK_ID = "restock"


def _best_with_one_move(
    problem: Problem,
    nurse: Nurse,
    stops: list[timeline.Stop],
    new_stop: timeline.Stop,
    leave: timeline.Departure,
    hint: int | None,
    base: _Layout,
) -> InsertionOption | None:
    """Her best place for the new visit when one other stop of hers may move as well, as a
    re-plan's re-ordering would: where inserting alone makes a later visit miss its window
    (or its tolerance), that visit moves up to just after the new one, or a stop between
    them moves to just after it. ``None`` when no such order breaks nothing.

    Bounded: only when plain insertion is late or infeasible, and only at the places where
    the new visit itself would be in time (the first few): O(stops) layouts per place."""
    movable = [
        i
        for i, stop in enumerate(stops)
        if stop.kind == StepType.VISIT
        and stop.visit_id is not None
        and not stop.not_before
        and not problem.dependencies_of(stop.visit_id)
        and problem.visit(stop.visit_id).state != VisitState.EN_ROUTE
        and problem.visit(stop.visit_id).pin is None
    ]
    best: InsertionOption | None = None
    for position in range(len(stops) + 1):
        with_new = [*stops[:position], new_stop, *stops[position:]]
        plain = _layout(problem, nurse, with_new, leave, hint)
        if new_stop.target is not None and plain.timed[position].start > new_stop.target:
            # Late here already: moving a later stop cannot bring it forward, and from the
            # positions after this one it is later still.
            break
        later = [i for i in sorted(plain.late) if i > position]
        if not later:
            continue
        first_late = later[0] - 1  # its index in ``stops``
        orders: list[list[int]] = []
        rest = list(range(len(stops)))
        if first_late in movable:
            for target in range(position, first_late):
                order = [i for i in rest if i != first_late]
                order.insert(target, first_late)
                orders.append(order)
        for between in range(position, first_late):
            if between in movable:
                order = [i for i in rest if i != between]
                order.insert(order.index(first_late) + 1, between)
                orders.append(order)
        for order in orders:
            # Stops before ``position`` stay in front, so the new visit keeps its index.
            new_at = position
            sequence = [stops[i] for i in order]
            sequence.insert(new_at, new_stop)
            ids = [_stop_id(s) for s in sequence]
            if _order_moves_a_pin(problem, nurse, ids):
                continue
            trial = _layout(problem, nurse, sequence, leave, hint)
            if _breaks_by_id(base, stops, trial, sequence):
                continue
            option = _option(
                nurse, new_at, new_at, new_stop, trial, base, feasible=True, sequence=tuple(ids)
            )
            if best is None or _rank(option) < _rank(best):
                best = option
    return best


def _option(
    nurse: Nurse,
    position: int,
    index: int,
    new_stop: timeline.Stop,
    trial: _Layout,
    base: _Layout,
    **rest: Any,
) -> InsertionOption:
    """The option of the new stop at ``index`` of ``trial`` (``position`` as answered)."""
    placed = trial.timed[index]
    own = max(0, placed.start - new_stop.target) if new_stop.target is not None else 0
    # The arrival a plan shows: after a break taken at the door, when that break ends.
    eta = placed.arrival
    if placed.break_at_arrival and placed.break_before is not None:
        eta = placed.break_before[1]
    return InsertionOption(
        nurse_id=nurse.id,
        position=position,
        eta=eta,
        start=placed.start,
        lateness_seconds=own,
        added_travel_seconds=trial.travel - base.travel,
        added_lateness_others_seconds=max(0, trial.lateness - own - base.lateness),
        **rest,
    )


def _stop_id(stop: timeline.Stop) -> str:
    return stop.visit_id if stop.visit_id is not None else _RESTOCK_ID


def _order_moves_a_pin(problem: Problem, nurse: Nurse, ids: list[str]) -> bool:
    """Whether ``ids`` (her open stops in order) moves the visit she is driving to from the
    front or a pinned visit off its place."""
    done = len(timeline.locked_prefix(problem, nurse))
    visits = [i for i in ids if i != _RESTOCK_ID]
    for index, visit_id in enumerate(visits):
        current = problem.visit(visit_id)
        if current.state == VisitState.EN_ROUTE and index != 0:
            return True
        pin = current.pin
        if pin is not None and pin.position is not None and done + index != pin.position:
            return True
    return False


def _breaks_by_id(
    base: _Layout, stops: list[timeline.Stop], trial: _Layout, sequence: list[timeline.Stop]
) -> bool:
    """Whether the re-ordered ``trial`` breaks a rule the current route (``base`` of
    ``stops``) kept: a window, the bag, the break, the shift end (compared by stop)."""
    was_late = {_stop_id(stops[i]) for i in base.late}
    if any(_stop_id(sequence[i]) not in was_late for i in trial.late):
        return True
    was_short = {(_stop_id(stops[i]), item) for i, item in base.short}
    if any((_stop_id(sequence[i]), item) not in was_short for i, item in trial.short):
        return True
    if trial.break_missed and not base.break_missed:
        return True
    return trial.overrun and not base.overrun


def _break_after(
    problem: Problem,
    nurse: Nurse,
    stops: list[timeline.Stop],
    position: int,
    leave: timeline.Departure,
    laid: _Layout,
) -> int | None:
    """Her break's start right after the new visit (at ``position`` of ``stops``), when
    ``laid`` has her break, not yet begun, before that visit; else ``None``."""
    if nurse.break_rule is None or nurse.break_taken:
        return None
    if not any(t.break_before is not None for t in laid.timed[: position + 1]):
        return None
    matrix = problem.matrix(nurse.profile)
    timed, _placed, finish = timeline.simulate(matrix, leave, stops[: position + 1])
    if timed[-1].break_before is not None:
        return None
    return finish


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
