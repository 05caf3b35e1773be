"""Insertion quotes: where could a new visit go tonight, and what would it cost?

A triage partner asks "can the night nurse be there within 30 minutes?". Answering must not
wait for a full solve, so for each nurse we try the new visit at every place in her current
route, lay the route out again, and keep her best feasible place. Pure Python on plain
tuples, because it runs on the request path.
"""

from __future__ import annotations

import bisect
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
    #: What the option adds past the objective's soft bounds (`timeline.soft_end`: the new
    #: visit's past its aim, her other stops' past theirs, such as planned care into its
    #: tolerance), in sixtieths of the objective's units (`_cost`'s): 60 x its cost per
    #: second x seconds.
    soft_cost: int = 0
    #: Of ``added_lateness_others_seconds``, the seconds other calls are pushed past their
    #: urgency targets (the rest is planned care pushed into its tolerance).
    added_call_lateness_others_seconds: int = 0
    restock_before: bool = False
    #: Where the layout moved her break to (it had not begun): after the new visit instead
    #: of before it, as a re-plan would; ``None``: her break stays where the plan has it.
    break_start: int | None = None
    #: Her open stops in their new order (visit ids, ``"restock"``) when the option also
    #: moves one of her other stops (``position`` is then the new visit's index in it);
    #: ``None``: the new visit is inserted at ``position`` and nothing else moves.
    sequence: tuple[str, ...] | None = None


def quote(
    problem: Problem, plan: Plan, visit: Visit, *, spare_tolerance: bool = False
) -> list[InsertionOption]:
    """Every eligible nurse's best insertion of ``visit`` into ``plan``, best first.

    ``visit.location`` must index the problem's matrices. Ranking (`_rank`): feasible
    first, then the new visit's own lateness past its target, then other calls' lateness
    past theirs, then one cost as the search weighs it: added travel, for a call each
    minute to its start at its class's ``response_cost_per_minute``, and what the place
    adds past the objective's soft bounds (`timeline.soft_end`: planned care pushed into
    its tolerance, a call past its aim). ``spare_tolerance``: rank planned care pushed into
    its tolerance with other calls' lateness, ahead of cost (the calls answered together
    by `replan.insert_new_calls` fall back on it). Planned windows (with their tolerance)
    and shift ends are hard; the break is kept.
    """
    eligible = {n.id for n in eligible_nurses(problem, visit)}
    new_stop = timeline.stop_for(problem, visit)
    # Made once for every nurse's route (made per linked stop, it was a pass over the whole
    # plan for each of them, at every nurse).
    starts = _planned_starts(plan)
    one_of: set[str] = set()  # one of these nurses must be among a two-person visit's two
    if problem.dependencies_of(visit.id):
        # A linked partner already in the plan stays where it is: the new visit must fit the
        # gap around it, and go to another nurse where the link asks for that.
        new_stop = timeline.within_links(problem, visit, new_stop, starts)
        for link in problem.dependencies_of(visit.id):
            other = link.second if link.first == visit.id else link.first
            holders = set(plan.assignments().get(other, []))
            if link.nurse == "different":
                eligible -= holders
            elif link.nurse == "same" and holders:
                if visit.nurses_needed <= len(holders):
                    eligible &= holders
                else:
                    # A two-person visit after (or before) one nurse's care: she is one of
                    # the two, anyone who may do it the other.
                    one_of |= holders
    options: list[InsertionOption] = []
    for nurse in problem.nurses:
        if nurse.id not in eligible:
            continue
        options.append(_best_for(problem, plan, nurse, new_stop, visit, starts, spare_tolerance))
    if one_of and not any(o.feasible and o.nurse_id in one_of for o in options):
        options = [
            dataclasses.replace(
                o, feasible=False, reason=o.reason or "the link asks for the same nurse"
            )
            for o in options
        ]
    if visit.nurses_needed == 2 and sum(o.feasible for o in options) < 2:
        # One nurse alone cannot do a two-person visit: no option is feasible on its own.
        options = [
            dataclasses.replace(
                o, feasible=False, reason=o.reason or "needs a second nurse who can be there too"
            )
            for o in options
        ]
    response = _response_cost(problem, visit)
    options.sort(key=lambda o: (*_rank(o, response, spare_tolerance), o.eta))
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


def _planned_starts(plan: Plan) -> dict[str, tuple[int, int]]:
    """Visit id -> its earliest and latest start in ``plan`` (they differ only for a
    two-person visit, whose nurses start within the sync tolerance: a link's gap holds
    from both)."""
    starts: dict[str, tuple[int, int]] = {}
    for route in plan.routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id is not None:
                low, high = starts.get(step.visit_id, (step.start, step.start))
                starts[step.visit_id] = (min(low, step.start), max(high, step.start))
    return starts


def _current_stops(
    problem: Problem,
    plan: Plan,
    nurse: Nurse,
    planned_starts: dict[str, tuple[int, int]] | None = None,
) -> list[timeline.Stop]:
    """Her open stops in ``plan``, two-person and linked visits held where planned (a
    two-person visit from its earlier copy's start, as `fill` holds it). ``planned_starts``:
    `_planned_starts` of ``plan``, if the caller has it."""
    try:
        route = plan.route(nurse.id)
    except KeyError:
        return []
    stops = []
    now = problem.now or 0
    linked = bool(problem.dependencies)
    starts = planned_starts if planned_starts is not None else _planned_starts(plan)
    # Her started and finished visits (the only locked ones on her route), by id: one look
    # up per open visit instead of two per step of the night.
    locked = {v.id for v in timeline.locked_prefix(problem, nurse)}
    for step in route.steps:
        if step.type == StepType.RESTOCK:
            if step.start >= now:
                stops.append(timeline.restock_stop(problem))
        elif step.type == StepType.VISIT and step.visit_id is not None:
            if step.visit_id in locked:
                continue
            visit = problem.visit(step.visit_id)
            if not visit.is_locked:
                # Keep two-person and linked visits where they were planned (their partner
                # waits, or is timed from them). A two-person visit's copies both from the
                # earlier one's start, as the fill holds them: each held at her own, the
                # later could be pushed the tolerance past it while the earlier stayed, out
                # of step, and the quote offered a place the fill refused.
                links = problem.dependencies_of(visit.id) if linked else []
                hold = 0
                if visit.nurses_needed == 2:
                    hold = starts.get(visit.id, (step.start, step.start))[0]
                elif links:
                    hold = step.start
                stop = timeline.stop_for(problem, visit, not_before=hold)
                if links:
                    # Pushed past its gap around a planned partner reads as past its window.
                    stop = timeline.within_links(problem, visit, stop, starts)
                stops.append(stop)
    return stops


@dataclass(frozen=True, slots=True)
class _Layout:
    """One nurse's stops laid out as `timeline.route` lays them out, with what they break."""

    timed: list[timeline.TimedStop]
    travel: int
    lateness: int
    late: frozenset[int]  # stops past a hard window, or a two-person visit past its partner
    soft_cost: int  # `_past_soft_bounds` of its stops
    calls_late: int  # seconds its calls start past their urgency targets
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
    soft_cost, calls_late = _past_soft_bounds(timed)
    return _Layout(
        timed=timed,
        travel=travel + math.ceil(matrix[last][nurse.end_location]),
        lateness=lateness,
        late=frozenset(late),
        soft_cost=soft_cost,
        calls_late=calls_late,
        short=frozenset(short),
        break_missed=rule is not None and placed is None,
        overrun=back > nurse.shift.end,
    )


@dataclass(slots=True)
class _Trace:
    """Her current stops laid out with one break hint, kept stop by stop: a trial order
    resumes from the stop where it first differs and, once it is at the same place at the
    same time with the same break, takes the rest from here (``advance`` needs nothing
    else). Index ``i`` of ``clocks``/``placed`` is the state after stop ``i``."""

    hint: int | None
    timed: list[timeline.TimedStop]
    clocks: list[int]
    placed: list[tuple[int, int] | None]
    travel: list[int]  # travel[i]: of the first i stops
    lateness: list[int]  # lateness[i]: of the first i stops
    late: list[int]  # indices, ascending
    final: tuple[int, int] | None  # the break after the last stop (final_break)


class _Router:
    """One nurse's route for the quote: `_layout` of any order that differs from her
    current stops in one span, laid out only from that span until it agrees with the
    current layout again (the same figures as `_layout` of the whole order)."""

    def __init__(
        self, problem: Problem, nurse: Nurse, stops: list[timeline.Stop], hint: int | None
    ) -> None:
        self.nurse = nurse
        self.stops = stops
        self.matrix = problem.matrix(nurse.profile)
        rule = nurse.break_rule if not nurse.break_taken else None
        self.window = (rule.window.start, rule.window.end) if rule else None
        self.duration = rule.duration_seconds if rule else 0
        self.leave = timeline.departure(problem, nurse)
        self.hint = hint
        self.tolerance = problem.night.sync_tolerance_seconds
        self.traces: dict[int | None, _Trace] = {}
        self._free: _Trace | None = None
        self._slack: list[float] | None = None
        self._late_ids: set[str] | None = None
        # Stops that change the bag (materials, restocks): the only ones the bag pass reads.
        self.bag_stops = [i for i, s in enumerate(stops) if _touches_bag(s)]
        self.base_short: frozenset[tuple[int, str]] | None = None
        self.base_short = self._short(0, [], 0)
        self.base = self.layout(0, [], 0)
        #: The visit she is driving to, when her route starts with it.
        self.driving_to: str | None = None
        first = stops[0].visit_id if stops else None
        if first is not None and problem.visit(first).state == VisitState.EN_ROUTE:
            self.driving_to = first
        self._stops_on_the_way = self._break_on_the_way(self.base)

    def breaks_before_drive(self, laid: _Layout) -> bool:
        """Whether ``laid`` has her take her break before the drive to the visit she is
        driving to (she would stop on the way: the checker's ``en_route_moved``) where her
        current route does not. A break at that door on arrival is allowed."""
        return not self._stops_on_the_way and self._break_on_the_way(laid)

    def _break_on_the_way(self, laid: _Layout) -> bool:
        if self.driving_to is None:
            return False
        for item in laid.timed:
            if item.stop.visit_id == self.driving_to:
                return item.break_before is not None and not item.break_at_arrival
        return False

    def _trace(self, hint: int | None, window: tuple[int, int] | None) -> _Trace:
        timed: list[timeline.TimedStop] = []
        clocks: list[int] = []
        placed_after: list[tuple[int, int] | None] = []
        travel, lateness, late = [0], [0], []
        location, clock = self.leave.location, self.leave.time
        placed: tuple[int, int] | None = None
        matrix, ceil, timed_stop = self.matrix, math.ceil, timeline.TimedStop
        for index, stop in enumerate(self.stops):
            if placed is None and window is not None:
                item, clock, placed = timeline.advance(
                    matrix, location, clock, placed, stop, self.duration, window, hint
                )
            else:
                # No break left to place: `advance` without its break branch (as in `_run`).
                drive = ceil(matrix[location][stop.location])
                begin = max(clock + drive, stop.earliest, stop.not_before)
                item = timed_stop(stop, drive, clock + drive, begin, None)
                clock = begin + stop.service_seconds
            location = stop.location
            timed.append(item)
            clocks.append(clock)
            placed_after.append(placed)
            is_late, own = self._cost(item)
            travel.append(travel[-1] + item.travel_seconds)
            lateness.append(lateness[-1] + own)
            if is_late:
                late.append(index)
        final = timeline.final_break(clock, placed, self.duration, window, hint)
        return _Trace(hint, timed, clocks, placed_after, travel, lateness, late, final)

    def trace(self, hint: int | None) -> _Trace:
        found = self.traces.get(hint)
        if found is None:
            found = self.traces[hint] = self._trace(hint, self.window)
        return found

    def _cost(self, item: timeline.TimedStop) -> tuple[bool, int]:
        """Whether ``item`` is late (past a hard window or its partner), and its lateness."""
        stop = item.stop
        late = (stop.latest is not None and item.start > stop.latest) or bool(
            stop.not_before and item.start > stop.not_before + self.tolerance
        )
        return late, max(0, item.start - stop.target) if stop.target is not None else 0

    def layout(self, position: int, middle: list[timeline.Stop], resume: int) -> _Layout:
        """`_layout` of ``stops[:position] + middle + stops[resume:]``."""
        hint = self.hint
        trace = self.trace(hint)
        laid = self._run(trace, trace, position, middle, resume, hint)
        if self.window is not None and laid.final is None and hint is not None:
            # The hinted place no longer fits the new order: as soon as the window opens.
            trace = self.trace(None)
            laid = self._run(trace, trace, position, middle, resume, None)
        return self._finish(laid, position, middle, resume)

    def _run(
        self,
        prefix: _Trace,
        ref: _Trace,
        position: int,
        middle: list[timeline.Stop],
        resume: int,
        hint: int | None,
        head: tuple[timeline.TimedStop, int] | None = None,
    ) -> _Run:
        """Lay out ``middle`` and then ``stops[resume:]`` after ``prefix``'s first
        ``position`` stops (or after those and ``head``, a first middle stop laid out by the
        caller), taking the rest from ``ref`` once they agree."""
        timed = prefix.timed[:position]
        travel, lateness = prefix.travel[position], prefix.lateness[position]
        late = prefix.late[: bisect.bisect_left(prefix.late, position)]
        if position:
            location, clock = self.stops[position - 1].location, prefix.clocks[position - 1]
            placed = prefix.placed[position - 1]
        else:
            location, clock, placed = self.leave.location, self.leave.time, None
        matrix, duration, window = self.matrix, self.duration, self.window
        todo = middle
        if head is not None:
            item, clock = head
            todo = middle[1:]
            location = middle[0].location
            timed.append(item)
            is_late, own = self._cost(item)
            travel += item.travel_seconds
            lateness += own
            if is_late:
                late.append(len(timed) - 1)
        for stop in todo:
            item, clock, placed = timeline.advance(
                matrix, location, clock, placed, stop, duration, window, hint
            )
            location = stop.location
            timed.append(item)
            is_late, own = self._cost(item)
            travel += item.travel_seconds
            lateness += own
            if is_late:
                late.append(len(timed) - 1)
        shift = len(timed) - resume
        same_hint = window is None or hint == ref.hint
        stops = self.stops
        tolerance = self.tolerance
        timed_stop, ceil = timeline.TimedStop, math.ceil
        for index in range(resume, len(stops)):
            stop = stops[index]
            if placed is None and window is not None:
                item, clock, placed = timeline.advance(
                    matrix, location, clock, placed, stop, duration, window, hint
                )
            else:
                # No break left to place: `advance` without its break branch.
                travel_here = ceil(matrix[location][stop.location])
                arrival = clock + travel_here
                begin = max(arrival, stop.earliest, stop.not_before)
                item = timed_stop(stop, travel_here, arrival, begin, None)
                clock = begin + stop.service_seconds
            location = stop.location
            timed.append(item)
            travel += item.travel_seconds
            start = item.start
            if stop.target is not None and start > stop.target:
                lateness += start - stop.target
            if (stop.latest is not None and start > stop.latest) or (
                stop.not_before and start > stop.not_before + tolerance
            ):
                late.append(len(timed) - 1)
            if (
                clock == ref.clocks[index]
                and placed == ref.placed[index]
                and (same_hint or placed is not None)
            ):
                # Where the current layout is at this stop, at this time, with this break:
                # from here on the two are the same.
                rest = index + 1
                timed.extend(ref.timed[rest:])
                travel += ref.travel[-1] - ref.travel[rest]
                lateness += ref.lateness[-1] - ref.lateness[rest]
                late.extend(i + shift for i in ref.late[bisect.bisect_left(ref.late, rest) :])
                last = ref.clocks[-1]
                return _Run(timed, travel, lateness, late, last, ref.placed[-1], ref.final)
        final = timeline.final_break(clock, placed, duration, window, hint)
        return _Run(timed, travel, lateness, late, clock, placed, final)

    def _finish(
        self, laid: _Run, position: int, middle: list[timeline.Stop], resume: int
    ) -> _Layout:
        nurse, matrix = self.nurse, self.matrix
        last = laid.timed[-1].stop.location if laid.timed else self.leave.location
        home = math.ceil(matrix[last][nurse.end_location])
        finish = laid.clock
        if self.window is not None and laid.final is not None and laid.in_loop is None:
            finish = max(finish, laid.final[1])
        back = max(finish, self.leave.time) + home
        soft_cost, calls_late = _past_soft_bounds(laid.timed)
        return _Layout(
            timed=laid.timed,
            travel=laid.travel + home,
            lateness=laid.lateness,
            late=frozenset(laid.late),
            soft_cost=soft_cost,
            calls_late=calls_late,
            short=self._short(position, middle, resume),
            break_missed=self.window is not None and laid.final is None,
            overrun=back > nurse.shift.end,
        )

    def _short(
        self, position: int, middle: list[timeline.Stop], resume: int
    ) -> frozenset[tuple[int, str]]:
        """(index, item) where the bag has none left, in ``stops[:position] + middle +
        stops[resume:]``: only the stops that touch the bag are read."""
        shift = position + len(middle) - resume
        if self.base_short is not None and not any(_touches_bag(s) for s in middle):
            if not self.base_short:
                return self.base_short
            return frozenset(
                (i if i < position else i + shift, item)
                for i, item in self.base_short
                if i < position or i >= resume
            )
        nurse = self.nurse
        stops = self.stops
        load = {item: nurse.contents_now(item) for item in nurse.bag}
        short: set[tuple[int, str]] = set()
        touched = [
            *((i, stops[i]) for i in self.bag_stops if i < position),
            *((position + j, s) for j, s in enumerate(middle) if _touches_bag(s)),
            *((i + shift, stops[i]) for i in self.bag_stops if i >= resume),
        ]
        for index, stop in touched:
            if stop.kind == StepType.RESTOCK:
                load = dict(nurse.bag)
            for name, quantity in stop.materials.items():
                load[name] = load.get(name, 0) - quantity
                if load[name] < 0:
                    short.add((index, name))
        return frozenset(short)

    def bound(
        self,
        position: int,
        new_stop: timeline.Stop,
        restock: timeline.Stop | None,
        *,
        broken: bool = True,
        response: int = 0,
    ) -> tuple[bool, int, int, int]:
        """The best `_rank` an option of ``new_stop`` at ``position`` could have (also
        after ``restock``): its start as with no break at all (a break only delays), no one
        else late, its added travel (exact: a break adds none), and feasible unless even
        with no break at all it would break a rule the route kept (`broken_anyway`;
        with ``broken=False`` not asked: feasible). ``response``: the new visit's response
        cost per minute (`_cost`)."""
        matrix, stops = self.matrix, self.stops
        if position:
            here, clock = stops[position - 1].location, self.free_trace().clocks[position - 1]
        else:
            here, clock = self.leave.location, self.leave.time
        after = stops[position].location if position < len(stops) else self.nurse.end_location
        there = new_stop.location
        drive = math.ceil(matrix[here][there])
        back = math.ceil(matrix[there][after])
        onward = back - math.ceil(matrix[here][after])
        arrival, added = clock + drive, drive + onward
        if restock is not None:
            to_base = math.ceil(matrix[here][restock.location])
            from_base = math.ceil(matrix[restock.location][there])
            arrival = min(arrival, clock + to_base + restock.service_seconds + from_base)
            added = min(added, to_base + from_base + onward)
        start = max(arrival, new_stop.earliest, new_stop.not_before)
        own = max(0, start - new_stop.target) if new_stop.target is not None else 0
        if broken:
            broken = restock is None and self.broken_anyway(position, new_stop, start, back)
        return (broken, own, 0, _cost(added, start, response) + _own_soft_cost(new_stop, start))

    def bounds(
        self, new_stop: timeline.Stop, restock: timeline.Stop | None, response: int = 0
    ) -> list[tuple[tuple[bool, int, int, int], int]]:
        """(`bound`, position) for every place, as `bound` gives them one by one."""
        matrix, stops, nurse = self.matrix, self.stops, self.nurse
        if restock is not None:
            return [
                (self.bound(p, new_stop, restock, response=response), p)
                for p in range(len(stops) + 1)
            ]
        free = self.free_trace()
        slack = self.slack()
        there, service = new_stop.location, new_stop.service_seconds
        from_there = matrix[there]
        earliest = max(new_stop.earliest, new_stop.not_before)
        target, latest = new_stop.target, new_stop.latest
        own_late = latest if latest is not None else math.inf
        if new_stop.not_before:
            own_late = min(own_late, new_stop.not_before + self.tolerance)
        shift_end = math.inf if self.base.overrun else nurse.shift.end
        ceil = math.ceil
        here, clock = self.leave.location, self.leave.time
        out = []
        last = len(stops)
        for position in range(last + 1):
            after = stops[position].location if position < last else nurse.end_location
            row = matrix[here]
            drive = ceil(row[there])
            back = ceil(from_there[after])
            start = max(clock + drive, earliest)
            own = max(0, start - target) if target is not None else 0
            if start > own_late:
                broken = True
            elif position < last:
                broken = start + service + back - free.timed[position].start > slack[position]
            else:
                broken = start + service + back > shift_end
            added = drive + back - ceil(row[after])
            cost = _cost(added, start, response) + _own_soft_cost(new_stop, start)
            out.append(((broken, own, 0, cost), position))
            if position < last:
                here, clock = after, free.clocks[position]
        return out

    def order_broken_anyway(self, position: int, middle: list[timeline.Stop], resume: int) -> bool:
        """Whether ``stops[:position] + middle + stops[resume:]`` breaks a rule her current
        route kept, as `_breaks_by_id` reads it, even with no break at all (so in every
        layout): a stop of ``middle`` past a window it made (by id), a later stop past one
        it made (`slack`), or back after her shift."""
        matrix, stops, free = self.matrix, self.stops, self.free_trace()
        if self._late_ids is None:
            self._late_ids = {_stop_id(stops[i]) for i in self.base.late}
        was_late, tolerance = self._late_ids, self.tolerance
        if position:
            location, clock = stops[position - 1].location, free.clocks[position - 1]
        else:
            location, clock = self.leave.location, self.leave.time
        for stop in middle:
            begin = max(
                clock + math.ceil(matrix[location][stop.location]), stop.earliest, stop.not_before
            )
            if _stop_id(stop) not in was_late and (
                (stop.latest is not None and begin > stop.latest)
                or (stop.not_before and begin > stop.not_before + tolerance)
            ):
                return True
            location, clock = stop.location, begin + stop.service_seconds
        if resume == len(stops):
            back = clock + math.ceil(matrix[location][self.nurse.end_location])
            return not self.base.overrun and back > self.nurse.shift.end
        arrival = clock + math.ceil(matrix[location][stops[resume].location])
        return arrival - free.timed[resume].start > self.slack()[resume]

    def broken_anyway(self, position: int, new_stop: timeline.Stop, start: int, back: int) -> bool:
        """Whether ``new_stop`` at ``position``, starting at ``start`` with no break at all
        (then ``back`` seconds to the next stop or her end), breaks a rule her current
        route kept whatever her break does: it misses its own window, a later stop misses
        one it made (`slack`), or she is back after her shift. A break only delays, and
        every start only moves later with the clock, so what breaks with no break at all
        breaks in every layout `_best_for` tries (a restock first is not covered)."""
        if (new_stop.latest is not None and start > new_stop.latest) or (
            new_stop.not_before and start > new_stop.not_before + self.tolerance
        ):
            return True
        done = start + new_stop.service_seconds + back  # at the next stop, or at her end
        if position == len(self.stops):
            return not self.base.overrun and done > self.nurse.shift.end
        # Past the next stop's free start, her later stops start that much later, less what
        # their waits absorb.
        return done - self.free_trace().timed[position].start > self.slack()[position]

    def leave_free_end(self) -> int:
        """With no break, when she would be back at her end location (as `_layout` has it,
        before the break): the reference the slack after her last stop is measured from."""
        free = self.free_trace()
        clock = free.clocks[-1] if self.stops else self.leave.time
        return max(clock, self.leave.time)

    def slack(self) -> list[float]:
        """``slack[i]``: how much later stop ``i`` could start than with no break at all
        before some stop from ``i`` on misses a window (or its partner) that the current
        route kept, or she is back after her shift when it was not; ``slack[len(stops)]``:
        how much later she could finish her last stop (or leave) for the shift end.
        Laid out backwards over the waits of her free layout (a wait absorbs a delay)."""
        if self._slack is not None:
            return self._slack
        base, free = self.base, self.free_trace()
        stops, nurse = self.stops, self.nurse
        inf = math.inf
        last = stops[-1].location if stops else self.leave.location
        home = math.ceil(self.matrix[last][nurse.end_location])
        end: float = inf if base.overrun else nurse.shift.end - (self.leave_free_end() + home)
        slack: list[float] = [inf] * (len(stops) + 1)
        slack[len(stops)] = end
        carry = end  # the delay the stops after ``i`` absorb, measured at ``i``'s start
        was_late = base.late
        for i in range(len(stops) - 1, -1, -1):
            stop, item = stops[i], free.timed[i]
            own = inf
            if i not in was_late:
                if stop.latest is not None:
                    own = stop.latest - item.start
                if stop.not_before:
                    own = min(own, stop.not_before + self.tolerance - item.start)
            slack[i] = min(own, carry)
            carry = slack[i] + (item.start - item.arrival)
        self._slack = slack
        return slack

    def added_travel(self, position: int, middle: list[timeline.Stop], resume: int) -> int:
        """What ``stops[:position] + middle + stops[resume:]`` adds to her travel."""
        matrix, stops = self.matrix, self.stops
        here = stops[position - 1].location if position else self.leave.location
        after = stops[resume].location if resume < len(stops) else self.nurse.end_location
        added = 0
        for sequence, sign in ((middle, 1), (stops[position:resume], -1)):
            at = here
            for stop in sequence:
                added += sign * math.ceil(matrix[at][stop.location])
                at = stop.location
            added += sign * math.ceil(matrix[at][after])
        return added

    def free_trace(self) -> _Trace:
        """Her current stops laid out with no break at all."""
        if self._free is None:
            # With no break to take (none, or taken) her layout is the one with no break.
            self._free = self._trace(None, None) if self.window else self.trace(self.hint)
        return self._free

    def break_after(
        self, position: int, new_stop: timeline.Stop, laid: _Layout
    ) -> tuple[timeline.TimedStop, int] | None:
        """The new visit at ``position`` laid out with no break before it, and when it ends
        (there her break would start), when ``laid`` has her break, not yet begun, before
        that visit; else ``None``."""
        if self.window is None:
            return None
        if not any(t.break_before is not None for t in laid.timed[: position + 1]):
            return None
        free = self.free_trace()
        if position:
            location, clock = self.stops[position - 1].location, free.clocks[position - 1]
        else:
            location, clock = self.leave.location, self.leave.time
        item, finish, _ = timeline.advance(
            self.matrix, location, clock, None, new_stop, 0, None, None
        )
        return item, finish

    def moved_break_layout(
        self,
        position: int,
        new_stop: timeline.Stop,
        moved: tuple[timeline.TimedStop, int],
        trial: _Layout,
        broken: str,
    ) -> _Layout | None:
        """`_layout` of the new visit at ``position`` with her break hinted right after it
        (``moved``); ``None`` when that layout could not be chosen over ``trial`` (unbroken,
        and the new visit would start no earlier)."""
        item, start = moved
        assert self.window is not None
        latest_start = self.window[1] - self.duration
        # Up to the new visit nothing starts after the hint, so no break is taken before it
        # (it is laid out as with no break at all); after it, the break fits (at the hint or
        # later) exactly when the hint is no later than its latest start.
        fits = max(start, self.window[0]) <= latest_start
        if not broken and fits and item.start >= trial.timed[position].start:
            return None
        laid = None
        if fits:
            # After the new visit it is compared with her current layout, which has the
            # other hint: they agree only once her break is placed in both.
            free, current = self.free_trace(), self.trace(self.hint)
            laid = self._run(free, current, position, [new_stop], position, start, head=moved)
        if laid is None or laid.final is None:
            trace = self.trace(None)
            laid = self._run(trace, trace, position, [new_stop], position, None)
        return self._finish(laid, position, [new_stop], position)


@dataclass(frozen=True, slots=True)
class _Run:
    """A layout before the drive home: its timed stops and sums, the clock at the end of the
    last stop, the break as placed among the stops, and the break after the last stop."""

    timed: list[timeline.TimedStop]
    travel: int
    lateness: int
    late: list[int]
    clock: int
    in_loop: tuple[int, int] | None
    final: tuple[int, int] | None


def _touches_bag(stop: timeline.Stop) -> bool:
    return stop.kind == StepType.RESTOCK or bool(stop.materials)


def _what_breaks(base: _Layout, trial: _Layout, position: int, inserted: int = 1) -> str:
    """The first rule that inserting ``inserted`` stops at ``position`` (the new visit last)
    breaks and the route kept; "" if none."""
    new = position + inserted - 1
    if trial.short:
        was_short = {(i + inserted * (i >= position), item) for i, item in base.short}
        for index, item in sorted(trial.short - was_short):
            if index == new:
                return f"her night bag has no {item} left"
            return f"her night bag would run out of {item} for a later visit"
    was_late = {i + inserted * (i >= position) for i in base.late} if trial.late else set()
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
    problem: Problem,
    plan: Plan,
    nurse: Nurse,
    new_stop: timeline.Stop,
    visit: Visit,
    planned_starts: dict[str, tuple[int, int]],
    spare_tolerance: bool = False,
) -> InsertionOption:
    stops = _current_stops(problem, plan, nurse, planned_starts)
    router = _Router(problem, nurse, stops, _break_start(plan, nurse))
    base = router.base
    pins = _pins_matter(problem, stops, visit)
    restock = timeline.restock_stop(problem)
    refill = problem.night.restocks_allowed and bool(new_stop.materials)
    response = _response_cost(problem, visit)

    def rank(option: InsertionOption) -> tuple[bool, int, int, int]:
        return _rank(option, response, spare_tolerance)

    plain: dict[int, _Layout] = {}
    best: InsertionOption | None = None
    # Best first: each place by the best its option could rank (in time as with no break at
    # all, its added travel exact, nothing else made late), and no further once even that
    # would rank below the best option found (ties go to the earlier place, as in order).
    bounds = sorted(router.bounds(new_stop, restock if refill else None, response))
    for bound, position in bounds:
        if best is not None and (bound, position) > (rank(best), best.position):
            break
        trial = plain[position] = router.layout(position, [new_stop], position)
        broken = _what_breaks(base, trial, position)
        inserted = 1
        moved_break: int | None = None
        # Broken even with no break at all (``bound``): with her break moved too.
        free = None if bound[0] else router.break_after(position, new_stop, trial)
        if free is not None:
            # Her break has not begun: a re-plan may take it after the new visit rather than
            # keep her from it (a call held back by a break that could wait was refused).
            later = router.moved_break_layout(position, new_stop, free, trial, broken)
            if (
                later is not None
                and not _what_breaks(base, later, position)
                and (broken or later.timed[position].start < trial.timed[position].start)
            ):
                trial, broken, moved_break = later, "", free[1]
        if broken.startswith("her night bag has no") and problem.night.restocks_allowed:
            # Empty-handed she cannot do it; after a restock at the base she might.
            refilled = router.layout(position, [restock, new_stop], position)
            if not _what_breaks(base, refilled, position, 2):
                trial, broken, inserted, moved_break = refilled, "", 2, None
        moved = "" if broken or not pins else _moves_a_pin(problem, nurse, stops, position, visit)
        if not moved and not broken and router.breaks_before_drive(trial):
            moved = f"{router.driving_to}, which she is driving to, after her break"
        broken = broken or (f"it would move {moved}" if moved else "")
        if best is not None:
            # The option is built only when it ranks better (as `_option` would rank it).
            start = trial.timed[position + inserted - 1].start
            own = max(0, start - new_stop.target) if new_stop.target is not None else 0
            rank_here = (
                bool(broken),
                own,
                max(0, trial.lateness - own - base.lateness)
                if spare_tolerance
                else max(0, trial.calls_late - own - base.calls_late),
                _cost(trial.travel - base.travel, start, response)
                + max(0, trial.soft_cost - base.soft_cost),
            )
            if (rank_here, position) >= (rank(best), best.position):
                continue
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
        if best is None or (rank(option), position) < (rank(best), best.position):
            best = option
    assert best is not None
    if best.lateness_seconds > 0 or not best.feasible:
        reordered = _best_with_one_move(
            problem, nurse, router, new_stop, plain, pins, rank(best), response, spare_tolerance
        )
        if reordered is not None and rank(reordered) < rank(best):
            return reordered
    return best


_RESTOCK_ID = "restock"


def _pins_matter(problem: Problem, stops: list[timeline.Stop], visit: Visit) -> bool:
    """Whether any order of her stops and ``visit`` could move a pinned visit off its place
    or the visit she is driving to from the front (else the check is skipped)."""
    for current in (
        visit,
        *(problem.visit(s.visit_id) for s in stops if s.visit_id is not None),
    ):
        if current.state == VisitState.EN_ROUTE:
            return True
        if current.pin is not None and current.pin.position is not None:
            return True
    return False


def _best_with_one_move(
    problem: Problem,
    nurse: Nurse,
    router: _Router,
    new_stop: timeline.Stop,
    plain: dict[int, _Layout],
    pins: bool,
    bar: tuple[bool, int, int, int],
    response: int = 0,
    spare: bool = False,
) -> InsertionOption | None:
    """Her best place for the new visit when one other stop of hers may move as well, as a
    re-plan's re-ordering would: where inserting alone makes a later visit miss its window
    (or its tolerance), that visit moves up to just after the new one, or a stop between
    them moves to just after it. ``None`` when no such order breaks nothing.

    Bounded: only when plain insertion is late or infeasible, and only at the places where
    the new visit itself would be in time (the first few): O(stops) layouts per place, each
    laid out from the place on (``plain``: the plain insertion's layouts made so far)."""
    stops = router.stops
    base = router.base
    movable: list[int] | None = None  # made when first needed (most places have no order)
    # Every order to try, with the best rank its option could have (the new visit in time as
    # with no break, no one else late, its added travel exact): tried best first, and none
    # that could not beat ``bar`` (the plain insertion's best) or the best order found.
    candidates: list[tuple[tuple[bool, int, int, int], int, int, int, list[int]]] = []
    for position in range(len(stops) + 1):
        own = router.bound(position, new_stop, None, broken=False)[1]
        if own > 0:
            # Late here already (a break only delays): moving a later stop cannot bring it
            # forward, and from the positions after this one it is later still.
            break
        laid = plain.get(position) or router.layout(position, [new_stop], position)
        if new_stop.target is not None and laid.timed[position].start > new_stop.target:
            break
        # Every order below puts the new visit first after the same stops: it starts as here.
        start = laid.timed[position].start
        later = [i for i in sorted(laid.late) if i > position]
        if not later:
            continue
        first_late = later[0] - 1  # its index in ``stops``
        if movable is None:
            movable = [
                i
                for i, stop in enumerate(stops)
                if stop.kind == StepType.VISIT
                and stop.visit_id is not None
                and not stop.not_before
                and (not problem.dependencies or not problem.dependencies_of(stop.visit_id))
                and problem.visit(stop.visit_id).state != VisitState.EN_ROUTE
                and problem.visit(stop.visit_id).pin is None
            ]
        orders: list[list[int]] = []
        # Only stops[position:first_late + 1] change places; the rest keep theirs.
        span = list(range(position, first_late + 1))
        if first_late in movable:
            for target in range(position, first_late):
                order = [i for i in span if i != first_late]
                order.insert(target - position, first_late)
                orders.append(order)
        for between in range(position, first_late):
            if between in movable:
                order = [i for i in span if i != between]
                order.insert(order.index(first_late) + 1, between)
                orders.append(order)
        for order in orders:
            middle = [new_stop, *(stops[i] for i in order)]
            added = router.added_travel(position, middle, first_late + 1)
            bound = (False, own, 0, _cost(added, start, response) + _own_soft_cost(new_stop, start))
            if bound < bar:
                candidates.append((bound, len(candidates), position, first_late, order))
    candidates.sort(key=lambda c: (c[0], c[1]))
    best: InsertionOption | None = None
    best_at = 0
    for bound, at, position, first_late, order in candidates:
        if best is not None and (bound, at) > (_rank(best, response, spare), best_at):
            break
        # Stops before ``position`` stay in front, so the new visit keeps its index.
        new_at = position
        middle = [new_stop, *(stops[i] for i in order)]
        if router.order_broken_anyway(position, middle, first_late + 1):
            continue  # what `_breaks_by_id` would say of its layout
        sequence = [*stops[:position], *middle, *stops[first_late + 1 :]]
        ids = [_stop_id(s) for s in sequence]
        if pins and _order_moves_a_pin(problem, nurse, ids):
            continue
        trial = router.layout(position, middle, first_late + 1)
        if _breaks_by_id(base, stops, trial, sequence) or router.breaks_before_drive(trial):
            continue
        option = _option(
            nurse, new_at, new_at, new_stop, trial, base, feasible=True, sequence=tuple(ids)
        )
        if best is None or (_rank(option, response, spare), at) < (
            _rank(best, response, spare),
            best_at,
        ):
            best, best_at = option, at
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
        soft_cost=max(0, trial.soft_cost - base.soft_cost),
        added_call_lateness_others_seconds=max(0, trial.calls_late - own - base.calls_late),
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


def _break_start(plan: Plan, nurse: Nurse) -> int | None:
    """When the plan has this nurse's break start, if it has one still to take."""
    if nurse.break_rule is None or nurse.break_taken:
        return None
    try:
        route = plan.route(nurse.id)
    except KeyError:
        return None
    return next((s.start for s in route.steps if s.type == StepType.BREAK), None)


def _rank(
    option: InsertionOption, response: int = 0, spare_tolerance: bool = False
) -> tuple[bool, int, int, int]:
    """How an option ranks among one nurse's places: feasible first, then the new visit's
    own lateness past its target, then other calls' pushed past theirs, then `_cost` with
    what it adds past the objective's soft bounds (`InsertionOption.soft_cost`), as the
    search weighs them: a call's minute sooner against a planned visit's minute into its
    tolerance. All lateness caused to others was ranked ahead of every cost: an acute call
    then waited 15 minutes behind planned care rather than push it one minute into the
    tolerance the region's rule gives such calls (issue 11: p90 18 minutes, against 15 for
    the greedy dispatcher keeping the same rule)."""
    others = (
        option.added_lateness_others_seconds
        if spare_tolerance
        else option.added_call_lateness_others_seconds
    )
    return (
        not option.feasible,
        option.lateness_seconds,
        others,
        _cost(option.added_travel_seconds, option.start, response) + option.soft_cost,
    )


def _response_cost(problem: Problem, visit: Visit) -> int:
    """The response cost per minute of ``visit``: its class's for a call, else 0."""
    urgency = problem.urgency_classes[visit.urgency]
    if visit.call_time is None or urgency.target_seconds is None:
        return 0
    return urgency.response_cost_per_minute


def _past_soft_bounds(timed: Sequence[timeline.TimedStop]) -> tuple[int, int]:
    """`_Layout`'s ``(soft_cost, calls_late)`` in one pass over ``timed``: what its starts
    cost past their soft bounds (`timeline.soft_end`, in `_cost`'s units), and the
    seconds its calls start past their urgency targets."""
    soft = late = 0
    for item in timed:
        stop, start = item.stop, item.start
        if stop.soft_end is not None and start > stop.soft_end:
            soft += 60 * stop.soft_cost_per_second * (start - stop.soft_end)
        if stop.is_call and stop.target is not None and start > stop.target:
            late += start - stop.target
    return soft, late


def _own_soft_cost(stop: timeline.Stop, start: int) -> int:
    """What ``stop`` starting at ``start`` costs past its soft bound (`_past_soft_bounds`)."""
    if stop.soft_end is None or start <= stop.soft_end:
        return 0
    return 60 * stop.soft_cost_per_second * (start - stop.soft_end)


def _cost(added_travel: int, start: int, response: int) -> int:
    """Added travel and the new visit's start, in sixtieths of the objective's units: travel
    costs 60 a minute, and each minute to the start ``response`` (a call's class's
    `UrgencyClass.response_cost_per_minute`; 0: travel alone ranks)."""
    return 60 * added_travel + response * start
