"""Why a visit the search left out could not go in: the rule that keeps it out, by name.

For each nurse who could do the visit, the visit is tried at every place in her final route,
laid out as the plan is (the quote's layout). What breaks there names the reason: a visit
that only fits by moving a pinned (or en-route) visit says which; one that only fits if the
nurse skips her break says the break keeps it out. Bounded work: the most urgent visits are
explained first, and past a budget of laid-out stops the rest keep the general reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Nurse, Problem, Visit
from optimizer.plan import ReasonCode, Unassigned
from optimizer.quote import _moves_a_pin, _Router, _what_breaks

__all__ = ["why_left_out"]

#: Stops laid out at most per plan to explain left-out visits (some milliseconds).
_BUDGET = 6_000


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
    stops: dict[str, list[timeline.Stop]] = {}
    urgent_first = sorted(
        visits, key=lambda v: -problem.urgency_classes[v.urgency].omission_penalty
    )
    for visit in urgent_first:
        if visit.nurses_needed != 1:
            continue
        own: list[str] = []
        pins: list[str] = []
        breaks: list[str] = []
        bags: list[str] = []
        for nurse in eligible_nurses(problem, visit):
            if nurse.id not in stops:
                stops[nurse.id] = [
                    timeline.restock_stop(problem)
                    if key == "restock"
                    else timeline.stop_for(problem, problem.visit(key))
                    for key in sequences.get(nurse.id, [])
                ]
            budget -= (len(stops[nurse.id]) + 2) ** 2
            if budget < 0:
                return result
            blocker = _blocker(problem, nurse, stops[nurse.id], visit, break_starts.get(nurse.id))
            if blocker is not None:
                kinds = {"own pin": own, "pin": pins, "break": breaks, "bag": bags}
                kinds[blocker[0]].append(blocker[1])
        if own:
            result[visit.id] = Unassigned(
                visit_id=visit.id,
                urgency=visit.urgency,
                reason=ReasonCode.PIN_INFEASIBLE,
                message=f"pinned as {own[0]}, where it does not fit; it fits elsewhere in her "
                "route: pin it without a position, or at another",
            )
        elif pins:
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
        elif bags:
            result[visit.id] = Unassigned(
                visit_id=visit.id,
                urgency=visit.urgency,
                reason=ReasonCode.NO_CAPACITY,
                message=f"it fits in time, but {bags[0]}",
            )
        if visit.pin is not None and visit.id in result and not own:
            # Only its pinned nurse (and place) was tried: the sentence says so, or a
            # planner reads a break or a bag as the whole story and never thinks of the pin.
            where = "" if visit.pin.position is None else f" as her stop {visit.pin.position}"
            said = result[visit.id]
            result[visit.id] = said.model_copy(
                update={"message": f"pinned to {visit.pin.nurse}{where}: {said.message}"}
            )
    return result


def _blocker(
    problem: Problem,
    nurse: Nurse,
    stops: list[timeline.Stop],
    visit: Visit,
    break_start: int | None,
) -> tuple[str, str] | None:
    """("own pin", what), ("pin", what), ("break", what) or ("bag", what) if that alone
    keeps ``visit`` out of her route ("own pin": it fits only off the stop it is pinned as)."""
    new_stop = timeline.stop_for(problem, visit)
    # Each trial laid out from its place on (`quote._Router`): the figures of `_layout`.
    router = _Router(problem, nurse, stops, break_start)
    base = router.base
    rule = nurse.break_rule if not nurse.break_taken else None
    free = nurse.model_copy(update={"break_rule": None}) if rule is not None else None
    free_router = _Router(problem, free, stops, None) if free is not None else None
    free_base = free_router.base if free_router is not None else None
    found: tuple[str, str] | None = None
    for position in range(len(stops) + 1):
        broken = _what_breaks(base, router.layout(position, [new_stop], position), position)
        if broken:
            empty_handed = [replace(new_stop, materials={})]
            if (
                found is None
                and broken.startswith("her night bag")
                and not _what_breaks(
                    base, router.layout(position, empty_handed, position), position
                )
            ):
                found = ("bag", f"{nurse.id}'s {broken.removeprefix('her ')}")
            if (
                (found is None or found[0] == "bag")
                and free_router is not None
                and free_base is not None
                and rule is not None
            ):
                free_trial = free_router.layout(position, [new_stop], position)
                if not _what_breaks(free_base, free_trial, position):
                    found = (
                        "break",
                        f"{nurse.id}'s {rule.duration_seconds // 60}-minute break between "
                        f"{problem.night.clock(rule.window.start)} and "
                        f"{problem.night.clock(rule.window.end)}",
                    )
            continue
        moved = _moves_a_pin(problem, nurse, stops, position, visit)
        if not moved:
            return None  # it fits here: nothing of hers keeps it out
        if visit.pin is not None and moved.startswith(f"{visit.id},"):
            # Its own pin: "it would move V1" said of V1 itself named no rule at all.
            found = ("own pin", f"{nurse.id}'s stop {visit.pin.position}")
        elif found is None or found[0] != "own pin":
            found = ("pin", f"{moved} ({nurse.id})")
    return found
