"""The live re-plan: a warm start from the current plan, the quick first answer that puts
tonight's new calls in without any search, and making room for an urgent call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optimizer import timeline
from optimizer.assemble import explain, in_step, summarise
from optimizer.eligibility import eligible_nurses
from optimizer.evaluate import evaluate
from optimizer.model import Problem, Visit, VisitState
from optimizer.plan import Plan, PromiseRelaxed, ReasonCode, StepType, Unassigned, Violation
from optimizer.quote import InsertionOption, promised, quote
from optimizer.routing_model import RESTOCK, NightModel

__all__ = [
    "break_starts_of",
    "hold_promises",
    "initial_routes",
    "insert_new_calls",
    "place",
    "promises_of",
    "quick_replan",
    "warm_sequences",
]


def initial_routes(model: NightModel, plan: Plan, *, insert_new: bool = True) -> list[list[int]]:
    """Node sequences per nurse taken from an earlier plan, for a warm start."""
    free = {visit_id: list(nodes) for visit_id, nodes in model.visit_nodes.items()}
    restocks = list(model.restock_nodes)
    routes: list[list[int]] = []
    for nurse in model.problem.nurses:
        sequence: list[int] = []
        try:
            earlier = plan.route(nurse.id)
        except KeyError:
            routes.append(sequence)
            continue
        for step in earlier.steps:
            if step.type == StepType.VISIT and step.visit_id in free and free[step.visit_id]:
                sequence.append(model.index(free[step.visit_id].pop(0)))
            elif (
                step.type == StepType.RESTOCK
                and restocks
                and step.start >= (model.problem.now or 0)
            ):
                sequence.append(model.index(restocks.pop(0)))
        routes.append(sequence)
    if insert_new:
        _insert_new_visits(model, plan, routes, free)
    return _without_lone_halves(model, routes)


def _without_lone_halves(model: NightModel, routes: list[list[int]]) -> list[list[int]]:
    """The routes without a same-nurse link's one visit whose partner is not in them (a
    new check after a planned injection that did not fit): the model keeps such a pair in
    or out together, and the search inserts the two as a pair."""
    placed = {index for sequence in routes for index in sequence}
    lone = {
        index
        for a, b in model.pairs
        if (a in placed) != (b in placed)
        for index in (a, b)
        if index in placed
    }
    return [[index for index in sequence if index not in lone] for sequence in routes]


def _insert_new_visits(
    model: NightModel, plan: Plan, routes: list[list[int]], free: dict[str, list[int]]
) -> None:
    """Put visits the earlier plan did not have (tonight's new calls) at their best
    feasible place, most urgent first, so the search starts from a plan that has them.

    Each call is quoted on the plan with the calls before it in, as `quick_replan` does:
    quoted each on the earlier plan alone, four acute calls at once all took one nurse's
    same place, together pushed her planned care past its windows, the warm start did not
    restore, and the search started without them (red team R07: calls hours late after a
    0.3 s re-plan on a loaded machine)."""
    problem = model.problem
    vehicle_of = {n.id: v for v, n in enumerate(problem.nurses)}
    known = set(plan.assignments()) | {u.visit_id for u in plan.unassigned}
    new = [
        v
        for v in model.visits
        if v.id not in known and v.nurses_needed == 1 and len(free.get(v.id, [])) == 1
    ]
    new.sort(key=lambda v: -problem.urgency_classes[v.urgency].omission_penalty)
    sequences = warm_sequences(problem, plan, {v.id for v in model.visits})
    hints = break_starts_of(problem, plan)
    current = plan
    for count, visit in enumerate(new, 1):
        # A place after a new restock is left to the search (it has the restock nodes).
        options = [o for o in quote(problem, current, visit) if not o.restock_before]
        best = promised(problem, visit, options)
        if best is None:
            model.new_visits_left_out = True
            continue
        sequence = routes[vehicle_of[best.nurse_id]]
        sequence.insert(min(best.position, len(sequence)), model.index(free[visit.id][0]))
        if count < len(new):
            mine = sequences.setdefault(best.nurse_id, [])
            mine.insert(min(best.position, len(mine)), visit.id)
            current = in_step(problem, sequences, hints)


def break_starts_of(problem: Problem, plan: Plan) -> dict[str, int]:
    """Nurse id -> when ``plan`` has her break start, for the breaks not yet taken."""
    on_shift = {n.id: n for n in problem.nurses}
    return {
        route.nurse_id: step.start
        for route in plan.routes
        if route.nurse_id in on_shift and not on_shift[route.nurse_id].break_taken
        for step in route.steps
        if step.type == StepType.BREAK
    }


def promises_of(problem: Problem, plan: Plan) -> dict[str, int]:
    """Call id -> its start in ``plan``, for the calls with an urgency target no nurse has
    begun: what the partner (and before her, triage) was told. A re-plan costs a start past
    it as one past the class's aim (`routing_model.NightModel`), so it does not trade the
    promised nurse for a cheaper drive that arrives later (issue 11's simulated nights:
    answered 4 minutes, re-planned to 14)."""
    return dict(_call_starts(problem, plan))  # a two-person call: its later copy's start


def hold_promises(problem: Problem, plan: Plan) -> tuple[Problem, list[PromiseRelaxed]]:
    """``problem`` with each open call of ``plan`` held to what its partner was told
    (`Visit.promised_by`: the start ``plan`` gives it, or its urgency target if later), and
    the promises the night's facts no longer allow.

    Costing a start past the promise (`promises_of`) was not enough: the search, the quick
    insertion of a new call (one as urgent may push it) and the fill of left-out care after
    the search could still move an acute call answered in time past its 30 minutes (issue
    11's 30 simulated nights: 3 of 5 late acute calls). As a hard end every one of them
    refuses such a move. A promise is only held where ``plan`` itself, laid out again on the
    night's facts as they now stand, keeps it (so the search always has a plan that keeps
    every promise held); one that her route running late (a visit over its time, a nurse
    held up) already breaks is relaxed and reported instead."""
    # A two-person call's later copy: the two start up to the sync tolerance apart.
    promises: dict[str, int] = {}
    for key, start in _call_starts(problem, plan):
        if problem.visit(key).promised_by is None:
            promises[key] = max(start, promises.get(key, start))
    if not promises:
        return problem, []
    open_ids = {v.id for v in problem.visits if not v.is_locked}
    laid = evaluate(
        problem,
        warm_sequences(problem, plan, open_ids),
        break_starts=break_starts_of(problem, plan),
        explain=False,
    )
    now_at: dict[str, tuple[str, int]] = {}
    # A call whose promised nurse can no longer give it: her shift (the planner sent her
    # home) ends before the care would. Held to her start, the call was out of every
    # colleague's reach and left to the back-up partner, though one could come a few
    # minutes late (R21-01): such a promise is relaxed, as one running late is.
    off_shift: set[str] = set()
    for route in laid.routes:
        shift_end = problem.nurse(route.nurse_id).shift.end
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id in promises:
                seen = now_at.get(step.visit_id)
                if seen is None or step.start > seen[1]:
                    now_at[step.visit_id] = (route.nurse_id, step.start)
                if step.end > shift_end:
                    off_shift.add(step.visit_id)
    limits: dict[str, int] = {}
    relaxed: list[PromiseRelaxed] = []
    for key, start in promises.items():
        limit = max(start, problem.target(problem.visit(key)).end)
        nurse_id, at = now_at.get(key, (None, None))
        if at is not None and at <= limit and key not in off_shift:
            limits[key] = limit
            continue
        clock = problem.night.clock
        if at is None:
            reason = "not_in_route"
            message = f"promised by {clock(limit)}; the current plan no longer holds it"
        elif key in off_shift:
            reason = "off_shift"
            message = (
                f"promised by {clock(limit)}; {nurse_id}'s shift ends before she could give it"
            )
        else:
            reason = "running_late"
            message = (
                f"promised by {clock(limit)}; {nurse_id}'s route as it now stands "
                f"reaches it at {clock(at)}"
            )
        relaxed.append(
            PromiseRelaxed(
                visit_id=key,
                promised_by=limit,
                start=at,
                nurse_id=nurse_id,
                reason=reason,
                message=message,
            )
        )
    if not limits:
        return problem, relaxed
    visits = [
        v.model_copy(update={"promised_by": limits[v.id]}) if v.id in limits else v
        for v in problem.visits
    ]
    return problem.model_copy(update={"visits": visits}), relaxed


def _call_starts(problem: Problem, plan: Plan) -> list[tuple[str, int]]:
    """(call id, start) of each step of ``plan`` at an open call with an urgency target."""
    open_calls = {
        v.id
        for v in problem.visits
        if v.call_time is not None
        and problem.urgency_classes[v.urgency].target_seconds is not None
        and v.state in (VisitState.PLANNED, VisitState.EN_ROUTE)
    }
    return [
        (step.visit_id, step.start)
        for route in plan.routes
        for step in route.steps
        if step.type == StepType.VISIT and step.visit_id in open_calls
    ]


def warm_sequences(problem: Problem, warm_start: Plan, open_ids: set[str]) -> dict[str, list[str]]:
    """Per nurse, what is still to come of the current plan: open visits, later restocks."""
    now = problem.now or 0
    sequences: dict[str, list[str]] = {}
    for nurse in problem.nurses:
        try:
            route = warm_start.route(nurse.id)
        except KeyError:
            sequences[nurse.id] = []
            continue
        sequences[nurse.id] = [
            step.visit_id if step.visit_id is not None else RESTOCK
            for step in route.steps
            if (step.type == StepType.VISIT and step.visit_id in open_ids)
            or (step.type == StepType.RESTOCK and step.start >= now)
        ]
    return sequences


def place(
    sequences: dict[str, list[str]], hints: dict[str, int], visit_id: str, option: InsertionOption
) -> None:
    """Put ``visit_id`` in ``sequences`` (nurse id -> open stops) as ``option`` laid it out,
    with what else the quote did to her route: the one stop it moved, the restock before
    the visit, her break taken after it (in ``hints``, nurse id -> break start). Inserted at
    its position alone, the first answer showed a later arrival than triage had promised
    (her break first: 30 minutes later)."""
    sequence = sequences.setdefault(option.nurse_id, [])
    if option.sequence is not None and sorted(option.sequence) == sorted([*sequence, visit_id]):
        sequence[:] = option.sequence  # the quote moved one of her stops as well
    else:
        sequence.insert(min(option.position, len(sequence)), visit_id)
    if option.restock_before:
        sequence.insert(min(option.position, len(sequence)), RESTOCK)
    if option.break_start is not None:
        hints[option.nurse_id] = option.break_start  # the quote took it after the call


def quick_replan(
    problem: Problem, warm_start: Plan, open_visits: list[Visit], excluded: list[Unassigned]
) -> Plan | None:
    """The current plan with tonight's new calls put in, laid out without any search;
    ``None`` when a new call does not fit or a rule would break. ``open_visits``: the
    visits a plan may have; ``excluded``: the others, with why.

    This is the live re-plan's first answer: milliseconds, whatever the size of the night.
    It puts the calls in as the partner's first answer does (`_first_answer`, what triage
    promised): with a pass of its own (without the partner's second pass, its checks of
    each place, its re-placing of care left out to make room) it sent a nurse elsewhere
    than triage had said (review F4). Unlike the partner's answer it does not try again the
    care ``warm_start`` left out, so the two differ where such care, put in first, would
    have taken a call's place. A call that answer leaves out (triage promised no nurse) it
    puts in by leaving out less urgent care, late (`_room_for_the_rest`).
    """
    sequences = warm_sequences(problem, warm_start, {v.id for v in open_visits})
    hints = break_starts_of(problem, warm_start)
    known = set(warm_start.assignments()) | {u.visit_id for u in warm_start.unassigned}
    new = [v for v in open_visits if v.id not in known]
    if any(v.nurses_needed != 1 for v in new):
        return None  # no insertion places a two-person visit: the search does
    # Only the new visits: care the current plan left out is not tried again here (the
    # fill after the search is), unlike the partner's answer. Tried again, at 10 x 200
    # (39 such visits) it took 0.37 s, against 0.01 s, of a 0.9 s live re-plan; at
    # 50 x 1000 (164) 5.4 s.
    answer = _first_answer(problem, sequences, hints, new)
    if not {v.id for v in new} <= set(answer.plan.assignments()):
        made = _room_for_the_rest(problem, answer, new)
        if made is None:
            return None
        answer = made
    plan = answer.plan
    if plan.violations:
        return None
    earlier = {u.visit_id: u for u in warm_start.unassigned}
    reasons = {**earlier, **answer.displaced, **{u.visit_id: u for u in excluded}}
    # Only a visit no earlier answer explains is looked into (`assemble.explain`): the
    # current plan's left-out visits keep their reasons (looking again for all of them was a
    # quarter of this answer's time at 50 x 1000).
    fresh = [u for u in plan.unassigned if u.visit_id not in reasons]
    if fresh:
        asked = explain(
            problem, plan.model_copy(update={"unassigned": fresh}), answer.routes, answer.hints
        )
        reasons.update({u.visit_id: u for u in asked.unassigned})
    left_out = [reasons.get(u.visit_id, u) for u in plan.unassigned]
    return plan.model_copy(
        update={"unassigned": left_out, "summary": summarise(problem, plan.routes, left_out)}
    )


def _room_for_the_rest(problem: Problem, answer: _Answer, new: list[Visit]) -> _Answer | None:
    """``answer`` with each of ``new`` it left out put in by leaving out less urgent care
    (`_make_room` at the nurses its quote ranks first, most urgent first); ``None`` when one
    finds no room. Every call ``answer`` placed keeps its place: each is held where it is
    (`_hold_call`), as triage promised it. The search would be next, and at 50 x 1000 it
    took close to a second for its first answer, which could still leave an acute alarm out
    that no nurse could reach in time (tests/optimizer/test_live.py)."""
    plan, routes, displaced = answer.plan, answer.routes, dict(answer.displaced)
    held: dict[str, int] = {}
    for visit in new:
        _hold_call(problem, plan, visit, held)
    holding = _holding(problem, held)
    missing = [v for v in new if v.id not in set(plan.assignments())]
    missing.sort(key=_answer_order(problem))
    for visit in missing:
        options = quote(holding, plan, visit)
        tries = [o.nurse_id for o in options[:_ROOM_TRIES]]
        room = _make_room(holding, routes, visit, tries, answer.hints)
        if room is None:
            return None
        routes, left = room
        displaced.update(left)
        plan = evaluate(problem, routes, break_starts=answer.hints, explain=False)
    return _Answer(routes, answer.hints, plan, displaced)


def insert_new_calls(problem: Problem, current: Plan | None) -> Plan:
    """The routes of ``current`` laid out on ``problem``, with each visit they lack put at
    its best feasible place (most urgent first, `_first_answer`); what fits nowhere is
    unassigned with its reason. The service's first answer to a partner's call, and its
    fallback when a search fails (`api.services.planning.keep_with_new_calls`).

    The trial layouts are not explained (nobody reads their reasons, and explaining one lays
    every left-out visit out at every nurse and position); the routes chosen are, once. With
    an explanation per trial, routes that had lost 48 visits held the serving process's
    interpreter for 14.5 s in a load run (a loaded machine), every request waiting.

    Every call ``current`` answered is held to its promise (`hold_promises`): a new call
    as urgent goes where it pushes none past it."""
    open_visits = [v for v in problem.visits if not v.is_locked]
    routes: dict[str, list[str]] = {}
    hints: dict[str, int] = {}
    if current is not None:
        problem, _ = hold_promises(problem, current)
        routes = warm_sequences(problem, current, {v.id for v in open_visits})
        # Each break where the current plan has it, as the quote lays her route out (taken
        # as soon as its window opens instead, every route with a break moved).
        hints = break_starts_of(problem, current)
    answer = _first_answer(problem, routes, hints, open_visits)
    laid = evaluate(problem, answer.routes, break_starts=answer.hints)
    if not answer.displaced:
        return laid
    left_out = [answer.displaced.get(u.visit_id, u) for u in laid.unassigned]
    return laid.model_copy(
        update={"unassigned": left_out, "summary": summarise(problem, laid.routes, left_out)}
    )


@dataclass(frozen=True)
class _Answer:
    """A first answer: the routes (nurse id -> open stops) and break starts (nurse id ->
    second) with the new visits put in, their layout (``plan``, its left-out visits not
    explained), and the visits left out to make room for a call, with why."""

    routes: dict[str, list[str]]
    hints: dict[str, int]
    plan: Plan
    displaced: dict[str, Unassigned]


def _first_answer(
    problem: Problem,
    routes: dict[str, list[str]],
    hints: dict[str, int],
    visits: list[Visit],
) -> _Answer:
    """``routes`` (nurse id -> open stops; ``hints``: their break starts) with each of
    ``visits`` they lack put in, most urgent first, each at the place its quote ranks best.
    The one first answer to new calls: the partner's (`insert_new_calls`, what triage
    promises) and the live re-plan's (`quick_replan`, what the nurses are sent) both give
    this one, so no nurse is sent elsewhere than triage said. ``problem`` holds every call
    answered before to its promise (`hold_promises`)."""
    plan = evaluate(problem, routes, break_starts=hints, explain=False)
    placed = set(plan.assignments())
    new = [v for v in visits if v.id not in placed]
    new.sort(key=_answer_order(problem))
    answer = _answer(problem, routes, hints, plan, new, spare_tolerance=False)
    if _spared_may_help(problem, plan, new, answer.plan):
        # Calls put in one by one, each pricing planned care's tolerance against its own
        # minutes, can spend on the first the tolerance a later one needed, and leave
        # planned care out or a call late (a session 24 case: three calls at 23:00, one
        # visit left out). Ranked to spare the tolerance they may do better.
        spared = _answer(problem, routes, hints, plan, new, spare_tolerance=True)
        if _answer_cost(problem, spared.plan) < _answer_cost(problem, answer.plan):
            return spared
    return answer


def _spared_may_help(problem: Problem, start: Plan, new: list[Visit], answer: Plan) -> bool:
    """Whether `_answer` with ``spare_tolerance`` could do better than ``answer`` (its
    first pass over ``new``, put into the routes laid out as ``start``): only for calls that
    come together, only where open planned care has a tolerance (without one both ranks are
    the same, and so are both passes), and only when ``answer`` leaves out a visit the passes
    could have had in (one of ``new`` they place, or one ``start`` has), makes a call late,
    or breaks more rules than ``start``. A two-person visit is placed by neither pass (the
    search does), nor is care left out before that they were not given: counted as left
    out, every batch with one ran the second pass for nothing."""
    if len(new) < 2 or not any(
        problem.is_planned_care(v) and v.late_tolerance_seconds > 0 and not v.is_locked
        for v in problem.visits
    ):
        return False
    broken, _, late = _answer_cost(problem, answer)
    could = {v.id for v in new if v.nurses_needed == 1} | set(start.assignments())
    left_out = any(u.visit_id in could for u in answer.unassigned)
    return left_out or late > 0 or broken > len(start.violations)


def _answer_cost(problem: Problem, answer: Plan) -> tuple[int, int, int]:
    """(rules broken, visits left out, seconds calls start past their urgency targets) of
    ``answer``, to compare answers by: one that breaks a rule never wins over one that
    does not, however much more that one leaves out."""
    late = sum(
        step.lateness_seconds
        for route in answer.routes
        for step in route.steps
        if step.type == StepType.VISIT
        and step.visit_id is not None
        and not problem.is_planned_care(problem.visit(step.visit_id))
    )
    return len(answer.violations), len(answer.unassigned), late


def _answer(
    problem: Problem,
    routes: dict[str, list[str]],
    hints: dict[str, int],
    plan: Plan,
    new: list[Visit],
    *,
    spare_tolerance: bool,
) -> _Answer:
    """One pass of `_first_answer`: ``new`` (most urgent first) put into ``routes`` (laid
    out as ``plan``), each call at the place its quote ranks best (`quote.quote`, with
    ``spare_tolerance``)."""
    # Each call put in here is held to the start it got (or its target, if later) while
    # the next ones are placed, as `hold_promises` holds the calls answered before: six
    # acute calls accepted together were otherwise inserted one by one at each call's
    # soonest place, the next one before it on the same route, and a partner was told
    # 43 minutes while a nurse stood idle (3 calls stacked on one nurse, 1 on another).
    held: dict[str, int] = {}
    displaced: dict[str, Unassigned] = {}
    for visit in new:
        if visit.nurses_needed != 1:
            continue
        quoting, options, unheld = _quoted(problem, held, plan, visit, spare_tolerance)
        found = None
        if quoting is not problem:
            found = _insert_call(quoting, routes, hints, plan, visit, options)
            if found is None:  # no tried place keeps them: the quote without the holds
                options = (
                    unheld
                    if unheld is not None
                    else quote(problem, plan, visit, spare_tolerance=spare_tolerance)
                )
        if found is None:
            # ``plan`` laid out with the holds breaks nothing more without them: each hold
            # is at or after where its call now starts (`_hold_call`).
            found = _insert_call(problem, routes, hints, plan, visit, options)
        if _late_or_out(problem, visit, found):
            # No place in time: leave less urgent care out for it; triage asks this answer,
            # and it said "no" to 16 of 35 acute calls on 10 simulated nights with 2 nurses
            # (a nurse could be there first once the planned visit went to later or to the
            # back-up).
            room = _room_for_call(problem, held, routes, hints, plan, visit, spare_tolerance)
            if room is not None:
                found, left = room
                displaced.update(left)
        if found is None:
            continue
        routes, hints, plan = found
        _hold_call(problem, plan, visit, held)
    # ``plan`` is ``routes`` laid out (each place tried was, with `evaluate`).
    return _Answer(routes, hints, plan, displaced)


def _past_target(problem: Problem, visit: Visit, start: int | None) -> bool:
    """Whether ``visit``, a call with an urgency target, starting at ``start`` (``None``:
    left out) is past its target; ``False`` for a visit without a target."""
    if visit.call_time is None or problem.urgency_classes[visit.urgency].target_seconds is None:
        return False
    return start is None or start > problem.target(visit).end


def _late_or_out(
    problem: Problem,
    visit: Visit,
    found: tuple[dict[str, list[str]], dict[str, int], Plan] | None,
) -> bool:
    """Whether ``visit``, a call with an urgency target, is left out of ``found`` or starts
    in it past its target; ``False`` for a visit without a target."""
    start = None if found is None else dict(_call_starts(problem, found[2])).get(visit.id)
    return _past_target(problem, visit, start)


def _held_to_target(problem: Problem, held: dict[str, int], visit: Visit) -> Problem:
    """``problem`` with each call of ``held`` (id -> latest start) held to it and ``visit``,
    a call, held to its target: the night `_timely_room` makes room on."""
    return _holding(problem, {**held, visit.id: problem.target(visit).end})


def _timely_room(
    timely: Problem,
    sequences: dict[str, list[str]],
    hints: dict[str, int],
    visit: Visit,
) -> tuple[dict[str, list[str]], dict[str, Unassigned]] | None:
    """`_make_room` for ``visit``, a call, on site by its target on ``timely``
    (`_held_to_target`, made once by the caller, who lays the answer out on it): tried with
    each nurse who, with nothing else to do, could be there by then (her departure and the
    drive), soonest first, at most `_CALL_ROOM_TRIES`."""
    target = timely.target(visit).end
    bounds = []
    for nurse in eligible_nurses(timely, visit):
        leave = timeline.departure(timely, nurse)
        drive = timely.matrix(nurse.profile)[leave.location][visit.location]
        if leave.time + drive <= target:
            bounds.append((leave.time + drive, nurse.id))
    tries = [nurse_id for _, nurse_id in sorted(bounds)[:_CALL_ROOM_TRIES]]
    if not tries:
        return None
    everyone = {n.id: list(sequences.get(n.id, [])) for n in timely.nurses}
    return _make_room(timely, everyone, visit, tries, hints)


def _room_for_call(
    problem: Problem,
    held: dict[str, int],
    routes: dict[str, list[str]],
    hints: dict[str, int],
    plan: Plan,
    visit: Visit,
    spare_tolerance: bool = False,
) -> tuple[tuple[dict[str, list[str]], dict[str, int], Plan], dict[str, Unassigned]] | None:
    """``routes`` with ``visit`` (a call) on site by its target by leaving out less urgent
    visits no partner was told a time for (`_timely_room`), and what was left out; ``None``
    when no such place breaks no more rules than ``plan`` and keeps every promise. What was
    left out is put back where its quote (ranked with ``spare_tolerance``, as the pass
    that calls) finds a place."""
    target = problem.target(visit).end
    timely = _held_to_target(problem, held, visit)
    room = _timely_room(timely, routes, hints, visit)
    if room is None:
        return None
    trial, left = room
    laid = evaluate(timely, trial, break_starts=hints, explain=False)
    start = dict(_call_starts(timely, laid)).get(visit.id)
    if start is None or start > target or len(laid.violations) > len(plan.violations):
        return None
    moved = dict(hints)
    for key in list(left):
        # What was left out goes to another place if one keeps the call in time (the
        # other nurse's route), as the search would put it; else it stays for the back-up.
        options = quote(timely, laid, timely.visit(key), spare_tolerance=spare_tolerance)
        back = _insert_call(timely, trial, moved, laid, timely.visit(key), options)
        if back is not None:
            trial, moved, laid = back
            del left[key]
    laid = evaluate(problem, trial, break_starts=moved, explain=False)
    return (trial, moved, laid), left


def _hold_call(problem: Problem, plan: Plan, visit: Visit, held: dict[str, int]) -> None:
    """Hold ``visit``, a call just put in ``plan``, to its start there (or its target, if
    later) in ``held`` (id -> latest start), as `hold_promises` holds a call answered
    before; a visit without an urgency target is not held. A call held before that this
    one pushed (`_quoted` allows it when it costs less lateness) is held where it now is:
    else no place kept it any more and the next call was left out."""
    starts = dict(_call_starts(problem, plan))
    for key in held:
        if key in starts:
            held[key] = max(held[key], starts[key])
    if visit.call_time is None or problem.urgency_classes[visit.urgency].target_seconds is None:
        return
    if visit.id in starts:
        limit = max(starts[visit.id], problem.target(visit).end)
        held[visit.id] = max(limit, held.get(visit.id, limit))


def _answer_order(problem: Problem) -> Callable[[Visit], tuple[int, int]]:
    """Most urgent first; of the same urgency, the call made first (its partner asked
    first, so is answered against the night without the later ones)."""

    def key(visit: Visit) -> tuple[int, int]:
        rank = problem.urgency_classes[visit.urgency].omission_penalty
        return -rank, visit.call_time if visit.call_time is not None else -1

    return key


def _quoted(
    problem: Problem,
    held: dict[str, int],
    plan: Plan,
    visit: Visit,
    spare_tolerance: bool = False,
) -> tuple[Problem, list[InsertionOption], list[InsertionOption] | None]:
    """The quote ``visit`` is put in by, the problem it was made on, and the quote on
    ``problem`` without the holds if one was made (else ``None``; a caller whose held
    quote places nothing falls back on it without quoting every route again): with each
    call put in before it held (`_holding`), unless pushing one of them later costs less
    lateness in all (own and others', past their targets) than the soonest place that
    keeps them (a minute late for one call rather than ten for the next), or no place
    keeps them. The choice among its options stays the soonest arrival (`promised`).
    Returned as (problem, quote, quote without the holds)."""
    if not held:
        options = quote(problem, plan, visit, spare_tolerance=spare_tolerance)
        return problem, options, options
    holding = _holding(problem, held)
    kept = quote(holding, plan, visit, spare_tolerance=spare_tolerance)
    best_kept = promised(holding, visit, kept)

    def lateness(option: InsertionOption) -> int:
        return option.lateness_seconds + option.added_lateness_others_seconds

    if best_kept is not None and lateness(best_kept) == 0:
        # Nothing late: no push can do better (the quote is not free).
        return holding, kept, None
    free = quote(problem, plan, visit, spare_tolerance=spare_tolerance)
    best_free = promised(problem, visit, free)
    if best_kept is None or (best_free is not None and lateness(best_free) < lateness(best_kept)):
        return problem, free, free
    return holding, kept, free


def _holding(problem: Problem, held: dict[str, int]) -> Problem:
    """``problem`` with each call of ``held`` (id -> latest start) held to it."""
    visits = [
        v.model_copy(update={"promised_by": held[v.id]}) if v.id in held else v
        for v in problem.visits
    ]
    return problem.model_copy(update={"visits": visits})


def _insert_call(
    problem: Problem,
    routes: dict[str, list[str]],
    hints: dict[str, int],
    plan: Plan,
    visit: Visit,
    options: list[InsertionOption],
) -> tuple[dict[str, list[str]], dict[str, int], Plan] | None:
    """``routes`` (laid out as ``plan`` on ``problem``) with ``visit`` put in: the place
    triage promises (`promised`) first, then the other nurses' places, should that one
    push a call placed before later; ``None`` when no tried place fits. ``options``: the
    quote of ``visit`` on ``plan`` and ``problem``."""
    best = promised(problem, visit, options)
    if best is None:
        return None
    tries = [best, *(o for o in options if o.feasible and o is not best)]
    rank = problem.urgency_classes[visit.urgency].omission_penalty
    kept = {
        key: start
        for key, start in promises_of(problem, plan).items()
        if problem.urgency_classes[problem.visit(key).urgency].omission_penalty > rank
    }
    for option in tries[:_PLACES_TRIED]:
        trial = {n: list(stops) for n, stops in routes.items()}
        moved = dict(hints)
        place(trial, moved, visit.id, option)
        laid = evaluate(problem, trial, break_starts=moved, explain=False)
        now_at = promises_of(problem, laid)
        # A more urgent call answered before (this night's, or one just put in) keeps
        # its time: a planned visit left out earlier went in before an acute call and
        # made it 11 minutes later than triage had said (simulated nights of issue 11).
        # One as urgent is held by its promise (`hold_promises`, the caller's holds).
        later = any(now_at.get(key, start) > start for key, start in kept.items())
        if len(laid.violations) <= len(plan.violations) and not later:
            return trial, moved, laid
    return None


def first_answer_arrival(
    problem: Problem, current: Plan | None, visit_id: str
) -> tuple[str, int] | None:
    """(nurse id, arrival in seconds from the night's start) of ``visit_id`` in the first
    answer `insert_new_calls` gives for ``problem`` (which holds the visit) from ``current``,
    or ``None`` when that answer leaves it out. What triage promises: the quote's soonest
    option alone promised a nurse the first answer then refused (it would have pushed a
    more urgent call answered before later), and once no nurse at all."""
    for route in insert_new_calls(problem, current).routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id == visit_id:
                return route.nurse_id, step.arrival
    return None


#: Places tried per new visit by `insert_new_calls` (each a layout of every route).
_PLACES_TRIED = 3


_ROOM_REMOVALS = 4  # visits at most that one new call may push out of a route
#: Nurses `insert_new_calls` tries to make room with for a call (each every place of hers).
_CALL_ROOM_TRIES = 4
#: Nurses `quick_replan` tries to make room with for a call the first answer left out.
_ROOM_TRIES = 3
#: Places at most whose tied routes are laid out (tens of milliseconds each at 50 x 1000).
_TIED_TRIES = 6


def _route_violations(
    problem: Problem, nurse_id: str, sequence: list[str], break_start: int | None
) -> list[Violation]:
    """The rules one nurse's route would break, laid out on its own (cheap: no checker)."""
    stops = [
        timeline.restock_stop(problem)
        if key == RESTOCK
        else timeline.stop_for(problem, problem.visit(key))
        for key in sequence
    ]
    _, broken = timeline.route(problem, problem.nurse(nurse_id), stops, break_start=break_start)
    return broken


def _tied_violations(
    problem: Problem, sequences: dict[str, list[str]], nurse_id: str, hints: dict[str, int]
) -> list[Violation]:
    """The rules broken by the routes tied to ``nurse_id``'s by two-person visits and
    dependencies (transitively, hers included), laid out together as the plan will be
    (`assemble.in_step`: each nurse held until her partner can be there).

    Her route alone can be fine while a two-person visit she now reaches later holds her
    partner past that nurse's windows or shift (seen at 50 x 1000: room made for an alarm
    on N18 broke five windows on N40). Laid out on a problem of just those nurses and their
    visits, so nothing else is laid out or explained; ``[]`` when no route is tied to hers.
    """
    holders: dict[str, list[str]] = {}
    for other, sequence in sequences.items():
        for key in sequence:
            if key != RESTOCK:
                holders.setdefault(key, []).append(other)
    team = {nurse_id}
    frontier = [nurse_id]
    while frontier:
        for key in sequences.get(frontier.pop(), []):
            if key == RESTOCK:
                continue
            tied = [key] if problem.visit(key).nurses_needed > 1 else []
            for link in problem.dependencies_of(key):
                tied.append(link.second if link.first == key else link.first)
            for visit_id in tied:
                for other in holders.get(visit_id, []):
                    if other not in team:
                        team.add(other)
                        frontier.append(other)
    if len(team) == 1 and not problem.dependencies:
        return []
    ids = {key for n in team for key in sequences.get(n, []) if key != RESTOCK}
    ids |= {v.id for n in team for v in problem.locked_visits_by_nurse.get(n, [])}
    links = [d for d in problem.dependencies if d.first in ids or d.second in ids]
    ids |= {visit_id for d in links for visit_id in (d.first, d.second)}
    sub = problem.model_copy(
        update={
            "nurses": [n for n in problem.nurses if n.id in team],
            "visits": [v for v in problem.visits if v.id in ids],
            "dependencies": links,
        }
    )
    draft = in_step(
        sub,
        {n: list(sequences.get(n, [])) for n in team},
        {n: hints[n] for n in team if n in hints},
    )
    return list(draft.violations)


def _driving_to(problem: Problem, sequence: list[str]) -> int:
    """1 when ``sequence`` (a nurse's open stops) begins with the visit she is driving to,
    else 0: the first place a new visit may go."""
    if sequence and sequence[0] != RESTOCK:
        return int(problem.visit(sequence[0]).state == VisitState.EN_ROUTE)
    return 0


def _make_room(
    problem: Problem,
    sequences: dict[str, list[str]],
    visit: Visit,
    nurse_ids: list[str],
    hints: dict[str, int],
) -> tuple[dict[str, list[str]], dict[str, Unassigned]] | None:
    """Insert ``visit`` where it fits in the routes of ``nurse_ids`` by leaving out visits
    less urgent than it, the fewest and least urgent first, without breaking a rule on a
    route tied to hers (`_tied_violations`); ``None`` if no tried place works."""
    urgency = problem.urgency_classes
    rank = urgency[visit.urgency].omission_penalty
    fitting: list[tuple[int, int, str, dict[str, list[str]], list[str]]] = []
    places = [
        (nurse_id, position)
        for nurse_id in nurse_ids
        for position in range(
            # Not before the visit she is driving to (the checker's ``en_route_moved``):
            # chosen first as the cheapest, that place made the whole answer fail.
            _driving_to(problem, sequences[nurse_id]),
            len(sequences[nurse_id]) + 1,
        )
    ]
    # What her route already breaks (a break whose window went by untaken, care already
    # late) is no reason to leave care out: it blocked every place, and triage said no to
    # a call a nurse could reach in 20 minutes (simulated night 5 of seed 11, 05:18).
    before: dict[str, set[tuple[str, str | None]]] = {}
    for nurse_id, position in places:
        if nurse_id not in before:
            before[nurse_id] = {
                (v.code, v.visit_id)
                for v in _route_violations(
                    problem, nurse_id, sequences[nurse_id], hints.get(nurse_id)
                )
            }
        trial = {nurse: list(seq) for nurse, seq in sequences.items()}
        route = trial[nurse_id]
        route.insert(position, visit.id)
        removed: list[str] = []
        for _ in range(_ROOM_REMOVALS + 1):
            broken = [
                v
                for v in _route_violations(problem, nurse_id, route, hints.get(nurse_id))
                if (v.code, v.visit_id) not in before[nurse_id]
            ]
            if not broken:
                break
            candidates = [
                key
                for key in route
                if key != RESTOCK
                and key != visit.id
                and urgency[problem.visit(key).urgency].omission_penalty < rank
                and problem.visit(key).state == VisitState.PLANNED
                # A call a partner was told a time for keeps it (`hold_promises`).
                and problem.visit(key).promised_by is None
                # Leaving out one nurse's half of a two-person visit would strand the other.
                and problem.visit(key).nurses_needed == 1
            ]
            named = [v.visit_id for v in broken if v.visit_id in candidates]
            victim = named[0] if named else None
            if victim is None and candidates:
                # Shift or break overrun: drop the least urgent visit after the new one.
                after = route[route.index(visit.id) + 1 :]
                later = [key for key in candidates if key in after] or candidates
                victim = min(
                    later, key=lambda k: urgency[problem.visit(k).urgency].omission_penalty
                )
            if victim is None or len(removed) == _ROOM_REMOVALS:
                break
            route.remove(victim)
            removed.append(victim)
        else:
            continue
        if broken:
            continue
        cost = sum(urgency[problem.visit(k).urgency].omission_penalty for k in removed)
        fitting.append((cost, len(fitting), nurse_id, trial, removed))
    # Cheapest first; the routes tied to hers are laid out only for the places tried.
    chosen = next(
        (
            (trial, removed)
            for _, _, nurse_id, trial, removed in sorted(fitting, key=lambda f: f[:2])[:_TIED_TRIES]
            if not _tied_violations(problem, trial, nurse_id, hints)
        ),
        None,
    )
    if chosen is None:
        return None
    trial, removed = chosen
    left = {
        key: Unassigned(
            visit_id=key,
            urgency=problem.visit(key).urgency,
            reason=ReasonCode.DISPLACED,
            message=(
                f"left out to make room for {visit.urgency} call {visit.id}: "
                "ask the back-up partner or re-plan when the night quietens"
            ),
        )
        for key in removed
    }
    return trial, left
