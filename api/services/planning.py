"""From the database to the optimizer and back: tonight's problem, plans, moves, live re-plans.

The optimizer sees no personal data: visits are ``V<id>``, clients ``C<id>``, nurses their
code, locations bare coordinates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.problems import Conflict, NurseSilent, Unprocessable
from api.db.models import Client, Night, Nurse, Region, Visit, VisitRequest
from api.db.models import Shift as ShiftRow
from api.night.reach import Reach, phone_reach, silence_of, silent_nurse_warning
from api.night.stored import StoredStep, plan_of, route_of, visit_ids_of
from api.night.visit_states import VisitStatus, change_visit
from api.nightbag import full_bag, optimizer_bag_now, remaining
from api.offline_events import derive_state
from api.repositories import nights
from api.repositories import phone as phone_repo
from api.services import breaks
from api.services.solving import run_solve
from api.services.tolerance import current_rule
from api.travel import travel_matrices
from optimizer import model as om
from optimizer.evaluate import RESTOCK, evaluate
from optimizer.live import state_at
from optimizer.plan import OUT_OF_TIME, Plan, ReasonCode, StepType, Summary, Unassigned
from optimizer.replan import hold_promises, insert_new_calls
from optimizer.solve import plan_from_routes

__all__ = [
    "NightProblem",
    "build_problem",
    "current_plan",
    "fallback_replan",
    "keep_with_new_calls",
    "quick_replan",
    "replan",
    "solve_night",
    "store_solved",
    "visit_ref",
]

logger = logging.getLogger("nachtroute.planning")

#: The cap on a live re-plan's first plan of a night that has none yet (`solve_night`): the
#: first-plan path returns once its plan is complete, so this only bounds a pathological
#: night (the night benchmark gives the same path 60 s; 50 x 1000 takes 0.6-5 s).
FIRST_PLAN_SECONDS = 60.0


#: Why a visit the planner moved out of the plan is unassigned (`ReasonCode.HELD_BY_PLANNER`).
HELD_MESSAGE = "moved out of the plan by the planner; it stays out until she puts it on a route"


def visit_ref(visit_id: int) -> str:
    """The optimizer's id for a visit."""
    return f"V{visit_id}"


def visit_id_of(ref: str) -> int:
    """The database id behind an optimizer visit id."""
    return int(ref[1:])


@dataclass
class NightProblem:
    """Tonight's problem with the database rows it was made from."""

    night: Night
    region: Region
    problem: om.Problem
    visits: dict[str, Visit]
    nurses: dict[str, Nurse]
    extra_locations: list[int] = field(default_factory=list)
    #: Nurse code -> the break her shift owes, before it was cut into slots (`breaks`).
    own_breaks: dict[str, om.BreakRule | None] = field(default_factory=dict)
    #: Nurse code -> her break begun by ``now`` (`_break_begun`).
    breaks_begun: dict[str, breaks.Begun] = field(default_factory=dict)
    #: Nurse code -> second of the night her break, begun by ``now``, ends (only breaks
    #: still running then): she is free from that second (`live_problem`).
    resting_until: dict[str, int] = field(default_factory=dict)
    #: Plan version -> that stored plan, parsed (`stored_plan_of`): a re-plan read and
    #: parsed the same version up to four times (session 27's review).
    stored_plans: dict[int, Plan | None] = field(default_factory=dict, repr=False)

    def nurse_by_id(self, nurse_id: int) -> Nurse | None:
        """The nurse with database id ``nurse_id``, if on shift."""
        return next((n for n in self.nurses.values() if n.id == nurse_id), None)


def _shift_window(region: Region, night: Night, shift: ShiftRow) -> om.TimeWindow:
    span = nights.horizon(night)
    start = min(span, max(0, nights.clock_to_seconds(region, night, shift.start)))
    end = min(span, max(start, nights.clock_to_seconds(region, night, shift.end)))
    return om.TimeWindow(start=start, end=end)


def build_problem(
    session: Session,
    region: Region,
    night: Night,
    *,
    extra_locations: list[om.Location] | None = None,
    now: datetime | None = None,
) -> NightProblem:
    """The night as the optimizer sees it (visits not begun are free to plan).

    Times a phone reported are kept to what can be true (`_plausible_start`), so a device
    clock far off never makes the night unplannable.
    """
    locations = [om.Location(lat=region.base_lat, lon=region.base_lon)]
    index: dict[tuple[float, float], int] = {}
    rows = nights.night_visits(session, night)
    client_rows = {c.id: c for c in _clients(session, {v.client_id for v in rows})}
    team = nights.shifts_of(session, night)
    nurse_by_id = {nurse.id: nurse for nurse, _ in team}
    template = phone_repo.bag_template(session, region)
    bag = full_bag(template)
    events = phone_repo.SqlEventStore(session, night.id).for_night()
    moment = nights.seconds_since_start(night, now) if now is not None else None
    stored_plans: dict[int, Plan | None] = {}
    if moment is not None:
        stored_plans[night.plan_version] = stored_plan(session, night)
    told = stored_plans.get(night.plan_version)
    recorded = nights.breaks_begun(session, night) if moment is not None else {}
    opt_nurses, owed, begun = [], [], {}
    for nurse, shift in team:
        window = _shift_window(region, night, shift)
        # What her phone says is left in the bag (bag check, materials used); full if silent.
        state = derive_state(events.get(str(nurse.id), []))
        heard = max((e.at for e in events.get(str(nurse.id), [])), default=None)
        rest = _break_begun(
            night,
            state.breaks,
            heard,
            recorded.get(nurse.id),
            told,
            nurse.code,
            moment,
        )
        if rest is not None:
            begun[nurse.code] = rest
        owed.append(breaks.break_rule(window))
        opt_nurses.append(
            om.Nurse(
                id=nurse.code,
                skills=frozenset(nurse.skills),
                shift=window,
                start_location=0,
                end_location=0,
                profile=nurse.profile,
                break_rule=owed[-1],  # staggered below
                bag=bag,
                bag_now=optimizer_bag_now(template, remaining(template, state)),
            )
        )
    # Turns in nurse-code order (`shifts_of`), so a re-plan gives each nurse her slot again;
    # a break the night has begun stays taken wherever the slots are cut now.
    opt_nurses = [
        breaks.kept(n.model_copy(update={"break_rule": slot}), own, begun.get(n.id), moment)
        for n, slot, own in zip(opt_nurses, breaks.staggered(owed), owed, strict=True)
    ]
    # Who has each visit on her newest route: the crew of a begun two-person visit.
    on_routes: dict[int, list[str]] = {}
    for route in nights.latest_routes(session, night):
        holder = nurse_by_id.get(route.nurse_id)
        if holder is None:
            continue
        for visit_id in visit_ids_of(route_of(route)):
            on_routes.setdefault(visit_id, []).append(holder.code)
    request_rows = nights.requests_by_id(session, {v.request_id for v in rows})
    tasks = {r.id: r.care_task for r in request_rows.values()}
    held = _held_by_failed_first_care(session, night, rows, request_rows)
    # First care begun by nurses the problem cannot name (history only, not on a route):
    # its link is no rule in the problem, so the check's window keeps the gap from it.
    unplaced_first = {
        v.request_id: (v.id, _plausible_start(night, v, now))
        for v in rows
        if v.status in ("started", "done")
        and _crew(v, nurse_by_id.get(v.done_by_nurse_id or 0), on_routes) is None
    }
    opt_visits = []
    by_ref: dict[str, Visit] = {}
    for visit in rows:
        client = client_rows[visit.client_id]
        key = (round(client.lat, 6), round(client.lon, 6))
        if key not in index:
            index[key] = len(locations)
            locations.append(om.Location(lat=client.lat, lon=client.lon))
        data: dict[str, Any] = {
            "id": visit_ref(visit.id),
            "client_ref": f"C{visit.client_id}",
            "location": index[key],
            "service_seconds": visit.service_seconds,
            "required_skills": frozenset(visit.required_skills),
            "nurses_needed": visit.nurses_needed,
            "urgency": visit.urgency,
        }
        if visit.window_start is not None and visit.window_end is not None:
            data["window"] = om.TimeWindow(start=visit.window_start, end=visit.window_end)
            # The region's rule: planned care may run this late for a call, at this cost.
            task = tasks.get(visit.request_id, "")
            late, cost = current_rule().for_task(task)
            if late:
                data["late_tolerance_seconds"], data["late_cost_per_minute"] = late, cost
            # A hard end: the last minutes before it cost, leaving room for the night's noise.
            margin, margin_cost = current_rule().margin_for_task(task)
            if margin:
                data["end_margin_seconds"] = margin
                data["end_margin_cost_per_minute"] = margin_cost
        if visit.call_time is not None:
            data["call_time"] = visit.call_time
        if visit.pin_nurse_id is not None and visit.pin_nurse_id in nurse_by_id:
            data["pin"] = om.Pin(
                nurse=nurse_by_id[visit.pin_nurse_id].code, position=visit.pin_position
            )
        doer = nurse_by_id.get(visit.done_by_nurse_id or 0)
        crew = _crew(visit, doer, on_routes)
        if visit.status in ("started", "done") and crew is not None:
            data["state"] = om.VisitState.DONE if visit.status == "done" else om.VisitState.STARTED
            data["started_at"] = _plausible_start(night, visit, now)
            data["assigned_nurses"] = crew
        elif visit.status in ("started", "done"):
            continue  # history we cannot place on a route; it no longer needs planning
        else:
            if visit.held_by_planner:
                data["held"] = om.Hold(reason=ReasonCode.HELD_BY_PLANNER, message=HELD_MESSAGE)
            elif visit.id in held:
                data["held"] = held[visit.id]
            else:
                _gap_after_unplaced_first_care(
                    data, request_rows.get(visit.request_id), unplaced_first
                )
            # What it takes from the bag; a begun visit's use is in bag_now already.
            data["materials"] = care_materials(tasks.get(visit.request_id), bag)
        opt_visits.append(om.Visit(**data))
        by_ref[data["id"]] = visit
    extra = []
    for location in extra_locations or []:
        extra.append(len(locations))
        locations.append(location)
    profiles = {n.profile for n in opt_nurses} or {"car"}
    problem = om.Problem(
        night=om.Night(start=night.starts_at, end=night.ends_at, timezone=region.timezone),
        locations=locations,
        travel=travel_matrices(locations, profiles),
        nurses=opt_nurses,
        visits=opt_visits,
        dependencies=_dependencies(by_ref, request_rows),
    )
    return NightProblem(
        night=night,
        region=region,
        problem=problem,
        visits=by_ref,
        nurses={n.code: n for n in nurse_by_id.values()},
        extra_locations=extra,
        breaks_begun=begun,
        own_breaks={n.id: rule for n, rule in zip(opt_nurses, owed, strict=True)},
        resting_until={
            code: rest.end
            for code, rest in begun.items()
            if moment is not None and rest.end > moment
        },
        stored_plans=stored_plans,
    )


def stored_plan_of(session: Session, night_problem: NightProblem) -> Plan | None:
    """The night's current plan exactly as stored, read and parsed once per plan version
    for ``night_problem`` (a stored version never changes; a new one has a new number)."""
    version = night_problem.night.plan_version
    if version not in night_problem.stored_plans:
        night_problem.stored_plans[version] = stored_plan(session, night_problem.night)
    return night_problem.stored_plans[version]


def care_materials(care_task: str | None, carried: Collection[str]) -> dict[str, int]:
    """Item -> quantity ``care_task`` takes from the night bag (`phone.CARE_TASK_MATERIALS`),
    of the items the bag holds (``carried``); nothing for no task or one that takes none."""
    return {
        item: quantity
        for item, quantity in phone_repo.CARE_TASK_MATERIALS.get(care_task or "", {}).items()
        if item in carried
    }


def _break_begun(
    night: Night,
    reported: tuple[tuple[datetime, datetime | None], ...],
    heard: datetime | None,
    recorded: datetime | None,
    told: Plan | None,
    code: str,
    moment: int | None,
) -> breaks.Begun | None:
    """The break nurse ``code`` has begun by ``moment`` (seconds of the night), if any: as
    her phone reported it (`api.offline_events.ShiftState.breaks`, on the service's clock),
    else as a plan began it (``recorded``: once a stored plan counted it begun, `record_breaks`;
    ``told``, the stored plan, for one begun since), unless her phone has spoken since its
    start (``heard``: her last event's moment) without a break: she was busy, and it is
    still to come (the phone's queue keeps its order, so a break begun would have come
    first). A silent phone is taken to follow the plan, as `optimizer.live.state_at` does.
    A running break reported without its end lasts its planned length, or 30 minutes; one
    resumed after an interruption (break ended, begun again) lasts what is left of that
    length: she is on it by her phone's last report (review s27: the first part alone was
    read, and she was sent to a visit while on the rest)."""
    if moment is None:
        return None
    planned = None
    if told is not None:
        route = next((r for r in told.routes if r.nurse_id == code), None)
        planned = next(
            (s for s in (route.steps if route else []) if s.type == StepType.BREAK), None
        )
    length = planned.end - planned.start if planned is not None else 30 * 60
    if reported:
        parts = [
            (
                _placed(nights.seconds_since_start(night, began), moment),
                None if ended is None else min(moment, nights.seconds_since_start(night, ended)),
            )
            for began, ended in reported
        ]
        first = parts[0][0]
        start, end = parts[-1]
        if end is not None:
            return breaks.Begun(start=first, end=max(start, end))
        rested = sum(max(0, e - b) for b, e in parts[:-1] if e is not None)
        return breaks.Begun(start=first, end=start + max(0, length - rested))
    by_plan = None
    if recorded is not None:
        start = _placed(nights.seconds_since_start(night, recorded), moment)
        by_plan = breaks.Begun(start=start, end=start + length)
    elif planned is not None and planned.start <= moment:
        by_plan = breaks.Begun(start=planned.start, end=planned.end, by_plan=True)
    if by_plan is None or (
        heard is not None and nights.seconds_since_start(night, heard) > by_plan.start
    ):
        return None
    return by_plan


def _placed(second: int, moment: int) -> int:
    """A break's reported start (seconds of the night) as taken at ``moment``: never after
    it; before the night, a phone clock that is wrong (an old client sends no ``sent_at``
    to correct it), taken as ``moment``, so she rests until it ends or for its length
    from now. Taken as the night's start, a break begun at 01:00 by a clock two hours slow
    was over at 23:30 and she was sent to a visit while on it (review s27)."""
    return moment if second < 0 else min(moment, second)


def record_breaks(session: Session, night_problem: NightProblem, *, now: datetime) -> None:
    """Record each break a stored plan began (`NightProblem.breaks_begun`, ``by_plan``) as a
    night event, before a plan without it is stored (not committed). The new plan's routes
    have no step for a taken break, so the next re-plan found it nowhere and, with the slots
    cut again (a colleague joining), owed her a second one (review s27, R1)."""
    for code, rest in night_problem.breaks_begun.items():
        nurse = night_problem.nurses.get(code)
        if rest.by_plan and nurse is not None:
            nights.add_event(
                session,
                night_problem.night,
                kind=nights.BREAK_BEGUN,
                at=night_problem.night.starts_at + timedelta(seconds=rest.start),
                nurse_id=nurse.id,
                received_at=now,
            )


def _held_by_failed_first_care(
    session: Session, night: Night, rows: list[Visit], request_rows: dict[int, VisitRequest]
) -> dict[int, om.Hold]:
    """Visit id -> why it is held out of tonight's routes: a check linked after care tonight
    that could not be given (nobody could get in) or was cancelled. Without its first care
    in the problem the link is gone, and the check would be planned on its own."""
    earlier = {
        v.id: r.after_request_id
        for v in rows
        if (r := request_rows.get(v.request_id)) is not None and r.after_request_id is not None
    }
    if not earlier:
        return {}
    failed = {
        v.request_id: v
        for v in session.scalars(
            select(Visit).where(
                Visit.night_id == night.id,
                Visit.request_id.in_(set(earlier.values())),
                Visit.status.in_((VisitStatus.COULD_NOT_GET_IN, VisitStatus.CANCELLED)),
            )
        )
    }
    held = {}
    for visit_id, request_id in earlier.items():
        first = failed.get(request_id)
        if first is None:
            continue
        what = (
            "nobody could get in"
            if first.status == VisitStatus.COULD_NOT_GET_IN
            else "it was cancelled"
        )
        held[visit_id] = om.Hold(
            reason=ReasonCode.LINK_INFEASIBLE,
            message=f"linked after {visit_ref(first.id)}, which was not given tonight ({what})",
        )
    return held


def _gap_after_unplaced_first_care(
    data: dict[str, Any],
    request: VisitRequest | None,
    unplaced_first: dict[int, tuple[int, int]],
) -> None:
    """Narrow ``data`` (an open visit's fields) to the gap after its first care when that
    care has begun but is not in the problem (`_crew`: its nurses cannot be named), where
    the link would otherwise be no rule at all and the check planned anywhere in its
    window. Planned care's window is cut to the gap (past its end no lateness is allowed);
    no start inside both holds it out with the link named. An unplanned check keeps its
    urgency target (its call came after the care began)."""
    if request is None or request.after_request_id not in unplaced_first:
        return
    window = data.get("window")
    if window is None:
        return
    first_id, began = unplaced_first[request.after_request_id]
    low = began + 60 * (request.after_min_minutes or 0)
    high = began + 60 * (request.after_max_minutes or 0)
    start, end = max(window.start, low), min(window.end, high)
    if start > end:
        data["held"] = om.Hold(
            reason=ReasonCode.LINK_INFEASIBLE,
            message=(
                f"linked after {visit_ref(first_id)}, which began at "
                f"{began // 3600:02d}:{began % 3600 // 60:02d} of the night: no start inside "
                "its window keeps the gap"
            ),
        )
        return
    data["window"] = om.TimeWindow(start=start, end=end)
    if "late_tolerance_seconds" in data:
        data["late_tolerance_seconds"] = max(0, min(data["late_tolerance_seconds"], high - end))


def _dependencies(
    by_ref: dict[str, Visit], request_rows: dict[int, VisitRequest]
) -> list[om.Dependency]:
    """Tonight's links between visits, from linked requests (issue 13): the visit of a
    request with ``after_request_id`` starts min..max minutes after that request's visit.
    A link whose earlier visit is not in tonight's problem (not tonight, or history that
    cannot be placed) is not a rule tonight."""
    visit_of_request = {v.request_id: ref for ref, v in by_ref.items()}
    links = []
    for ref, visit in by_ref.items():
        request = request_rows.get(visit.request_id)
        if request is None or request.after_request_id is None:
            continue
        earlier = visit_of_request.get(request.after_request_id)
        if earlier is None:
            continue
        links.append(
            om.Dependency(
                first=earlier,
                second=ref,
                min_seconds=60 * (request.after_min_minutes or 0),
                max_seconds=60 * (request.after_max_minutes or 0),
                nurse=request.after_nurse or "any",
            )
        )
    return links


def _crew(
    visit: Visit, doer: Nurse | None, on_routes: dict[int, list[str]]
) -> tuple[str, ...] | None:
    """The nurses of a begun visit: who reported it, and for a two-person visit the colleague
    who has it on her route; None when they cannot be named (then it is history only)."""
    if doer is None:
        return None
    crew = [doer.code, *(code for code in on_routes.get(visit.id, []) if code != doer.code)]
    return tuple(crew[: visit.nurses_needed]) if len(crew) >= visit.nurses_needed else None


def _plausible_start(night: Night, visit: Visit, now: datetime | None) -> int:
    """A begun visit's start (seconds of the night) as the re-plan may believe it.

    Stored starts come from phones whose clocks may be far off (a completion dated the next
    morning): care that is done ended by ``now`` and inside the night, care that has started
    began by ``now``. Left as reported, such a time would put the nurse past the night's end
    and make every later re-plan infeasible.
    """
    latest = nights.horizon(night) - visit.service_seconds
    if now is not None:
        moment = nights.seconds_since_start(night, now)
        latest = min(latest, moment - visit.service_seconds if visit.status == "done" else moment)
    return max(0, min(visit.started_at or 0, latest))


def _clients(session: Session, ids: set[int]) -> list[Client]:
    # Only coordinates are used here; the optimizer never sees names or addresses.
    from sqlalchemy import select

    if not ids:
        return []
    return list(session.scalars(select(Client).where(Client.id.in_(ids))))


def sequences_of(plan: Plan) -> dict[str, list[str]]:
    """Nurse code -> her stops (visit ids and ``"restock"``) in order."""
    result: dict[str, list[str]] = {}
    for route in plan.routes:
        stops = []
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id:
                stops.append(step.visit_id)
            elif step.type == StepType.RESTOCK:
                stops.append(RESTOCK)
        result[route.nurse_id] = stops
    return result


def current_plan(
    session: Session, night_problem: NightProblem, *, explain: bool = True
) -> Plan | None:
    """The stored current plan, laid out again on tonight's facts (cancelled visits gone);
    ``explain=False``: what it leaves out (the new calls among them) keeps its general
    reason, for a caller that reads only its routes, times and violations."""
    plan = stored_plan_of(session, night_problem)
    if plan is None:
        return None
    problem = night_problem.problem
    known = {v.id for v in problem.visits}
    nurses = {n.id for n in problem.nurses}
    routes = {
        nurse: [s for s in stops if s == RESTOCK or s in known]
        for nurse, stops in sequences_of(plan).items()
        if nurse in nurses
    }
    if not problem.nurses:
        return plan_from_routes(problem, {})
    # Each break where the stored plan has it: laid out again without, every break went
    # back to its window's opening (02:00), before the acute call a re-plan had put it
    # after (the next first answer had the call 30 minutes later), and the live state
    # (`live_problem`) took a break not yet begun for one taken. Only where her rule now
    # allows it (`breaks.kept`): a break the clock passed while she was busy, laid where the
    # stored plan had it, read as begun and she had none all night (s27).
    rules = {n.id: n.break_rule for n in problem.nurses if not n.break_taken}
    breaks = {
        route.nurse_id: step.start
        for route in plan.routes
        if route.nurse_id in nurses
        for step in route.steps
        if step.type == StepType.BREAK
        and (rule := rules.get(route.nurse_id)) is not None
        and rule.window.start <= step.start <= rule.latest_start
    }
    return evaluate(problem, routes, break_starts=breaks, explain=explain)


def route_steps(night_problem: NightProblem, plan: Plan) -> dict[int, list[dict[str, Any]]]:
    """Per nurse (database id), the steps her phone will show: type, visit id, times."""
    result: dict[int, list[dict[str, Any]]] = {}
    for route in plan.routes:
        nurse = night_problem.nurses.get(route.nurse_id)
        if nurse is None:
            continue
        result[nurse.id] = [
            StoredStep(
                type=step.type,
                visit_id=visit_id_of(step.visit_id) if step.visit_id else None,
                arrival=step.arrival,
                start=step.start,
                end=step.end,
            ).model_dump(mode="json")
            for step in route.steps
        ]
    return result


def live_problem(
    session: Session, night_problem: NightProblem, plan: Plan | None, now: datetime
) -> om.Problem:
    """The problem as it stands at ``now``: the past fixed, reported delays applied."""
    problem = night_problem.problem
    moment = nights.seconds_since_start(night_problem.night, now)
    if plan is None or not problem.nurses or not 0 <= moment < problem.night.horizon:
        # No plan to follow (the night's first): the night as it is, yet a nurse on a break
        # her phone reported is on it until it ends (she was sent to a visit on it), and
        # nothing is planned before now: laid out from the shift's start, a first plan made
        # at 01:25 had visits due at 00:15 (red team s29); care whose window closed since is
        # left out with its reason (`eligibility`), as a re-plan's is.
        as_it_is = _as_it_is(night_problem)
        if plan is None and problem.nurses and 0 <= moment < problem.night.horizon:
            return as_it_is.model_copy(update={"now": moment})
        return as_it_is
    stored = stored_plan_of(session, night_problem)
    if stored is not None:
        plan = as_followed(problem, plan, stored)
    live = _resting(
        released_from_shifts_ended(state_at(problem, plan, moment), moment, plan),
        night_problem.resting_until,
    )
    late = nights.delays(session, night_problem.night)
    if not late:
        live = _break_room(live, night_problem.own_breaks, moment)
        return _held_to_what_was_told(live, plan if stored is not None else None)
    nurses = []
    held_up: set[str] = set()
    for nurse in live.nurses:
        row = night_problem.nurses.get(nurse.id)
        until = late.get(row.id) if row is not None else None
        if until is not None and until > now:
            ready = nights.seconds_since_start(night_problem.night, until)
            nurse = nurse.model_copy(update={"available_at": max(nurse.available_at or 0, ready)})
            held_up.add(nurse.id)
        nurses.append(nurse)
    # A visit she was driving to when held up goes back to the team (R21-04): en route it
    # could be hers alone, and an acute call waited for her flat tyre while a colleague was
    # idle. The search gives it back to her when she is still the one to go.
    visits = [
        visit.model_copy(update={"state": om.VisitState.PLANNED, "assigned_nurses": ()})
        if visit.state == om.VisitState.EN_ROUTE and held_up & set(visit.assigned_nurses)
        else visit
        for visit in live.visits
    ]
    live = live.model_copy(update={"nurses": nurses, "visits": visits})
    live = _break_room(live, night_problem.own_breaks, moment)
    return _held_to_what_was_told(live, plan if stored is not None else None)


def _break_room(
    problem: om.Problem, own: dict[str, om.BreakRule | None], moment: int
) -> om.Problem:
    """``problem`` with each break still owed given what is left of the nurse's own window
    (``own``) when she cannot begin it in her slot any more (`breaks.with_room`)."""
    nurses = [breaks.with_room(n, own.get(n.id), moment) for n in problem.nurses]
    if all(a is b for a, b in zip(nurses, problem.nurses, strict=True)):
        return problem
    return problem.model_copy(update={"nurses": nurses})


def _as_it_is(night_problem: NightProblem) -> om.Problem:
    """Tonight's problem without its live state, for the paths that plan without one (no
    plan to follow yet, `live_problem`; the live state failed, `solve_night` and
    `fallback_replan`): each nurse on a break begun by now is still free only when it ends
    (`NightProblem.resting_until`). The problem alone has her break taken (`breaks.kept`)
    and her free from her shift's start or last begun visit: such a plan sent her to a
    visit halfway through her break (review s27)."""
    return _resting(night_problem.problem, night_problem.resting_until)


def _resting(problem: om.Problem, until: dict[str, int]) -> om.Problem:
    """``problem`` with each nurse on her break (``until``: code -> second it ends) free only
    once it ends: her break is taken (`breaks.kept`), so the plan has no step for it."""
    if not until:
        return problem
    nurses = [
        n.model_copy(update={"available_at": max(n.available_at or 0, until[n.id])})
        if n.id in until
        else n
        for n in problem.nurses
    ]
    return problem.model_copy(update={"nurses": nurses})


def _held_to_what_was_told(problem: om.Problem, followed: Plan | None) -> om.Problem:
    """``problem`` with each open call held to the start the partner was told: the stored
    plan as followed (`as_followed`). Left to the solver, the promise was read from its warm
    start, the stored plan laid out again without the clock (`current_plan`), where an idle
    nurse is there the moment the call is made: a call answered late was promised its
    target, reported relaxed as 'running_late' and held to nothing (R21-05). A promise the
    night's facts break is left unset here, and the solver reports it relaxed."""
    if followed is None:
        return problem
    held, _relaxed = hold_promises(problem, followed)
    return held


def reached_live_problem(
    session: Session, night_problem: NightProblem, plan: Plan | None, now: datetime
) -> tuple[om.Problem, Plan | None, Reach]:
    """`live_problem` as the phones know the night (`api.night.reach`): a nurse whose phone
    has not picked up a call given to her minutes ago is not taken as doing it, and is given
    nothing new until her phone reads her route; returns the problem and ``plan`` without
    the calls she has not seen (the warm start of a re-plan), and the `Reach` (a visit added
    to the problem later is barred from the silent nurses by ``reach.problem``)."""
    reach = phone_reach(
        session,
        night_problem.night,
        stored_plan_of(session, night_problem),
        nurse_ids={code: nurse.id for code, nurse in night_problem.nurses.items()},
        visit_rows=night_problem.visits,
        now=now,
    )
    followed = reach.followed(plan)
    problem = live_problem(session, night_problem, followed, now)
    return reach.problem(problem, followed), followed, reach


def as_followed(problem: om.Problem, laid: Plan, stored: Plan) -> Plan:
    """``laid`` (the stored plan laid out again on tonight's facts, `current_plan`) with no
    open visit earlier than ``stored`` has it, and what follows it on her route moved on as
    far as her waiting does not absorb it: what the nurses were told, and so what they can
    have done by now.

    Laid out again from the night's start, a call the stored plan had her leave for at the
    moment it came (she was idle elsewhere) is reached long before it was made and starts at
    the call's very second: the live state (`state_at`) then took it as begun by her, locked
    on her route and soon 'done', with the partner told she was there when he called (R01).
    Only ever later: a started or done visit keeps the times its reports gave it."""
    told = {
        step.visit_id: step
        for route in stored.routes
        for step in route.steps
        if step.type == StepType.VISIT and step.visit_id
    }
    visits = {v.id: v for v in problem.visits}
    routes = []
    for route in laid.routes:
        moved, steps = False, []
        ready: int | None = None  # when the step before ends, as followed
        for step in route.steps:
            visit = visits.get(step.visit_id or "")
            if visit is not None and visit.is_locked:
                steps.append(step)
                ready = step.end
                continue
            arrival = step.arrival
            if ready is not None:
                arrival = max(arrival, ready + step.travel_seconds)
            start = max(step.start, arrival)
            earlier = told.get(step.visit_id or "") if visit is not None else None
            if earlier is not None and earlier.start > start:
                start = earlier.start
                arrival = max(arrival, min(earlier.arrival, start))
            if (arrival, start) != (step.arrival, step.start):
                moved = True
                step = step.model_copy(
                    update={
                        "arrival": arrival,
                        "start": start,
                        "end": start + step.end - step.start,
                        "waiting_seconds": start - arrival,
                    }
                )
            steps.append(step)
            ready = step.end
        routes.append(route.model_copy(update={"steps": steps}) if moved else route)
    return laid.model_copy(update={"routes": routes})


def released_from_shifts_ended(
    problem: om.Problem, moment: int, plan: Plan | None = None
) -> om.Problem:
    """``problem`` with each visit a nurse is driving to given back to the team when her
    shift has ended by ``moment`` (the planner sent her home), or ends before ``plan`` has
    that visit end (the planner shortened it while she drove there): en route, only she may
    have it, and an acute call she was driving to was left out as 'outside_shifts: ask the
    back-up partner' while her colleagues were idle (R03, R21-03). A visit she has begun
    stays hers."""
    ends = {
        (route.nurse_id, step.visit_id): step.end
        for route in (plan.routes if plan is not None else [])
        for step in route.steps
        if step.type == StepType.VISIT and step.visit_id is not None
    }
    shift_ends = {n.id: n.shift.end for n in problem.nurses}

    def released(visit: om.Visit) -> bool:
        return visit.state == om.VisitState.EN_ROUTE and any(
            nurse in shift_ends
            and (
                shift_ends[nurse] <= moment
                or ends.get((nurse, visit.id), shift_ends[nurse]) > shift_ends[nurse]
            )
            for nurse in visit.assigned_nurses
        )

    if not any(released(visit) for visit in problem.visits):
        return problem
    visits = [
        visit.model_copy(update={"state": om.VisitState.PLANNED, "assigned_nurses": ()})
        if released(visit)
        else visit
        for visit in problem.visits
    ]
    return problem.model_copy(update={"visits": visits})


def with_closed_visits(session: Session, night: Night, plan: Plan) -> Plan:
    """``plan`` with every visit nobody could get into in ``unassigned``, with its reason.

    Such a visit is no longer planned (a nurse tried; the planner decides what happens next),
    but it must not vanish: every visit of the night that is not cancelled is in a route or
    in ``unassigned``.
    """
    present = {u.visit_id for u in plan.unassigned} | {
        ref for route in plan.routes for ref in route.visit_ids()
    }
    missed = [
        Unassigned(
            visit_id=visit_ref(visit.id),
            urgency=visit.urgency,
            reason=ReasonCode.COULD_NOT_GET_IN,
            message="the nurse could not get in; the planner decides what happens next",
        )
        for visit in nights.night_visits(session, night, include_closed=True)
        if visit.status == "could_not_get_in" and visit_ref(visit.id) not in present
    ]
    if not missed:
        return plan
    unassigned = [*plan.unassigned, *missed]
    summary = plan.summary.model_copy(update={"visits_unassigned": len(unassigned)})
    return plan.model_copy(update={"unassigned": unassigned, "summary": summary})


@dataclass(frozen=True)
class ReplanResult:
    """A stored re-plan; ``fallback`` says why it is the last good plan with the new calls
    inserted instead of a solver's answer (``None``: solved)."""

    version: int
    affected_nurses: list[str]
    seconds: float
    plan: Plan
    fallback: str | None = None


@dataclass(frozen=True)
class Solved:
    """A night solved but not stored yet (a long re-optimise stores it under the night's
    lock, after the solve)."""

    night_problem: NightProblem
    plan: Plan
    fallback: str | None
    began: float
    replan_requested: int


def solve_night(
    session: Session,
    region: Region,
    night: Night,
    *,
    now: datetime,
    time_limit: float,
    progress: Callable[[str], None] | None = None,
    warm_start: Plan | None = None,
    kind: str = "live",
    stall_seconds: float | None = None,
) -> Solved:
    """Solve the night from where it stands at ``now`` (warm start from the current plan);
    ``stall_seconds`` is the search's stop rule (`optimizer.solve`).

    Whatever the solver does (any exception), a plan comes back: the last good one with the
    new calls inserted, with ``fallback`` saying why.
    """
    began = time.perf_counter()
    report = progress or (lambda _message: None)
    requested = night.replan_requested
    night_problem = build_problem(session, region, night, now=now)
    current = current_plan(session, night_problem)
    fallback: str | None = None
    degraded: str | None = None
    try:
        problem, current, _ = reached_live_problem(session, night_problem, current, now)
    except Exception as error:  # the night must go on: plan it without the live state
        name = type(error).__name__
        logger.warning("the live state of the night failed (%s); planning it as it is", name)
        problem = _as_it_is(night_problem)
        # Not the solver's plan of the night as it stands: the planner must see that.
        degraded = f"the night's live state failed ({name}): planned without it"
    report(f"planning {len(problem.visits)} visits for {len(problem.nurses)} nurses")
    warm = warm_start or current
    if problem.nurses and warm is None and kind == "live":
        # A live re-plan of a night with no plan yet: the live budget (0.8 s) would cut its
        # first plan short (at 50 x 1000 most visits "no plan in time", stored and sent to
        # the phones). It gets the first-plan path instead: a complete first plan, which
        # answers as soon as it is built (0.6-5 s at 50 x 1000), capped at FIRST_PLAN_SECONDS.
        plan, fallback = _solve_or_keep(
            problem,
            None,
            time_limit=FIRST_PLAN_SECONDS,
            progress=progress,
            kind=kind,
            first_only=True,
        )
        left = time_limit - (time.perf_counter() - began)
        if fallback is None and left >= 0.2:
            # Budget left after the first plan (a night's first plan made with seconds to
            # spare): searched from it, as a re-plan would, rather than returned unimproved.
            improved, failed = _solve_or_keep(
                problem, plan, time_limit=left, progress=progress, kind=kind
            )
            if failed is None and len(improved.violations) <= len(plan.violations):
                plan = improved
    elif problem.nurses:
        # The budget covers the whole re-plan, so what building the problem took is deducted.
        left = max(0.1, time_limit - (time.perf_counter() - began))
        plan, fallback = _solve_or_keep(
            problem,
            warm,
            time_limit=left,
            progress=progress,
            kind=kind,
            stall_seconds=stall_seconds,
        )
        if fallback is None and _out_of_time(plan):
            # The search ran out of time (a loaded machine) and kept the routes as they
            # were, breaking rules (a nurse sent home keeps her route), or left calls
            # untried: a complete first plan instead, capped like a night's first plan.
            report("the live search ran out of time: planning afresh")
            afresh, failed = _solve_or_keep(
                problem,
                None,
                time_limit=FIRST_PLAN_SECONDS,
                progress=progress,
                kind=kind,
                first_only=True,
            )
            if failed is None and _untried_and_broken(afresh) < _untried_and_broken(plan):
                plan = afresh
    else:
        plan = plan_from_routes(problem, {})
    report(f"{plan.summary.visits_planned} planned, {plan.summary.visits_unassigned} left out")
    return Solved(night_problem, plan, fallback or degraded, began, requested)


def _out_of_time(plan: Plan) -> bool:
    """Whether a live search ran out of time without an answer that keeps every rule."""
    kept = plan.stats is not None and plan.stats.status == OUT_OF_TIME and bool(plan.violations)
    return kept or any(u.reason == ReasonCode.NO_PLAN_IN_TIME for u in plan.unassigned)


def _untried_and_broken(plan: Plan) -> int:
    return len(plan.violations) + sum(
        u.reason == ReasonCode.NO_PLAN_IN_TIME for u in plan.unassigned
    )


def store_solved(
    session: Session,
    night: Night,
    solved: Solved,
    *,
    reason: str,
    now: datetime,
    base_version: int | None = None,
    user_id: int | None = None,
    publish: bool | None = None,
    live: bool = False,
    replan_done: int | None = None,
) -> ReplanResult:
    """Store ``solved`` as the night's next plan version on ``base_version`` (default: the
    current one); `Conflict` when the night moved on.

    Solved or fallen back, every visit nobody could get into is put in ``unassigned`` with
    its reason before saving (`with_closed_visits`), read at store time. A live re-plan
    that solved to the current version's plan stores no new version, only the re-plans it
    covers (`nights.keep_if_unchanged`): its result names the current version."""
    base = night.plan_version if base_version is None else base_version
    if publish is None:
        publish = nights.any_published(session, night)
    plan = with_closed_visits(session, night, solved.plan)
    stored = plan.model_dump(mode="json")
    if (
        live
        and solved.fallback is None
        and nights.keep_if_unchanged(
            session,
            night,
            stored,
            base_version=base,
            replan_done=night.replan_done if replan_done is None else replan_done,
        )
    ):
        return ReplanResult(
            version=base,
            affected_nurses=[],
            seconds=round(time.perf_counter() - solved.began, 3),
            plan=plan,
        )
    record_breaks(session, solved.night_problem, now=now)
    version, affected = nights.save_plan_version(
        session,
        night,
        stored,
        route_steps(solved.night_problem, plan),
        base_version=base,
        reason=reason,
        user_id=user_id,
        now=now,
        publish=publish,
        live=live,
        fallback=solved.fallback,
        replan_done=replan_done,
    )
    nurses = solved.night_problem.nurses.values()
    return ReplanResult(
        version=version.version,
        affected_nurses=sorted(n.code for n in nurses if n.id in affected),
        seconds=round(time.perf_counter() - solved.began, 3),
        plan=plan,
        fallback=solved.fallback,
    )


def replan(
    session: Session,
    region: Region,
    night: Night,
    *,
    reason: str,
    now: datetime,
    time_limit: float,
    base_version: int | None = None,
    user_id: int | None = None,
    publish: bool | None = None,
    progress: Callable[[str], None] | None = None,
    live: bool = False,
    replan_done: int | None = None,
    warm_start: Plan | None = None,
    stall_seconds: float | None = None,
) -> ReplanResult:
    """Solve the night from where it stands and store it (`solve_night`, `store_solved`).

    A live re-plan (``publish`` unset) sends changed routes to the phones once any route of
    the night has been published. Raises `Conflict` when the night is no longer at
    ``base_version``.
    """
    base = night.plan_version if base_version is None else base_version
    solved = solve_night(
        session,
        region,
        night,
        now=now,
        time_limit=time_limit,
        progress=progress,
        warm_start=warm_start,
        stall_seconds=stall_seconds,
    )
    return store_solved(
        session,
        night,
        solved,
        reason=reason,
        now=now,
        base_version=base,
        user_id=user_id,
        publish=publish,
        live=live,
        replan_done=replan_done,
    )


def quick_replan(
    session: Session, region: Region, night: Night, *, reason: str, now: datetime
) -> ReplanResult | None:
    """The night's first answer to a change, in milliseconds: the current routes laid out
    from where the night stands at ``now`` with each visit they lack inserted at its best
    feasible place (`keep_with_new_calls`), stored as a live version that does not cover
    the pending re-plan (the worker's search follows and stores its plan after it).

    ``None`` (nothing stored) when the insertion leaves out a visit the current plan did not
    (a two-person call, a call that fits nowhere without moving others), other than care it
    displaced to have a call there in time, or adds a violation: then only the search can
    answer.
    """
    began = time.perf_counter()
    night_problem = build_problem(session, region, night, now=now)
    # Its routes, times and violations are read below, never its reasons (the insertion
    # explains the routes it chooses): not looked for on the partner's clock.
    current = current_plan(session, night_problem, explain=False)
    if current is None or not night_problem.problem.nurses:
        return None
    problem, followed, _ = reached_live_problem(session, night_problem, current, now)
    assert followed is not None
    current = followed
    plan = keep_with_new_calls(problem, current)
    # What the stored plan left out, not `current.unassigned`: laid out again on tonight's
    # problem, that lists every new call as unassigned too, and the first answer told a
    # partner "no_capacity" for a call the search plans (or leaves out for another reason).
    stored = stored_plan_of(session, night_problem)
    left_out = {u.visit_id for u in stored.unassigned} if stored is not None else set()
    # Care the insertion left out to have a call on site in time (`ReasonCode.DISPLACED`)
    # is stored as such: the call is then held to that time in the search that follows
    # (`hold_promises`). Left to the search alone, a call's lateness (100,000 a minute)
    # was cheaper than leaving the care out (3 * 10**8) and it came late after triage's yes.
    if any(
        u.visit_id not in left_out and u.reason != ReasonCode.DISPLACED for u in plan.unassigned
    ):
        return None
    if len(plan.violations) > len(current.violations):
        return None
    solved = Solved(night_problem, plan, None, began, night.replan_requested)
    return store_solved(session, night, solved, reason=reason, now=now, live=True)


def fallback_replan(
    session: Session,
    region: Region,
    night: Night,
    *,
    failure: BaseException,
    reason: str,
    now: datetime,
    replan_done: int | None = None,
) -> ReplanResult:
    """Store the night's fallback after a re-plan failed anywhere (``failure``), before the
    solver as well as in it or while storing: the last good routes with the new calls
    inserted where they fit (`keep_with_new_calls`), else, when not even tonight's problem
    can be built, the stored routes as they are with every visit they lack unassigned with
    its reason (`ReasonCode.NO_PLAN_IN_TIME`). Stored as a live version whose ``fallback``
    says why, so the planner sees it; ``replan_done`` is recorded as covered.

    Raises `api.core.problems.Conflict` when the night moved on, and whatever the database
    raises (then nothing can be stored and the re-plan stays owed).
    """
    began = time.perf_counter()
    why = f"re-plan failed ({type(failure).__name__}): last good plan kept, new calls inserted"
    session.rollback()  # whatever the failed attempt flushed is not part of the fallback
    try:
        night_problem = build_problem(session, region, night, now=now)
        current = current_plan(session, night_problem)
        try:
            problem = live_problem(session, night_problem, current, now)
        except Exception:  # the insertion works on the night as it stands without it
            problem = _as_it_is(night_problem)
        plan = keep_with_new_calls(problem, current)
        solved = Solved(night_problem, plan, why[:200], began, night.replan_requested)
        return store_solved(
            session, night, solved, reason=reason, now=now, live=True, replan_done=replan_done
        )
    except Exception as second:
        if isinstance(second, Conflict):
            raise
        logger.warning(
            "the fallback's insertion failed too (%s); keeping the stored routes",
            type(second).__name__,
        )
        session.rollback()
    why = f"re-plan failed ({type(failure).__name__}): last good plan kept, new calls unassigned"
    plan, steps = _stored_with_missing_unassigned(session, night)
    version, affected = nights.save_plan_version(
        session,
        night,
        plan.model_dump(mode="json"),
        steps,
        base_version=night.plan_version,
        reason=reason,
        user_id=None,
        now=now,
        publish=nights.any_published(session, night),
        live=True,
        fallback=why[:200],
        replan_done=replan_done,
    )
    codes = {n.id: n.code for n in _nurses_by_code(session, night, plan).values()}
    return ReplanResult(
        version=version.version,
        affected_nurses=sorted(codes[i] for i in affected if i in codes),
        seconds=round(time.perf_counter() - began, 3),
        plan=plan,
        fallback=why[:200],
    )


def _nurses_by_code(session: Session, night: Night, plan: Plan) -> dict[str, Nurse]:
    from sqlalchemy import select

    codes = {route.nurse_id for route in plan.routes}
    if not codes:
        return {}
    rows = session.scalars(
        select(Nurse).where(Nurse.region_id == night.region_id, Nurse.code.in_(codes))
    )
    return {nurse.code: nurse for nurse in rows}


def _stored_with_missing_unassigned(
    session: Session, night: Night
) -> tuple[Plan, dict[int, list[dict[str, Any]]]]:
    """The last resort, built from the database alone (no travel times, no optimizer
    problem): the stored plan's routes without the visits closed since, every open visit
    they lack unassigned (``no_plan_in_time``), every visit nobody could get into
    unassigned (`with_closed_visits`); and the routes' steps per nurse (database id)."""
    stored = nights.current_plan_version(session, night)
    base = plan_of(stored) if stored is not None else None
    visits = nights.night_visits(session, night, include_closed=True)
    status = {visit_ref(v.id): v.status for v in visits}
    kept_states = ("open", "started", "done")
    routes = []
    for route in base.routes if base is not None else []:
        kept_steps = [
            s for s in route.steps if s.visit_id is None or status.get(s.visit_id) in kept_states
        ]
        count = sum(1 for s in kept_steps if s.type == StepType.VISIT)
        routes.append(route.model_copy(update={"steps": kept_steps, "visit_count": count}))
    routed = {s.visit_id for r in routes for s in r.steps if s.visit_id}
    kept = [
        u
        for u in (base.unassigned if base is not None else [])
        if status.get(u.visit_id) == "open" and u.visit_id not in routed
    ]
    listed = routed | {u.visit_id for u in kept}
    missing = [
        Unassigned(
            visit_id=visit_ref(v.id),
            urgency=v.urgency,
            reason=ReasonCode.NO_PLAN_IN_TIME,
            message="the re-plan failed; the planner places this visit by hand",
        )
        for v in visits
        if v.status == "open" and visit_ref(v.id) not in listed
    ]
    unassigned = [*kept, *missing]
    summary = (
        base.summary
        if base is not None
        else Summary(
            travel_seconds=0,
            visits_planned=0,
            visits_unassigned=0,
            visits_per_nurse={},
            lateness_seconds_by_urgency={},
            late_visits_by_urgency={},
            travel_estimated=False,
        )
    )
    summary = summary.model_copy(
        update={
            "visits_planned": len(routed),
            "visits_unassigned": len(unassigned),
            "visits_per_nurse": {r.nurse_id: r.visit_count for r in routes},
        }
    )
    plan = Plan(
        routes=routes,
        unassigned=unassigned,
        summary=summary,
        violations=base.violations if base is not None else [],
        stats=None,
    )
    plan = with_closed_visits(session, night, plan)
    nurses = _nurses_by_code(session, night, plan)
    steps = {
        nurses[route.nurse_id].id: [
            StoredStep(
                type=step.type,
                visit_id=visit_id_of(step.visit_id) if step.visit_id else None,
                arrival=step.arrival,
                start=step.start,
                end=step.end,
            ).model_dump(mode="json")
            for step in route.steps
        ]
        for route in plan.routes
        if route.nurse_id in nurses
    }
    return plan, steps


def _solve_or_keep(
    problem: om.Problem,
    current: Plan | None,
    *,
    time_limit: float,
    progress: Callable[[str], None] | None,
    kind: str = "live",
    first_only: bool = False,
    stall_seconds: float | None = None,
) -> tuple[Plan, str | None]:
    """Solve (in a solver process, `api.services.solving`); on any failure of the solver,
    keep the last good routes with the new calls inserted where they fit. Returns the plan
    and why it is a fallback (``None``: solved)."""
    if progress is not None:
        progress(f"searching ({time_limit:.1f} s)")
    try:
        plan = run_solve(
            problem,
            time_limit=time_limit,
            warm_start=current,
            kind=kind,
            first_only=first_only,
            stall_seconds=stall_seconds,
        )
        return plan, None
    except Exception as error:
        # The night must go on: a re-plan that fails keeps what the nurses already have.
        name = type(error).__name__
        logger.warning("solver failed (%s); keeping the last good routes", name)
        why = f"solver failed ({name}): last good plan kept, new calls inserted"
        return keep_with_new_calls(problem, current), why[:200]


def keep_with_new_calls(problem: om.Problem, current: Plan | None) -> Plan:
    """The routes of ``current`` with each visit they lack put in where it fits
    (`optimizer.replan.insert_new_calls`). Never raises for a plan the service stored: the
    last resort is ``current`` as it is with the missing visits unassigned
    (``no_plan_in_time``)."""
    try:
        return insert_new_calls(problem, current)
    except Exception as error:
        logger.warning("laying out the last good plan failed (%s)", type(error).__name__)
        return _as_stored_with_missing_unassigned(problem, current)


def _as_stored_with_missing_unassigned(problem: om.Problem, current: Plan | None) -> Plan:
    base = current if current is not None else plan_from_routes(problem, {})
    open_ids = {v.id for v in problem.visits if not v.is_locked}
    in_routes = set(base.assignments())
    kept = [u for u in base.unassigned if u.visit_id in open_ids and u.visit_id not in in_routes]
    listed = in_routes | {u.visit_id for u in kept}
    missing = [
        Unassigned(
            visit_id=v.id,
            urgency=v.urgency,
            reason=ReasonCode.NO_PLAN_IN_TIME,
            message="the re-plan failed; the planner places this visit by hand",
        )
        for v in problem.visits
        if v.id in open_ids and v.id not in listed
    ]
    return base.model_copy(update={"unassigned": [*kept, *missing]})


@dataclass(frozen=True)
class MoveResult:
    """A hand-made change, evaluated: the plan and what it costs, and the warnings (dicts
    as `api.schemas.nights.MoveWarning`)."""

    plan: Plan
    before: Plan | None
    version: int | None
    affected_nurses: list[str]
    warnings: list[dict[str, Any]] = field(default_factory=list)


def silent_nurse_check(
    session: Session,
    night: Night,
    nurse: Nurse,
    *,
    pinned: bool,
    acknowledged: bool,
    dry_run: bool,
    now: datetime,
) -> list[dict[str, Any]]:
    """Care given by hand to a nurse whose phone is silent (`api.night.reach`): her phone
    will not show it. A dry run and an acknowledged change (``acknowledged``: the planner
    reached her by other means) are answered with a warning; otherwise `NurseSilent` (409),
    so the planner never gives care to a nurse nobody can reach without knowing it."""
    silence = silence_of(session, night, nurse.id, now)
    if silence is None:
        return []
    message = silent_nurse_warning(nurse.code, silence, pinned=pinned)
    if not dry_run and not acknowledged:
        raise NurseSilent(
            f"{message}; send silent_nurse_ok: true to do it all the same",
            field="body.silent_nurse_ok",
            code="nurse_silent",
            extra={
                "nurse": nurse.code,
                "silent_since": silence.since.isoformat(),
                "heard_at": silence.heard_at.isoformat(),
            },
        )
    return [
        {
            "code": "nurse_silent",
            "nurse": nurse.code,
            "message": message,
            "silent_since": silence.since,
            "heard_at": silence.heard_at,
        }
    ]


def move_visit(
    session: Session,
    region: Region,
    night: Night,
    *,
    visit_id: int,
    nurse_code: str | None,
    position: int | None,
    pin: bool,
    base_version: int,
    dry_run: bool,
    user_id: int | None,
    now: datetime,
    silent_nurse_ok: bool = False,
) -> MoveResult:
    """Move a visit to a nurse (at ``position``, else last), or out of the plan; maybe pin it.

    Care moved or pinned to a nurse whose phone is silent needs ``silent_nurse_ok``
    (`silent_nurse_check`); re-ordering her own route without a pin does not."""
    nights.check_version(session, night, base_version)
    visit = nights.get_visit(session, night, visit_id)
    if visit.status == VisitStatus.COULD_NOT_GET_IN and nurse_code is not None:
        # The planner sends a nurse again: a second attempt re-opens the visit.
        change_visit(session, night, visit, VisitStatus.OPEN, at=now, user_id=user_id)
        session.flush()
    elif visit.status != VisitStatus.OPEN:
        raise Unprocessable(f"the visit is {visit.status}; only open visits can be moved")
    night_problem = build_problem(session, region, night, now=now)
    ref = visit_ref(visit.id)
    if nurse_code is not None and nurse_code not in night_problem.nurses:
        raise Unprocessable(f"nurse {nurse_code!r} is not on shift tonight")
    current = current_plan(session, night_problem)
    routes = sequences_of(current) if current is not None else {}
    # Laid out from where the night stands, as every re-plan is: laid out from 23:00, a call
    # moved at 01:06 started at 01:05 (when it came), was stored and sent so, and the live
    # state took it as begun then and done 20 minutes later: nobody went (R06).
    live = _as_moved(live_problem(session, night_problem, current, now), visit_ref(visit.id))
    before = evaluate(live, routes) if current is not None else None
    warnings: list[dict[str, Any]] = []
    if nurse_code is not None and (pin or ref not in routes.get(nurse_code, [])):
        warnings = silent_nurse_check(
            session,
            night,
            night_problem.nurses[nurse_code],
            pinned=pin,
            acknowledged=silent_nurse_ok,
            dry_run=dry_run,
            now=now,
        )
    routes = {n: [s for s in stops if s != ref] for n, stops in routes.items()}
    if nurse_code is not None:
        stops = routes.setdefault(nurse_code, [])
        at = len(stops) if position is None else min(position, len(stops))
        stops.insert(at, ref)
    # Out of the plan stays out of every re-plan until she puts it on a route (F07: the next
    # live re-plan put it straight back).
    visit.held_by_planner = nurse_code is None
    if pin and nurse_code is not None:
        visit.pin_nurse_id = night_problem.nurses[nurse_code].id
        visit.pin_position = None
    elif not pin or nurse_code is None:
        visit.pin_nurse_id = None
        visit.pin_position = None
    session.flush()
    night_problem = build_problem(session, region, night, now=now)
    live = _as_moved(live_problem(session, night_problem, current, now), ref)
    plan = with_closed_visits(session, night, evaluate(live, routes))
    if dry_run:
        session.rollback()
        return MoveResult(
            plan=plan, before=before, version=None, affected_nurses=[], warnings=warnings
        )
    record_breaks(session, night_problem, now=now)
    version, affected = nights.save_plan_version(
        session,
        night,
        plan.model_dump(mode="json"),
        route_steps(night_problem, plan),
        base_version=base_version,
        reason="move",
        user_id=user_id,
        now=now,
        publish=nights.any_published(session, night),
    )
    codes = sorted(n.code for n in night_problem.nurses.values() if n.id in affected)
    return MoveResult(
        plan=plan,
        before=before,
        version=version.version,
        affected_nurses=codes,
        warnings=warnings,
    )


def _as_moved(problem: om.Problem, ref: str) -> om.Problem:
    """``problem`` with the visit the planner moves as not begun: it is open (the move
    checks), so the live state's guess from the plan that its nurse is on her way to it, or
    has begun it, gives way to the planner's choice."""
    visits = [
        v.model_copy(
            update={"state": om.VisitState.PLANNED, "assigned_nurses": (), "started_at": None}
        )
        if v.id == ref and v.state != om.VisitState.PLANNED
        else v
        for v in problem.visits
    ]
    return problem.model_copy(update={"visits": visits})


def visit_times(night: Night, plan: Plan) -> dict[int, tuple[str, datetime]]:
    """Visit id -> (nurse code, expected start) in ``plan``."""
    result: dict[int, tuple[str, datetime]] = {}
    for route in plan.routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id:
                moment = night.starts_at.astimezone(UTC) + timedelta(seconds=step.start)
                result.setdefault(visit_id_of(step.visit_id), (route.nurse_id, moment))
    return result


def stored_plan(session: Session, night: Night) -> Plan | None:
    """The current plan exactly as stored."""
    stored = nights.current_plan_version(session, night)
    return plan_of(stored) if stored is not None else None


def consequences(before: Plan | None, after: Plan) -> dict[str, Any]:
    """What changed from ``before`` to ``after``: violations, travel, lateness, visits later."""

    def starts(plan: Plan | None) -> dict[str, int]:
        if plan is None:
            return {}
        return {
            s.visit_id: s.start
            for r in plan.routes
            for s in r.steps
            if s.type == StepType.VISIT and s.visit_id
        }

    def lateness(plan: Plan | None) -> int:
        if plan is None:
            return 0
        return sum(s.lateness_seconds for r in plan.routes for s in r.steps)

    old, new = starts(before), starts(after)
    late_before = sum(before.summary.late_visits_by_urgency.values()) if before else 0
    return {
        "violations": after.violations,
        "travel_seconds_change": after.summary.travel_seconds
        - (before.summary.travel_seconds if before else 0),
        "late_visits_change": sum(after.summary.late_visits_by_urgency.values()) - late_before,
        "lateness_seconds_change": lateness(after) - lateness(before),
        "unassigned_change": after.summary.visits_unassigned
        - (before.summary.visits_unassigned if before else 0),
        "later_visits": {
            ref: new[ref] - old[ref] for ref in sorted(new) if ref in old and new[ref] > old[ref]
        },
    }
