"""Visits a search left out that still fit somewhere, put in: the last step of a solve.

A search with little time (a live re-plan on a loaded machine, 0.8 s, where OR-Tools checks
each insertion with its scheduling LP) can end with visits out that one insertion would
place without breaking anything; the plan would then call them ``no_capacity`` ("no nurse
has room"), and a partner would send the back-up for a visit the night team can do. Each
left-out visit is tried at every place of every eligible nurse's route, laid out exactly as
a plan is (`quote`'s layout), most urgent first, and put where it breaks no rule, ranked as
the quote ranks (its own lateness, the lateness it adds to others, then added travel).
Bounded work, as `reasons`: past a budget of laid-out stops the rest stay out (and
`reasons.why_left_out` names their reason).
"""

from __future__ import annotations

from collections.abc import Sequence

from optimizer import timeline
from optimizer.assemble import plan_from_routes, with_own_check
from optimizer.eligibility import eligible_nurses
from optimizer.model import Problem, Visit
from optimizer.plan import Plan, ReasonCode, StepType
from optimizer.quote import _Layout, _layout, _moves_a_pin, _what_breaks
from optimizer.replan import break_starts_of

__all__ = ["insert_what_fits", "with_what_fits"]

#: Stops laid out at most per plan (some tens of milliseconds).
_BUDGET = 30_000

RESTOCK = "restock"


def with_what_fits(problem: Problem, plan: Plan, *, pinned_only: bool = False) -> Plan:
    """``plan`` with the visits left out as ``no_capacity``, ``no_plan_in_time`` or
    ``pin_infeasible`` that still fit put in (`fill`): a short search, or the current plan
    kept when time ran out, must not answer "no nurse has room" for a visit one insertion
    places, and a pinned visit that fits at its pinned nurse (and position) goes there (a
    cold search rarely inserts a node whose position is fixed). Its two-person and linked
    visits keep their starts as lower bounds (as in `quote`).

    Each insertion is kept only if the plan laid out with it, checked by the plan's own
    check (`assemble.with_own_check`), shows no violation ``plan`` did not have: all of them
    are tried at once first (one layout); if that breaks a rule, one at a time, so a single
    insertion the fill's layout misjudges loses only itself, not the others.
    ``pinned_only`` tries only pinned visits (after a cold search, which tried the rest)."""
    untried = (ReasonCode.NO_CAPACITY, ReasonCode.NO_PLAN_IN_TIME, ReasonCode.PIN_INFEASIBLE)
    left_out = [
        visit
        for u in plan.unassigned
        if u.reason in untried
        and ((visit := problem.visit(u.visit_id)).pin is not None or not pinned_only)
    ]
    if not left_out:
        return plan
    sequences: dict[str, list[str]] = {}
    not_before: dict[tuple[str, int], int] = {}
    # A two-person visit's copies are both held from the earlier one's start: held each at
    # its own, the later could be pushed up to the tolerance past it while the earlier
    # stayed, out of step by up to twice the tolerance.
    together: dict[str, int] = {}
    for route in plan.routes:
        for step in route.steps:
            if step.visit_id is not None and problem.visit(step.visit_id).nurses_needed == 2:
                together[step.visit_id] = min(step.start, together.get(step.visit_id, step.start))
    for route in plan.routes:
        keys = sequences.setdefault(route.nurse_id, [])
        for step in route.steps:
            if step.type == StepType.RESTOCK and step.start >= (problem.now or 0):
                keys.append(RESTOCK)
            elif (
                step.type == StepType.VISIT
                and step.visit_id is not None
                and not (visit := problem.visit(step.visit_id)).is_locked
            ):
                if visit.nurses_needed == 2 or problem.dependencies_of(visit.id):
                    # Held where planned, as the quote holds them: their partner waits, or
                    # is timed from them. Every other stop as early as its rules allow,
                    # so the fill, the quote and the filled plan lay a route out alike.
                    not_before[(route.nurse_id, len(keys))] = together.get(visit.id, step.start)
                keys.append(visit.id)
    break_starts = break_starts_of(problem, plan)
    filled = insert_what_fits(problem, sequences, break_starts, not_before, left_out)
    if not filled[3]:
        return plan
    result = _laid_out(problem, plan, filled)
    if _violation_keys(result) - _violation_keys(plan):
        # Some insertion breaks a rule the fill's layout did not see: keep the others.
        filled = _one_by_one(problem, plan, (sequences, not_before, break_starts, []), filled[3])
        if not filled[3]:
            return plan
        result = _laid_out(problem, plan, filled)
    # Its layout is the draft's of `_one_by_one` or one with fewer violations.
    return plan if _violation_keys(result) - _violation_keys(plan) else result


def _laid_out(problem: Problem, plan: Plan, filled: _Filled) -> Plan:
    """The plan ``filled`` makes of ``plan`` (`assemble.plan_from_routes`, reasons and own
    check included)."""
    sequences, not_before, break_starts, inserted = filled
    stats = plan.stats
    return plan_from_routes(
        problem,
        sequences,
        not_before=not_before,
        break_starts=break_starts,
        unassigned=[u for u in plan.unassigned if u.visit_id not in inserted],
        stats=None
        if stats is None
        else stats.model_copy(
            update={"method": f"{stats.method}, then {len(inserted)} left-out visits put in"}
        ),
    )


_Filled = tuple[dict[str, list[str]], dict[tuple[str, int], int], dict[str, int], list[str]]
#: Layouts of the whole plan the search for the insertions that break a rule may make.
_DRAFTS = 48


def _one_by_one(problem: Problem, plan: Plan, start: _Filled, visit_ids: list[str]) -> _Filled:
    """``start`` with those of ``visit_ids`` put in (in their order) whose insertion shows
    no violation ``plan`` did not have: halves tried in turn, a half that breaks a rule split
    again, so a bad insertion among k costs about 2 log2 k layouts, not k. Past `_DRAFTS`
    layouts the rest stay out."""
    allowed = _violation_keys(plan)
    current = start
    drafts = 0
    pending = [visit_ids]
    while pending and drafts < _DRAFTS:
        group = pending.pop(0)
        trial = insert_what_fits(
            problem, current[0], current[2], current[1], [problem.visit(v) for v in group]
        )
        if not trial[3]:
            continue
        trial = (trial[0], trial[1], trial[2], [*current[3], *trial[3]])
        drafts += 1
        if not _violation_keys(_draft(problem, plan, trial)) - allowed:
            current = trial
        elif len(group) > 1:
            half = len(group) // 2
            pending[:0] = [group[:half], group[half:]]
    return current


def _draft(problem: Problem, plan: Plan, filled: _Filled) -> Plan:
    """``filled`` laid out as the plan will be, with every rule its own check finds broken
    (no reasons looked for: only the violations are read)."""
    sequences, not_before, break_starts, inserted = filled
    draft = plan_from_routes(
        problem,
        sequences,
        not_before=not_before,
        break_starts=break_starts,
        unassigned=[u for u in plan.unassigned if u.visit_id not in inserted],
        final=False,
    )
    return with_own_check(problem, draft)


def _violation_keys(plan: Plan) -> set[tuple[str, str | None, str | None]]:
    return {(v.code, v.visit_id, v.nurse_id) for v in plan.violations}


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
    one-nurse visits without links are tried: the others need moves of more than one stop.
    A pinned visit is tried only at its nurse (`eligible_nurses`) and, pinned at a position,
    only there (`quote._moves_a_pin`); the most urgent go first, pinned ones first among
    equals. Stops with a ``not_before`` are held there (two-person and linked visits); the
    others start as early as their rules allow.
    """
    sequences = {nurse_id: list(keys) for nurse_id, keys in sequences.items()}
    break_starts = dict(break_starts)
    not_before = dict(not_before)
    linked = {d.first for d in problem.dependencies} | {d.second for d in problem.dependencies}
    candidates = sorted(
        (v for v in visits if v.nurses_needed == 1 and v.id not in linked and not v.is_locked),
        key=lambda v: (
            -problem.urgency_classes[v.urgency].omission_penalty,
            v.pin is None,
            v.pin is None or v.pin.position is None,
        ),
    )
    budget = _BUDGET
    inserted: list[str] = []
    # Visit id -> where it is held (two-person and linked visits): a partner's start fixes
    # the gap a linked visit must stay inside, as in `quote`.
    held = {sequences[n][i]: at for (n, i), at in not_before.items() if i < len(sequences[n])}
    for visit in candidates:
        new_stop = timeline.stop_for(problem, visit)
        # ((its lateness, lateness added to others, added travel), nurse id, position, the
        # break's start in that layout): ranked as the quote ranks its options, so an urgent
        # call goes where it is soonest in time, not where it adds least travel (acute calls
        # put in at the ends of routes, hours late, after a 0.3 s re-plan on a loaded
        # machine left them out: red team R07).
        best: tuple[tuple[int, int, int], str, int, int | None] | None = None
        for nurse in eligible_nurses(problem, visit):
            keys = sequences.get(nurse.id, [])
            if budget < 0:
                return sequences, not_before, break_starts, inserted
            matrix = problem.matrix(nurse.profile)
            stops = _stops(problem, nurse.id, keys, not_before, held)
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
                if (
                    trial.overrun
                    or trial.break_missed
                    or _what_breaks(base, trial, position)
                    or _held_pushed(problem, base, trial, position)
                ):
                    continue
                if _moves_a_pin(problem, nurse, stops, position, visit):
                    continue
                start = trial.timed[position].start
                own = max(0, start - new_stop.target) if new_stop.target is not None else 0
                others = max(0, trial.lateness - own - base.lateness)
                rank = (own, others, trial.travel - base.travel)
                if best is None or rank < best[0]:
                    moved = next((t.break_before[0] for t in trial.timed if t.break_before), None)
                    best = (rank, nurse.id, position, moved)
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


def _held_pushed(problem: Problem, base: _Layout, trial: _Layout, position: int) -> str | None:
    """The held stop (two-person or linked) the insertion at ``position`` pushes further
    past what holds it, when it was already past it: `_what_breaks` counts only stops newly
    late, and one late for its window could be pushed out of step with its partner unseen
    (a 3 x 45 night: a two-person visit already past its window pushed 69 minutes past its
    partner, and 14 insertions thrown away with it). ``None`` if none."""
    tolerance = problem.night.sync_tolerance_seconds
    for index, item in enumerate(trial.timed):
        stop = item.stop
        if index == position or not stop.not_before or stop.visit_id is None:
            continue
        if problem.visit(stop.visit_id).nurses_needed == 2:
            limit = stop.not_before + tolerance
        elif stop.latest is not None:
            limit = stop.latest
        else:
            continue
        was = base.timed[index - (index > position)].start
        if item.start > max(was, limit):
            return stop.visit_id
    return None


def _stops(
    problem: Problem,
    nurse_id: str,
    keys: Sequence[str],
    not_before: dict[tuple[str, int], int],
    held: dict[str, int],
) -> list[timeline.Stop]:
    """Her stops as `assemble.plan_from_routes` lays the filled plan out (held ones no
    earlier than ``not_before``), a linked visit narrowed to its gap around the held start
    of its partner (`timeline.within_links`): a layout that differs from the plan's can fit
    a visit the plan then makes late, and the whole fill is thrown away."""
    stops = []
    for i, key in enumerate(keys):
        at = not_before.get((nurse_id, i), 0)
        if key == RESTOCK:
            stops.append(timeline.restock_stop(problem, not_before=at))
            continue
        visit = problem.visit(key)
        stop = timeline.stop_for(problem, visit, not_before=at)
        stops.append(timeline.within_links(problem, visit, stop, held))
    return stops
