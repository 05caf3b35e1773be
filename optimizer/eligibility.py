"""Who could do a visit, and why a visit cannot be planned at all, before any search."""

from __future__ import annotations

from optimizer import timeline
from optimizer.model import Nurse, Problem, Visit, VisitState
from optimizer.plan import ReasonCode, Unassigned

__all__ = ["eligible_nurses", "excluded"]


def eligible_nurses(problem: Problem, visit: Visit) -> list[Nurse]:
    """The nurses who could do ``visit``: skills, pin, bag size; shifts are checked later.
    None for a held visit (`Visit.held`): no insertion (`quote`, `fill`) may place it.

    A two-person visit's pin makes its nurse one of the two: every nurse who could be the
    other is listed too, as long as the pinned nurse could do it herself (else none is)."""
    if visit.held is not None and not visit.is_locked:
        return []
    result = []
    pinned = visit.pin.nurse if visit.pin is not None else None
    if pinned is not None and visit.nurses_needed == 2:
        everyone = eligible_nurses(problem, visit.model_copy(update={"pin": None}))
        return everyone if any(n.id == pinned for n in everyone) else []
    for nurse in problem.nurses:
        if not visit.required_skills <= nurse.skills:
            continue
        if pinned is not None and nurse.id != pinned:
            continue
        if nurse.id in visit.not_by and not visit.is_locked:
            continue  # her phone is silent: she would not learn of it
        if visit.state == VisitState.EN_ROUTE and nurse.id not in visit.assigned_nurses:
            continue
        if visit.materials and any(
            q > nurse.bag.get(item, 0) for item, q in visit.materials.items() if q
        ):
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


def _drivable(problem: Problem, nurse: Nurse, visit: Visit, leave: timeline.Departure) -> bool:
    """Whether the drive there and back fits in her whole shift: a road question, not one of
    how late it is (that is `outside_shifts`)."""
    there = problem.travel_seconds(nurse.profile, leave.location, visit.location)
    back = problem.travel_seconds(nurse.profile, visit.location, nurse.end_location)
    return there + back <= nurse.shift.end - nurse.shift.start


def _window_passed(problem: Problem, visit: Visit) -> str | None:
    """The message for a planned visit whose agreed window (and its tolerance, if any)
    closed before the re-plan's ``now`` while it is still not begun; ``None`` otherwise.

    Such a visit is not out of reach on the road: its time is over, and since no phone
    reported it begun (a silent start, a phone that stayed offline) it may have been done.
    """
    window = visit.window
    if (
        problem.now is None
        or window is None
        or not problem.is_planned_care(visit)
        or visit.state != VisitState.PLANNED
        # The region's tolerance keeps the end open: an acute call may have used it.
        or window.end + visit.late_tolerance_seconds >= problem.now
    ):
        return None
    clock = problem.night.clock
    ask = f"ask {visit.published_nurse}" if visit.published_nurse else "ask the team"
    return (
        f"its window {clock(window.start)}-{clock(window.end)} closed before this re-plan "
        f"({clock(problem.now)}) and no phone reported it begun or done: {ask} whether it "
        "was done"
    )


def excluded(
    problem: Problem, visit: Visit, departures: dict[str, timeline.Departure]
) -> Unassigned | None:
    """Why ``visit`` cannot be planned at all, before any search; ``None`` if it might be.

    A pinned visit that its nurse cannot do, but another could, is kept out by its pin:
    ``pin_infeasible``, naming her and what she cannot do (not "no nurse can", which sent
    the planner looking for a back-up when unpinning would do). If no nurse could do it
    either, the reason is what keeps it from all of them.
    """
    found = _excluded(problem, visit, departures)
    if found is None or visit.pin is None:
        return found
    free = _excluded(problem, visit.model_copy(update={"pin": None}), departures)
    if free is not None:
        return free
    return Unassigned(
        visit_id=visit.id,
        urgency=visit.urgency,
        reason=ReasonCode.PIN_INFEASIBLE,
        message=f"pinned to {visit.pin.nurse}, {_what_she_cannot(problem, visit, departures)}: "
        "unpin it to let another nurse take it",
    )


def _what_she_cannot(
    problem: Problem, visit: Visit, departures: dict[str, timeline.Departure]
) -> str:
    """What keeps pinned ``visit`` from its nurse, completing "pinned to N1, ..."."""
    assert visit.pin is not None
    her = next((n for n in problem.nurses if n.id == visit.pin.nurse), None)
    if her is None:
        return "who is not on shift tonight"
    if her not in eligible_nurses(problem, visit):
        return "who lacks a skill or bag item this visit needs"
    if not _reachable(problem, her, visit, timeline.stop_for(problem, visit), departures[her.id]):
        if not _drivable(problem, her, visit, departures[her.id]):
            return "whose shift is shorter than the drive there and back"
        if problem.is_planned_care(visit):
            return "who cannot be there inside its agreed window and back before her shift ends"
        return "who cannot reach it and finish before her shift ends"
    return "but no second nurse can be there with her"


def _heard(visit: Visit) -> Visit:
    """``visit`` as if every phone were heard (no nurse barred as silent)."""
    return visit.model_copy(update={"not_by": frozenset()})


def _excluded(
    problem: Problem, visit: Visit, departures: dict[str, timeline.Departure]
) -> Unassigned | None:
    """`excluded` as the nurses its pin allows see it."""
    candidates = eligible_nurses(problem, visit)

    def unassigned(reason: ReasonCode, message: str) -> Unassigned:
        return Unassigned(visit_id=visit.id, urgency=visit.urgency, reason=reason, message=message)

    if visit.held is not None:
        return unassigned(visit.held.reason, visit.held.message)
    if not problem.nurses:
        return unassigned(ReasonCode.NOT_ENOUGH_NURSES, "no nurse on shift tonight")
    # First: whatever else stands in its way, its time is over and it may have been done.
    passed = _window_passed(problem, visit)
    if passed is not None:
        return unassigned(ReasonCode.WINDOW_PASSED, passed)
    if not candidates and visit.not_by and eligible_nurses(problem, _heard(visit)):
        return unassigned(
            ReasonCode.NOT_ENOUGH_NURSES,
            "every nurse who could do it has a phone that has not picked up her route "
            "(silent): phone her, or ask the back-up partner",
        )
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
        if not any(_drivable(problem, n, visit, departures[n.id]) for n in candidates):
            return unassigned(
                ReasonCode.UNREACHABLE_IN_WINDOW,
                "unreachable: the drive there and back is longer than any nurse's shift",
            )
        if visit.not_by and any(
            _reachable(problem, n, visit, stop, departures[n.id])
            for n in eligible_nurses(problem, _heard(visit))
            if n not in candidates
        ):
            return unassigned(
                ReasonCode.NOT_ENOUGH_NURSES,
                "the nurses who could be there in time have phones that have not picked up "
                "their routes (silent): phone them, or ask the back-up partner",
            )
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
