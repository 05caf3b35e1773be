"""An independent checker: does a plan keep every rule of its problem?

Written apart from the solver and from `timeline.py` on purpose: it re-reads the rules from
the problem and the times from the plan, so a bug in how plans are built cannot hide itself.
Used by the tests and the benchmarks.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import pairwise
from typing import Protocol

from optimizer.model import Problem, Visit, VisitState
from optimizer.plan import Plan, Step, StepType, Violation

__all__ = ["check"]


def check(problem: Problem, plan: Plan) -> list[Violation]:
    """Every rule ``plan`` breaks, as violations; an empty list means the plan is valid.

    Rules: each visit planned or unassigned, never both, performed by exactly as many
    different nurses as it needs; service inside planned windows and never before a call or
    before ``now``; skills; pins; shifts; travel times respected between steps; two-person
    visits in step; one break per nurse inside its window; the bag never below zero; started
    and finished visits unchanged; an en-route visit is its nurse's next stop; each dependency
    planned whole, inside its gap, by different (or the same) nurses as it asks; a held
    visit (`Visit.held`) is not planned.
    """
    found: list[Violation] = []

    def fail(code: str, message: str, visit: str | None = None, nurse: str | None = None) -> None:
        found.append(Violation(code=code, message=message, visit_id=visit, nurse_id=nurse))

    known_nurses = {n.id for n in problem.nurses}
    route_nurses = Counter(r.nurse_id for r in plan.routes)
    for nurse_id, count in route_nurses.items():
        if nurse_id not in known_nurses:
            fail("unknown_nurse", f"route for unknown nurse {nurse_id}", nurse=nurse_id)
        elif count > 1:
            fail("duplicate_route", f"{nurse_id} has {count} routes", nurse=nurse_id)

    driving: dict[str, list[Visit]] = {}  # nurse id -> the visits she is driving to
    for visit in problem.visits:
        if visit.state == VisitState.EN_ROUTE:
            for nurse_id in visit.assigned_nurses:
                driving.setdefault(nurse_id, []).append(visit)
    performers: dict[str, list[str]] = {}
    starts: dict[str, list[int]] = {}
    for route in plan.routes:
        if route.nurse_id not in known_nurses:
            continue
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id is not None:
                performers.setdefault(step.visit_id, []).append(route.nurse_id)
                starts.setdefault(step.visit_id, []).append(step.start)
        _check_route(problem, route.nurse_id, route.steps, driving.get(route.nurse_id, []), fail)

    unassigned = Counter(u.visit_id for u in plan.unassigned)
    known_visits = {v.id for v in problem.visits}
    for visit_id in list(performers) + list(unassigned):
        if visit_id not in known_visits:
            fail("unknown_visit", f"visit {visit_id} is not in the problem", visit=visit_id)
    for visit in problem.visits:
        nurses = performers.get(visit.id, [])
        if nurses and unassigned[visit.id]:
            fail("planned_and_unassigned", f"{visit.id} is both planned and left out", visit.id)
        if unassigned[visit.id] > 1:
            fail("duplicate_unassigned", f"{visit.id} is listed unassigned twice", visit.id)
        if not nurses and not unassigned[visit.id]:
            fail("missing", f"{visit.id} is neither planned nor left out with a reason", visit.id)
        if nurses and visit.held is not None and not visit.is_locked:
            fail("held_planned", f"{visit.id} is held out of tonight's routes", visit.id)
        if nurses and len(nurses) != visit.nurses_needed:
            fail(
                "wrong_nurse_count",
                f"{visit.id} needs {visit.nurses_needed} nurse(s), planned with {len(nurses)}",
                visit.id,
            )
        if len(set(nurses)) != len(nurses):
            fail("visited_twice", f"{visit.id} appears twice in one route", visit.id)
        for nurse_id in nurses:
            if nurse_id not in known_nurses:
                continue
            nurse = problem.nurse(nurse_id)
            missing = visit.required_skills - nurse.skills
            if missing:
                fail(
                    "skill_missing",
                    f"{nurse_id} lacks {', '.join(sorted(missing))} for {visit.id}",
                    visit.id,
                    nurse_id,
                )
        if visit.pin is not None and nurses and visit.pin.nurse not in nurses:
            fail("pin_broken", f"{visit.id} is pinned to {visit.pin.nurse}", visit.id)
        if visit.state != VisitState.PLANNED and sorted(nurses) != sorted(visit.assigned_nurses):
            fail(
                "locked_moved",
                f"{visit.id} is {visit.state.value} with {', '.join(visit.assigned_nurses)}",
                visit.id,
            )
        times = starts.get(visit.id, [])
        if visit.is_locked and any(t != visit.started_at for t in times):
            fail("locked_moved", f"{visit.id} started at {visit.started_at}, not then", visit.id)
        if len(times) == 2 and abs(times[0] - times[1]) > problem.night.sync_tolerance_seconds:
            fail(
                "not_in_step",
                f"the two nurses of {visit.id} start {abs(times[0] - times[1])} s apart",
                visit.id,
            )
    _check_positions(problem, plan, fail)
    _check_dependencies(problem, performers, starts, fail)
    return found


def _check_dependencies(
    problem: Problem, performers: dict[str, list[str]], starts: dict[str, list[int]], fail: _Fail
) -> None:
    """Each link planned whole (or its started half kept), inside its gap, by the right nurses."""
    for link in problem.dependencies:
        first, second = problem.visit(link.first), problem.visit(link.second)
        open_first = bool(performers.get(link.first)) and not first.is_locked
        open_second = bool(performers.get(link.second)) and not second.is_locked
        # A half already started may stand alone (its partner no longer fits); a half still
        # to come may not.
        if (open_first and not (performers.get(link.second) or second.is_locked)) or (
            open_second and not (performers.get(link.first) or first.is_locked)
        ):
            fail("link_broken", f"{link.label()}: only one of the two is planned", link.first)
            continue
        if not (performers.get(link.first) and performers.get(link.second)):
            continue
        # A two-person visit has two starts: the gap holds from every start of the first to
        # every start of the second.
        gaps = [b - a for a in starts[link.first] for b in starts[link.second]]
        gap = next((g for g in gaps if not link.min_seconds <= g <= link.max_seconds), None)
        if gap is not None:
            fail("link_gap", f"{link.label()}: {link.second} starts {gap} s after", link.second)
        ours, theirs = set(performers[link.first]), set(performers[link.second])
        fewer, more = (ours, theirs) if len(ours) <= len(theirs) else (theirs, ours)
        if (link.nurse == "different" and ours & theirs) or (
            link.nurse == "same" and not fewer <= more
        ):
            fail("link_nurse", f"{link.label()}: must be {link.nurse} nurse(s)", link.second)


def _check_route(
    problem: Problem, nurse_id: str, steps: list[Step], driving: list[Visit], fail: _Fail
) -> None:
    nurse = problem.nurse(nurse_id)
    matrix = problem.matrix(nurse.profile)
    if not steps or steps[0].type != StepType.START or steps[-1].type != StepType.END:
        fail("route_shape", f"{nurse_id}'s route must run from start to end", nurse=nurse_id)
        return
    if steps[0].location != nurse.start_location or steps[0].start < nurse.shift.start:
        fail("shift_start", f"{nurse_id} starts elsewhere or before her shift", nurse=nurse_id)
    if steps[-1].location != nurse.end_location:
        fail("shift_end", f"{nurse_id} ends her shift elsewhere", nurse=nurse_id)
    if steps[-1].arrival > nurse.shift.end:
        fail("shift_overrun", f"{nurse_id} is back after her shift ends", nurse=nurse_id)
    load = {item: nurse.bag.get(item, 0) for item in nurse.bag}
    if nurse.bag_now is not None:
        load = {item: nurse.bag_now.get(item, 0) for item in nurse.bag}
    breaks = 0
    resumed = False  # past the locked history: live state applies from here
    visits_by_id = {v.id: v for v in problem.visits}
    for previous, step in pairwise(steps):
        visit = visits_by_id.get(step.visit_id or "")
        locked = visit is not None and visit.is_locked
        origin, ready = previous.location, previous.end
        if not locked and not resumed:
            resumed = True
            if nurse.current_location is not None:
                origin = nurse.current_location
            if nurse.available_at is not None:
                ready = max(ready, nurse.available_at)
        travel = math.ceil(matrix[origin][step.location])
        if not locked and step.arrival < ready + travel:
            fail(
                "too_fast",
                f"{nurse_id} reaches {step.visit_id or step.type.value} at {step.arrival}, "
                f"but cannot be there before {ready + travel}",
                step.visit_id,
                nurse_id,
            )
        if step.start < step.arrival or step.end < step.start:
            fail("times_out_of_order", f"{nurse_id}: a step ends before it starts", nurse=nurse_id)
        if step.type == StepType.BREAK:
            breaks += 1
            rule = nurse.break_rule
            if rule is None or nurse.break_taken:
                fail("unexpected_break", f"{nurse_id} has no break to take", nurse=nurse_id)
            elif (
                step.end - step.start != rule.duration_seconds
                or step.start < rule.window.start
                or step.end > rule.window.end
            ):
                fail("break_rule", f"{nurse_id}'s break breaks its rule", nurse=nurse_id)
        elif step.type == StepType.RESTOCK:
            if step.location != problem.night.base_location:
                fail("restock_away", f"{nurse_id} restocks away from the base", nurse=nurse_id)
            if step.end - step.start < problem.night.restock_seconds:
                fail("restock_short", f"{nurse_id}'s restock is too short", nurse=nurse_id)
            if not problem.night.restocks_allowed:
                fail(
                    "restock_forbidden",
                    f"{nurse_id} restocks on a night without restocks",
                    nurse=nurse_id,
                )
            load = {item: nurse.bag.get(item, 0) for item in nurse.bag}
        elif step.type == StepType.VISIT:
            if visit is None:
                fail("unknown_visit", f"{step.visit_id} is not in the problem", step.visit_id)
                continue
            if step.location != visit.location:
                fail("wrong_place", f"{visit.id} is visited at the wrong place", visit.id)
            if step.end - step.start != visit.service_seconds:
                fail("service_time", f"{visit.id} gets the wrong service time", visit.id)
            if not locked:
                _check_visit_time(problem, visit.id, step.start, nurse_id, fail)
                for item, quantity in visit.materials.items():
                    load[item] = load.get(item, 0) - quantity
                    if load[item] < 0:
                        fail("bag_empty", f"{nurse_id} runs out of {item}", visit.id, nurse_id)
        elif step.type == StepType.START or step is not steps[-1]:
            fail(
                "route_shape", f"{nurse_id} has a {step.type.value} step mid-route", nurse=nurse_id
            )
    if nurse.break_rule is not None and not nurse.break_taken and breaks == 0:
        fail("break_missed", f"{nurse_id} takes no break", nurse=nurse_id)
    elif breaks > 1:
        fail("break_count", f"{nurse_id} takes {breaks} breaks, not one", nurse=nurse_id)
    _check_en_route(problem, nurse_id, steps, driving, fail)


def _check_en_route(
    problem: Problem, nurse_id: str, steps: list[Step], driving: list[Visit], fail: _Fail
) -> None:
    """A nurse driving to a visit (en route) has it as her next stop after her history.

    A break taken at that door on arrival is allowed; a restock or another visit first is not.
    """
    if not driving:
        return
    after_history = [
        step
        for step in steps[1:-1]
        if not (step.visit_id is not None and problem.visit(step.visit_id).is_locked)
    ]
    for visit in driving:
        ahead = [
            s for s in after_history if s.type != StepType.BREAK or s.location != visit.location
        ]
        if not ahead or ahead[0].visit_id != visit.id:
            fail(
                "en_route_moved",
                f"{nurse_id} is driving to {visit.id}, so it must be her next stop",
                visit.id,
                nurse_id,
            )


def _check_visit_time(problem: Problem, visit_id: str, start: int, nurse: str, fail: _Fail) -> None:
    visit = problem.visit(visit_id)
    if problem.now is not None and start < problem.now:
        fail("in_the_past", f"{visit_id} is planned before now", visit_id, nurse)
    urgency = problem.urgency_classes[visit.urgency]
    if urgency.target_seconds is None:
        window = visit.window
        # The end is soft for late_tolerance_seconds (at a cost), then hard again.
        if window is not None and not (
            window.start <= start <= window.end + visit.late_tolerance_seconds
        ):
            fail("window_missed", f"{visit_id} starts outside its window", visit_id, nurse)
    elif visit.call_time is not None and start < visit.call_time:
        fail("before_call", f"{visit_id} starts before the call came in", visit_id, nurse)


def _check_positions(problem: Problem, plan: Plan, fail: _Fail) -> None:
    for visit in problem.visits:
        if visit.pin is None or visit.pin.position is None:
            continue
        try:
            order = plan.route(visit.pin.nurse).visit_ids()
        except KeyError:
            continue
        if visit.id in order and order.index(visit.id) != visit.pin.position:
            fail(
                "pin_position",
                f"{visit.id} is pinned as stop {visit.pin.position}, "
                f"planned as {order.index(visit.id)}",
                visit.id,
            )


class _Fail(Protocol):
    def __call__(
        self, code: str, message: str, visit: str | None = None, nurse: str | None = None
    ) -> None: ...
