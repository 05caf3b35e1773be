"""Why a visit the search left out could not go in: the rule that keeps it out, by name.

For each nurse who could do the visit, the visit is tried at every place in her final route
(laid out by `timeline`, as the plan is). What breaks there names the reason: a visit that
only fits by moving a pinned (or en-route) visit says which; one that only fits without the
nurse's break says the break keeps it out. Bounded work: past a budget of laid-out stops the
remaining visits keep the general reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Nurse, Problem, Visit, VisitState
from optimizer.plan import ReasonCode, Unassigned

__all__ = ["why_left_out"]

#: Stops laid out at most per plan to explain left-out visits (a few milliseconds).
_BUDGET = 20_000
_RESTOCK = "restock"


def why_left_out(
    problem: Problem,
    sequences: Mapping[str, Sequence[str]],
    break_starts: Mapping[str, int],
    visits: Sequence[Visit],
) -> dict[str, Unassigned]:
    """Visit id -> a reason naming what keeps it out, for the ``visits`` it can explain.

    ``sequences`` are the final stop sequences per nurse (visit ids, ``"restock"``). Visits it
    cannot explain within its budget, and two-person visits, are not in the answer.
    """
    budget = _BUDGET
    result: dict[str, Unassigned] = {}
    for visit in visits:
        if visit.nurses_needed != 1 or budget <= 0:
            continue
        pins: list[str] = []
        breaks: list[str] = []
        for nurse in eligible_nurses(problem, visit):
            sequence = list(sequences.get(nurse.id, []))
            budget -= (len(sequence) + 1) ** 2
            blocker = _blocker(problem, nurse, sequence, visit, break_starts.get(nurse.id))
            if blocker is None:
                continue
            kind, detail = blocker
            (pins if kind == "pin" else breaks).append(detail)
        if pins:
            result[visit.id] = Unassigned(
                visit_id=visit.id,
                urgency=visit.urgency,
                reason=ReasonCode.PIN_INFEASIBLE,
                message=f"it only fits where it would move {pins[0]}",
            )
        elif breaks:
            result[visit.id] = Unassigned(
                visit_id=visit.id,
                urgency=visit.urgency,
                reason=ReasonCode.NO_CAPACITY,
                message=f"kept out by {breaks[0]}: it only fits if she skips it",
            )
    return result


def _blocker(
    problem: Problem, nurse: Nurse, sequence: list[str], visit: Visit, break_start: int | None
) -> tuple[str, str] | None:
    """("pin", what) or ("break", what) if that alone keeps ``visit`` out of her route."""
    base = {v.code for v in _layout(problem, nurse, sequence, break_start)}
    found: tuple[str, str] | None = None
    rule = nurse.break_rule if not nurse.break_taken else None
    for position in range(len(sequence) + 1):
        trial = [*sequence[:position], visit.id, *sequence[position:]]
        broken = {v.code for v in _layout(problem, nurse, trial, break_start)} - base
        if broken:
            if found is None and rule is not None:
                free = nurse.model_copy(update={"break_rule": None})
                if not _layout(problem, free, trial, None):
                    found = (
                        "break",
                        f"{nurse.id}'s {rule.duration_seconds // 60}-minute break between "
                        f"{problem.night.clock(rule.window.start)} and "
                        f"{problem.night.clock(rule.window.end)}",
                    )
            continue
        moved = _moved_pin(problem, nurse, trial)
        if moved is None:
            return None  # it fits here: nothing of hers keeps it out
        if found is None or found[0] != "pin":
            found = ("pin", moved)
    return found


def _layout(
    problem: Problem, nurse: Nurse, sequence: list[str], break_start: int | None
) -> list[object]:
    stops = [
        timeline.restock_stop(problem)
        if key == _RESTOCK
        else timeline.stop_for(problem, problem.visit(key))
        for key in sequence
    ]
    _, broken = timeline.route(problem, nurse, stops, break_start=break_start)
    return list(broken)


def _moved_pin(problem: Problem, nurse: Nurse, sequence: list[str]) -> str | None:
    """The pinned or en-route visit that ``sequence`` moves off its place, described."""
    done = len(timeline.locked_prefix(problem, nurse))
    visits = [key for key in sequence if key != _RESTOCK]
    for index, key in enumerate(visits):
        visit = problem.visit(key)
        if visit.state == VisitState.EN_ROUTE and index != 0:
            return f"{key}, which {nurse.id} is driving to"
        pin = visit.pin
        if pin is not None and pin.position is not None and done + index != pin.position:
            return f"{key}, pinned as {nurse.id}'s stop {pin.position}"
    return None
