"""Visits a search left out that still fit somewhere, put in: the last step of a solve.

A search with little time (a live re-plan on a loaded machine, 0.8 s, where OR-Tools checks
each insertion with its scheduling LP) can end with visits out that one insertion would
place without breaking anything; the plan would then call them ``no_capacity`` ("no nurse
has room"), and a partner would send the back-up for a visit the night team can do. Each
left-out visit is tried at every place of every eligible nurse's route, laid out exactly as
a plan is (`quote`'s layout), most urgent first, and put where it breaks no rule and adds
the least travel. Bounded work, as `reasons`: past a budget of laid-out stops the rest stay
out (and `reasons.why_left_out` names their reason).
"""

from __future__ import annotations

from collections.abc import Sequence

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Problem, Visit
from optimizer.quote import _layout, _moves_a_pin, _what_breaks

__all__ = ["insert_what_fits"]

#: Stops laid out at most per plan (some tens of milliseconds).
_BUDGET = 30_000

RESTOCK = "restock"


def insert_what_fits(
    problem: Problem,
    sequences: dict[str, list[str]],
    break_starts: dict[str, int],
    not_before: dict[tuple[str, int], int],
    visits: Sequence[Visit],
) -> tuple[dict[str, list[str]], dict[tuple[str, int], int], dict[str, int], list[str]]:
    """``sequences`` (nurse id -> stop keys: visit ids, ``"restock"``) with each of
    ``visits`` that fits put in, ``not_before`` (the solver's start times by (nurse id,
    position)) moved along with the stops after it, ``break_starts`` (nurse id -> second)
    where the breaks then fall, and the ids put in. The arguments are not changed. Only
    one-nurse visits without links or pins are tried: the others need
    moves of more than one stop.
    """
    sequences = {nurse_id: list(keys) for nurse_id, keys in sequences.items()}
    break_starts = dict(break_starts)
    not_before = dict(not_before)
    linked = {d.first for d in problem.dependencies} | {d.second for d in problem.dependencies}
    candidates = sorted(
        (
            v
            for v in visits
            if v.nurses_needed == 1 and v.id not in linked and v.pin is None and not v.is_locked
        ),
        key=lambda v: -problem.urgency_classes[v.urgency].omission_penalty,
    )
    budget = _BUDGET
    inserted: list[str] = []
    for visit in candidates:
        new_stop = timeline.stop_for(problem, visit)
        # (added travel, nurse id, position, the break's start in that layout)
        best: tuple[int, str, int, int | None] | None = None
        for nurse in eligible_nurses(problem, visit):
            keys = sequences.get(nurse.id, [])
            if budget < 0:
                return sequences, not_before, break_starts, inserted
            matrix = problem.matrix(nurse.profile)
            stops = [
                timeline.restock_stop(problem)
                if key == RESTOCK
                else timeline.stop_for(problem, problem.visit(key))
                for key in keys
            ]
            leave = timeline.departure(problem, nurse)
            hint = break_starts.get(nurse.id)
            base = _layout(problem, nurse, stops, leave, hint)
            for position in range(len(stops) + 1):
                if new_stop.latest is not None:
                    # Past the window's last start here, and so at every later place too.
                    if position == 0:
                        earliest = leave.time + int(matrix[leave.location][visit.location])
                    else:
                        before = base.timed[position - 1]
                        earliest = (
                            before.start
                            + before.stop.service_seconds
                            + int(matrix[before.stop.location][visit.location])
                        )
                    if earliest > new_stop.latest:
                        break
                budget -= len(stops) + 1
                trial = _layout(
                    problem, nurse, [*stops[:position], new_stop, *stops[position:]], leave, hint
                )
                # Past her shift's end or without her break is refused even where her route
                # is so already (a shift cut short): `_what_breaks` counts only what is new.
                if trial.overrun or trial.break_missed or _what_breaks(base, trial, position):
                    continue
                if _moves_a_pin(problem, nurse, stops, position, visit):
                    continue
                added = trial.travel - base.travel
                if best is None or added < best[0]:
                    moved = next((t.break_before[0] for t in trial.timed if t.break_before), None)
                    best = (added, nurse.id, position, moved)
        if best is None:
            continue
        _, nurse_id, position, break_start = best
        if break_start is not None:
            # Where her break now falls: the next visit is tried against that layout (the
            # plan lays her route out the same way), not against the break before this one.
            break_starts[nurse_id] = break_start
        sequences.setdefault(nurse_id, []).insert(position, visit.id)
        not_before = {
            (n, i + (n == nurse_id and i >= position)): at for (n, i), at in not_before.items()
        }
        inserted.append(visit.id)
    return sequences, not_before, break_starts, inserted
