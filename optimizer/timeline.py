"""From an ordered list of stops to a timed route: the one place that turns order into times.

The solver, `evaluate` and the insertion quote all lay out routes here, so a plan's times mean
the same wherever they come from. The independent checker (`checker.py`) does not use this
module: it re-derives every rule from the problem on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from optimizer.model import Nurse, Problem, Visit
from optimizer.plan import Route, Step, StepType, Violation

__all__ = [
    "Departure",
    "Stop",
    "TimedStop",
    "departure",
    "end_margin",
    "locked_prefix",
    "route",
    "simulate",
    "soft_end",
    "within_links",
]


@dataclass(frozen=True, slots=True)
class Stop:
    """A stop to lay out: a visit, or a restock at the base."""

    kind: StepType
    location: int
    service_seconds: int
    earliest: int
    latest: int | None = None
    target: int | None = None
    visit_id: str | None = None
    materials: dict[str, int] = field(default_factory=dict)
    not_before: int = 0
    #: The objective's soft bound on its start (`soft_end`): each second past ``soft_end``
    #: costs ``soft_cost_per_second`` (``None``: no soft bound).
    soft_end: int | None = None
    soft_cost_per_second: int = 0
    #: A call with an urgency target (``target``), not planned care.
    is_call: bool = False


@dataclass(frozen=True, slots=True)
class TimedStop:
    """A stop with its times."""

    stop: Stop
    travel_seconds: int
    arrival: int
    start: int
    break_before: tuple[int, int] | None
    break_at_arrival: bool = False


@dataclass(frozen=True, slots=True)
class Departure:
    """Where and when a nurse's open (re-plannable) part of the night begins."""

    location: int
    time: int


def stop_for(problem: Problem, visit: Visit, *, not_before: int = 0) -> Stop:
    """The stop for ``visit``: its hard window (planned care) or soft target (unplanned),
    with the objective's soft bound on its start (`soft_end`)."""
    now = problem.now or 0
    bound = soft_end(problem, visit)
    soft_end_at, soft_rate = bound if bound is not None else (None, 0)
    if problem.is_planned_care(visit):
        assert visit.window is not None
        # A soft end: up to the tolerance past window.end is allowed at a cost per minute
        # (the target), past that the end is hard again (latest).
        soft = visit.late_tolerance_seconds > 0
        stop = Stop(
            kind=StepType.VISIT,
            location=visit.location,
            service_seconds=visit.service_seconds,
            earliest=max(visit.window.start, now),
            latest=min(visit.window.end + visit.late_tolerance_seconds, problem.night.horizon),
            target=visit.window.end if soft else None,
            visit_id=visit.id,
            materials=dict(visit.materials),
            not_before=not_before,
            soft_end=soft_end_at,
            soft_cost_per_second=soft_rate,
        )
    else:
        target = problem.target(visit)
        stop = Stop(
            kind=StepType.VISIT,
            location=visit.location,
            service_seconds=visit.service_seconds,
            earliest=max(target.start, now),
            # A promise the partner was given holds: a hard end (`replan.hold_promises`).
            latest=visit.promised_by,
            target=target.end,
            visit_id=visit.id,
            is_call=True,
            materials=dict(visit.materials),
            not_before=not_before,
            soft_end=soft_end_at,
            soft_cost_per_second=soft_rate,
        )
    return within_links(problem, visit, stop)


def within_links(
    problem: Problem,
    visit: Visit,
    stop: Stop,
    planned: Mapping[str, int | tuple[int, int]] | None = None,
) -> Stop:
    """``stop`` narrowed to the gap its dependencies leave after (or before) a partner whose
    start is fixed: one that has started (a live re-plan keeps the check inside its gap after
    the injection), or one at its start in ``planned`` (visit id -> start, or a two-person
    visit's earliest and latest start: the gap holds from both, the quote)."""
    if not problem.dependencies:
        return stop
    earliest, latest = stop.earliest, stop.latest
    for link in problem.dependencies_of(visit.id):
        partner = problem.visit(link.first if link.second == visit.id else link.second)
        if partner.is_locked and partner.started_at is not None:
            first = last = partner.started_at
        elif planned is not None and partner.id in planned:
            fixed = planned[partner.id]
            first, last = fixed if isinstance(fixed, tuple) else (fixed, fixed)
        else:
            continue
        if link.second == visit.id:
            low, high = last + link.min_seconds, first + link.max_seconds
        else:
            low, high = last - link.max_seconds, first - link.min_seconds
        earliest = max(earliest, low)
        latest = high if latest is None else min(latest, high)
    if (earliest, latest) == (stop.earliest, stop.latest):
        return stop
    return replace(stop, earliest=earliest, latest=latest)


def end_margin(problem: Problem, visit: Visit) -> tuple[int, int] | None:
    """``(bound, cost per minute)`` for planned care with a hard window end and a margin
    (`Visit.end_margin_seconds`): each minute its start is past ``bound`` (the window's end
    less the margin) costs that much. ``None`` for other visits: unplanned care, and planned
    care with a tolerance, whose soft end already leaves room past the window."""
    if (
        not problem.is_planned_care(visit)
        or visit.window is None
        or visit.late_tolerance_seconds > 0
        or visit.end_margin_seconds <= 0
        or visit.end_margin_cost_per_minute <= 0
    ):
        return None
    return visit.window.end - visit.end_margin_seconds, visit.end_margin_cost_per_minute


def soft_end(problem: Problem, visit: Visit) -> tuple[int, int] | None:
    """``(bound, cost per second)``: the soft upper bound the objective puts on ``visit``'s
    start (seconds from the night's start), each second past it costing that much; ``None``
    when it has none. A call: its class's aim (`UrgencyClass.aim_seconds`, else its target)
    at its lateness rate; planned care with a tolerance: its window's end at its own rate;
    planned care with a hard end: the margin before it (`end_margin`). The routing model
    (which also holds a call to its promise) and the quote rank by the same bound.

    The rate is per minute, rounded up to whole objective units per second (the model's
    time dimension costs seconds in whole units): 1000 a minute costs 17 a second. The
    quote prices it so too; it took the rate as it stood (16.67 a second) and ranked places
    2 % off the search at 1000 a minute, 33 % at 90."""
    bound = _soft_end_per_minute(problem, visit)
    if bound is None:
        return None
    return bound[0], -(-bound[1] // 60)


def _soft_end_per_minute(problem: Problem, visit: Visit) -> tuple[int, int] | None:
    """`soft_end` with its rate per minute, as the problem gives it."""
    if problem.is_planned_care(visit):
        if visit.late_tolerance_seconds > 0:
            assert visit.window is not None
            rate = visit.late_cost_per_minute
            return (visit.window.end, rate) if rate > 0 else None
        margin = end_margin(problem, visit)
        return (max(0, margin[0]), margin[1]) if margin is not None else None
    urgency = problem.urgency_classes[visit.urgency]
    target = problem.target(visit).end
    if urgency.lateness_cost_per_minute <= 0:
        return None
    if urgency.aim_seconds is not None:
        # Ahead of the target, so the plan leaves room for the night's noise.
        target = min(target, (visit.call_time or 0) + urgency.aim_seconds)
    return target, urgency.lateness_cost_per_minute


def restock_stop(problem: Problem, *, not_before: int = 0) -> Stop:
    """A restock stop at the team's base."""
    return Stop(
        kind=StepType.RESTOCK,
        location=problem.night.base_location,
        service_seconds=problem.night.restock_seconds,
        earliest=0,
        not_before=not_before,
    )


def locked_prefix(problem: Problem, nurse: Nurse) -> list[Visit]:
    """The visits this nurse has started or finished tonight, in the order she did them."""
    return problem.locked_visits_by_nurse.get(nurse.id, [])


def departure(problem: Problem, nurse: Nurse) -> Departure:
    """Where and when the nurse's re-plannable night begins (live state, or her shift start)."""
    prefix = locked_prefix(problem, nurse)
    location = nurse.start_location
    time = nurse.shift.start
    if prefix:
        last = prefix[-1]
        location = last.location
        time = max(time, (last.started_at or 0) + last.service_seconds)
    if nurse.current_location is not None:
        location = nurse.current_location
    if nurse.available_at is not None:
        time = max(time, nurse.available_at)
    if problem.now is not None:
        time = max(time, problem.now)
    return Departure(location=location, time=time)


def simulate(
    matrix: Sequence[Sequence[float]],
    start: Departure,
    stops: Sequence[Stop],
    *,
    break_duration: int = 0,
    break_window: tuple[int, int] | None = None,
    break_start: int | None = None,
) -> tuple[list[TimedStop], tuple[int, int] | None, int]:
    """Lay out ``stops`` as early as their rules allow.

    Returns the timed stops, the break interval (or ``None`` if it could not be placed), and
    the moment the last stop ends. With ``break_start`` given (the solver's choice) the break
    goes into the gap that holds it; otherwise it is taken as soon as its window opens.
    """
    timed: list[TimedStop] = []
    location, clock = start.location, start.time
    placed: tuple[int, int] | None = None
    for stop in stops:
        item, clock, placed = advance(
            matrix, location, clock, placed, stop, break_duration, break_window, break_start
        )
        timed.append(item)
        location = stop.location
    return timed, final_break(clock, placed, break_duration, break_window, break_start), clock


def advance(
    matrix: Sequence[Sequence[float]],
    location: int,
    clock: int,
    placed: tuple[int, int] | None,
    stop: Stop,
    break_duration: int,
    break_window: tuple[int, int] | None,
    break_start: int | None,
) -> tuple[TimedStop, int, tuple[int, int] | None]:
    """One step of `simulate`: from ``location`` free at ``clock`` (the break ``placed`` or
    not yet) to ``stop``; its timed stop, the clock when it ends, and the break.

    What follows depends only on (location, clock, placed), and, while the break is not
    placed, on ``break_start``: the quote resumes a layout from any stop of another."""
    travel = math.ceil(matrix[location][stop.location])
    arrival = clock + travel
    break_here: tuple[int, int] | None = None
    at_arrival = False
    if placed is None and break_window is not None:
        window_start, latest_start = break_window[0], break_window[1] - break_duration
        if break_start is not None:
            take = break_start <= max(stop.not_before, arrival, stop.earliest)
            wanted = break_start
        else:
            take = max(arrival, stop.earliest, stop.not_before) > window_start
            wanted = window_start
        if take:
            # Before the drive (at the previous stop) or after it (waiting at this stop):
            # whichever lets this visit start earlier; the solver may have chosen either.
            before = max(
                clock, window_start, min(wanted, stop.not_before - travel - break_duration)
            )
            after = max(arrival, window_start, min(wanted, stop.not_before - break_duration))
            begin_before = max(before + break_duration + travel, stop.earliest, stop.not_before)
            begin_after = max(after + break_duration, stop.earliest, stop.not_before)
            options = [
                (begin_before, 0, before, False),
                (begin_after, 1, after, True),
            ]
            valid = [o for o in options if o[2] <= latest_start]
            if valid:
                _, _, at, at_arrival = min(valid)
                break_here = (at, at + break_duration)
                placed = break_here
                arrival = arrival if at_arrival else break_here[1] + travel
    ready = break_here[1] if (break_here is not None and at_arrival) else arrival
    begin = max(ready, stop.earliest, stop.not_before)
    item = TimedStop(stop, travel, arrival, begin, break_here, at_arrival)
    return item, begin + stop.service_seconds, placed


def final_break(
    clock: int,
    placed: tuple[int, int] | None,
    break_duration: int,
    break_window: tuple[int, int] | None,
    break_start: int | None,
) -> tuple[int, int] | None:
    """The break of a layout whose last stop ends at ``clock``: ``placed``, or after the
    last stop if it still fits its window."""
    if placed is None and break_window is not None:
        at = max(clock, break_window[0] if break_start is None else max(break_start, clock))
        if at + break_duration <= break_window[1]:
            return (at, at + break_duration)
    return placed


def route(
    problem: Problem,
    nurse: Nurse,
    stops: Sequence[Stop],
    *,
    break_start: int | None = None,
) -> tuple[Route, list[Violation]]:
    """The full timed route of ``nurse``: start, locked history, ``stops``, break, end.

    Rules broken by the layout (a missed window, past the shift end, an empty bag, a break
    that does not fit) come back as violations; nothing is silently moved.
    """
    violations: list[Violation] = []
    matrix = problem.matrix(nurse.profile)
    steps: list[Step] = [
        Step(
            type=StepType.START,
            location=nurse.start_location,
            arrival=nurse.shift.start,
            start=nurse.shift.start,
            end=nurse.shift.start,
            load=dict(nurse.bag),
        )
    ]
    travel_total = 0
    location = nurse.start_location
    clock = nurse.shift.start
    for visit in locked_prefix(problem, nurse):
        travel = math.ceil(matrix[location][visit.location])
        travel_total += travel
        begun = visit.started_at or 0
        steps.append(
            Step(
                type=StepType.VISIT,
                visit_id=visit.id,
                location=visit.location,
                travel_seconds=travel,
                arrival=min(begun, clock + travel),
                waiting_seconds=max(0, begun - (clock + travel)),
                start=begun,
                end=begun + visit.service_seconds,
                lateness_seconds=_lateness(problem, visit, begun),
            )
        )
        location, clock = visit.location, begun + visit.service_seconds

    leave = departure(problem, nurse)
    rule = nurse.break_rule if not nurse.break_taken else None
    timed, placed, finish = simulate(
        matrix,
        leave,
        stops,
        break_duration=rule.duration_seconds if rule else 0,
        break_window=(rule.window.start, rule.window.end) if rule else None,
        break_start=break_start,
    )
    if rule is not None and placed is None and break_start is not None:
        # The hinted place is never reached in time. Laid out as early as the rules allow, a
        # route the search timed with waits can pass its latest start before the moment the
        # search chose: then the last gap before that moment, after a stop, is the nearest to
        # the search's choice (R04b on a fast machine: pushed back to the window's opening
        # instead, the break made two later visits miss their windows, and the fill refused
        # six visits that fit). Failing that, as soon as the window opens.
        latest_start = rule.window.end - rule.duration_seconds
        gaps = [
            item.start + item.stop.service_seconds
            for item in timed
            if rule.window.start
            <= item.start + item.stop.service_seconds
            <= min(latest_start, break_start)
        ]
        for hint in [max(gaps), None] if gaps else [None]:
            timed, placed, finish = simulate(
                matrix,
                leave,
                stops,
                break_duration=rule.duration_seconds,
                break_window=(rule.window.start, rule.window.end),
                break_start=hint,
            )
            if placed is not None:
                break
    load = {item: nurse.contents_now(item) for item in nurse.bag}
    here = leave.location  # where she is now: the live position, not the last visit's door
    for item_stop in timed:
        stop = item_stop.stop
        travel, arrival = item_stop.travel_seconds, item_stop.arrival
        if item_stop.break_before is not None:
            if item_stop.break_at_arrival:
                # She drives there first and takes the break while waiting at the door.
                steps.append(_break_step(stop.location, item_stop.break_before, travel, arrival))
                travel, arrival = 0, item_stop.break_before[1]
            else:
                steps.append(_break_step(here, item_stop.break_before))
        if stop.kind == StepType.RESTOCK:
            load = dict(nurse.bag)
        for item, quantity in stop.materials.items():
            load[item] = load.get(item, 0) - quantity
            if load[item] < 0:
                violations.append(
                    Violation(
                        code="bag_empty",
                        message=f"the night bag has no {item} left for visit {stop.visit_id}",
                        visit_id=stop.visit_id,
                        nurse_id=nurse.id,
                    )
                )
        lateness = 0
        if stop.target is not None:
            lateness = max(0, item_stop.start - stop.target)
        if stop.latest is not None and item_stop.start > stop.latest:
            lateness = item_stop.start - (stop.target if stop.target is not None else stop.latest)
            violations.append(
                Violation(
                    code="window_missed",
                    message=(
                        f"visit {stop.visit_id} starts {problem.night.clock(item_stop.start)}, "
                        f"after its window closes at {problem.night.clock(stop.latest)}"
                    ),
                    visit_id=stop.visit_id,
                    nurse_id=nurse.id,
                )
            )
        travel_total += item_stop.travel_seconds
        steps.append(
            Step(
                type=stop.kind,
                visit_id=stop.visit_id,
                location=stop.location,
                travel_seconds=travel,
                arrival=arrival,
                waiting_seconds=item_stop.start - arrival,
                start=item_stop.start,
                end=item_stop.start + stop.service_seconds,
                lateness_seconds=lateness,
                load=dict(load),
            )
        )
        here = stop.location
    last_location = stops[-1].location if stops else leave.location
    if rule is not None:
        if placed is None:
            violations.append(
                Violation(
                    code="break_missed",
                    message=(
                        f"no room for {nurse.id}'s {rule.duration_seconds // 60}-minute break "
                        f"between {problem.night.clock(rule.window.start)} and "
                        f"{problem.night.clock(rule.window.end)}"
                    ),
                    nurse_id=nurse.id,
                )
            )
        elif not any(t.break_before for t in timed):
            steps.append(_break_step(last_location, placed))
            finish = max(finish, placed[1])
    travel_home = math.ceil(matrix[last_location][nurse.end_location])
    travel_total += travel_home
    back = max(finish, leave.time) + travel_home
    steps.append(
        Step(
            type=StepType.END,
            location=nurse.end_location,
            travel_seconds=travel_home,
            arrival=back,
            start=back,
            end=back,
        )
    )
    if back > nurse.shift.end:
        violations.append(
            Violation(
                code="shift_overrun",
                message=(
                    f"{nurse.id} is back at {problem.night.clock(back)}, after her shift ends "
                    f"at {problem.night.clock(nurse.shift.end)}"
                ),
                nurse_id=nurse.id,
            )
        )
    steps, travel_total = _with_drives_under_way(matrix, steps, travel_total)
    visits = sum(1 for s in steps if s.type == StepType.VISIT)
    result = Route(nurse_id=nurse.id, steps=steps, travel_seconds=travel_total, visit_count=visits)
    return result, violations


def _with_drives_under_way(
    matrix: Sequence[Sequence[float]], steps: list[Step], travel_total: int
) -> tuple[list[Step], int]:
    """``steps`` with each step laid out as reached without a drive, though its place is not
    the previous step's, given the drive from there (seconds, the matrix's), and the route's
    travel with it.

    The live state puts a nurse on her way to a visit at its door (`optimizer.live.state_at`)
    and one on her way home at home, so the layout finds no drive left; yet a step's
    ``travel_seconds`` is the drive from the previous step's place, the leg the phone and the
    board draw. With 0 there her phone read "0 min, 3.2 km" for the drive she was on, the
    board drew no travel before the visit, and the route's travel left it out. Its times are
    unchanged: she set out before the re-plan, so ``arrival - travel_seconds`` may lie before
    the moment it was made."""
    result = steps[:1]
    for step in steps[1:]:
        origin = result[-1].location
        if step.travel_seconds == 0 and step.location != origin:
            drive = math.ceil(matrix[origin][step.location])
            if drive > 0:
                step = step.model_copy(update={"travel_seconds": drive})
                travel_total += drive
        result.append(step)
    return result, travel_total


def _break_step(
    location: int, interval: tuple[int, int], travel: int = 0, arrival: int | None = None
) -> Step:
    arrived = interval[0] if arrival is None else arrival
    return Step(
        type=StepType.BREAK,
        location=location,
        travel_seconds=travel,
        arrival=arrived,
        waiting_seconds=interval[0] - arrived,
        start=interval[0],
        end=interval[1],
    )


def _lateness(problem: Problem, visit: Visit, start: int) -> int:
    target = problem.target(visit)
    return max(0, start - target.end)
