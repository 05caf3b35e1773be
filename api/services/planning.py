"""From the database to the optimizer and back: tonight's problem, plans, moves, live re-plans.

The optimizer sees no personal data: visits are ``V<id>``, clients ``C<id>``, nurses their
code, locations bare coordinates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.core.problems import Unprocessable
from api.db.models import Client, Night, Nurse, Region, Visit
from api.db.models import Shift as ShiftRow
from api.nightbag import full_bag, optimizer_bag_now, remaining
from api.offline_events import derive_state
from api.repositories import nights
from api.repositories import phone as phone_repo
from api.travel import travel_matrices
from optimizer import model as om
from optimizer.evaluate import RESTOCK, evaluate
from optimizer.live import state_at
from optimizer.plan import Plan, StepType
from optimizer.solve import plan_from_routes, solve

__all__ = ["NightProblem", "build_problem", "current_plan", "replan", "visit_ref"]

logger = logging.getLogger("nachtroute.planning")


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

    def nurse_by_id(self, nurse_id: int) -> Nurse | None:
        """The nurse with database id ``nurse_id``, if on shift."""
        return next((n for n in self.nurses.values() if n.id == nurse_id), None)


def _shift_window(region: Region, night: Night, shift: ShiftRow) -> om.TimeWindow:
    span = nights.horizon(night)
    start = min(span, max(0, nights.clock_to_seconds(region, night, shift.start)))
    end = min(span, max(start, nights.clock_to_seconds(region, night, shift.end)))
    return om.TimeWindow(start=start, end=end)


def _break_rule(window: om.TimeWindow) -> om.BreakRule | None:
    # Long shifts get a 30-minute break somewhere in the middle of the night.
    if window.end - window.start < 7 * 3600:
        return None
    begin = window.start + 3 * 3600
    return om.BreakRule(
        duration_seconds=30 * 60, window=om.TimeWindow(start=begin, end=begin + 3 * 3600)
    )


def build_problem(
    session: Session,
    region: Region,
    night: Night,
    *,
    extra_locations: list[om.Location] | None = None,
) -> NightProblem:
    """The night as the optimizer sees it (visits not begun are free to plan)."""
    locations = [om.Location(lat=region.base_lat, lon=region.base_lon)]
    index: dict[tuple[float, float], int] = {}
    rows = nights.night_visits(session, night)
    client_rows = {c.id: c for c in _clients(session, {v.client_id for v in rows})}
    team = nights.shifts_of(session, night)
    nurse_by_id = {nurse.id: nurse for nurse, _ in team}
    template = phone_repo.bag_template(session, region)
    bag, events = full_bag(template), phone_repo.SqlEventStore(session, night.id)
    opt_nurses = []
    for nurse, shift in team:
        window = _shift_window(region, night, shift)
        # What her phone says is left in the bag (bag check, materials used); full if silent.
        state = derive_state(events.for_shift(str(nurse.id), str(night.id)))
        opt_nurses.append(
            om.Nurse(
                id=nurse.code,
                skills=frozenset(nurse.skills),
                shift=window,
                start_location=0,
                end_location=0,
                profile=nurse.profile,
                break_rule=_break_rule(window),
                bag=bag,
                bag_now=optimizer_bag_now(template, remaining(template, state)),
            )
        )
    tasks = {
        r.id: r.care_task
        for r in nights.requests_by_id(session, {v.request_id for v in rows}).values()
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
        if visit.call_time is not None:
            data["call_time"] = visit.call_time
        if visit.pin_nurse_id is not None and visit.pin_nurse_id in nurse_by_id:
            data["pin"] = om.Pin(
                nurse=nurse_by_id[visit.pin_nurse_id].code, position=visit.pin_position
            )
        doer = nurse_by_id.get(visit.done_by_nurse_id or 0)
        if visit.status in ("started", "done") and doer is not None and visit.nurses_needed == 1:
            data["state"] = om.VisitState.DONE if visit.status == "done" else om.VisitState.STARTED
            data["started_at"] = visit.started_at or 0
            data["assigned_nurses"] = (doer.code,)
        elif visit.status in ("started", "done"):
            continue  # history we cannot place on a route; it no longer needs planning
        else:
            # What it takes from the bag; a begun visit's use is in bag_now already.
            data["materials"] = {
                item: quantity
                for item, quantity in phone_repo.CARE_TASK_MATERIALS.get(
                    tasks.get(visit.request_id, ""), {}
                ).items()
                if item in bag
            }
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
    )
    return NightProblem(
        night=night,
        region=region,
        problem=problem,
        visits=by_ref,
        nurses={n.code: n for n in nurse_by_id.values()},
        extra_locations=extra,
    )


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


def current_plan(session: Session, night_problem: NightProblem) -> Plan | None:
    """The stored current plan, laid out again on tonight's facts (cancelled visits gone)."""
    stored = nights.current_plan_version(session, night_problem.night)
    if stored is None:
        return None
    plan = Plan.model_validate(stored.plan)
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
    return evaluate(problem, routes)


def route_steps(night_problem: NightProblem, plan: Plan) -> dict[int, list[dict[str, Any]]]:
    """Per nurse (database id), the steps her phone will show: type, visit id, times."""
    result: dict[int, list[dict[str, Any]]] = {}
    for route in plan.routes:
        nurse = night_problem.nurses.get(route.nurse_id)
        if nurse is None:
            continue
        result[nurse.id] = [
            {
                "type": step.type.value,
                "visit_id": visit_id_of(step.visit_id) if step.visit_id else None,
                "arrival": step.arrival,
                "start": step.start,
                "end": step.end,
            }
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
        return problem
    live = state_at(problem, plan, moment)
    late = nights.delays(session, night_problem.night)
    if not late:
        return live
    nurses = []
    for nurse in live.nurses:
        row = night_problem.nurses.get(nurse.id)
        until = late.get(row.id) if row is not None else None
        if until is not None and until > now:
            ready = nights.seconds_since_start(night_problem.night, until)
            nurse = nurse.model_copy(update={"available_at": max(nurse.available_at or 0, ready)})
        nurses.append(nurse)
    return live.model_copy(update={"nurses": nurses})


@dataclass(frozen=True)
class ReplanResult:
    """A stored re-plan."""

    version: int
    affected_nurses: list[str]
    seconds: float
    plan: Plan


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
) -> ReplanResult:
    """Solve the night from where it stands (warm start from the current plan) and store it.

    A live re-plan (``publish`` unset) sends changed routes to the phones once any route of
    the night has been published.
    """
    began = time.perf_counter()
    report = progress or (lambda _message: None)
    night_problem = build_problem(session, region, night)
    base = night.plan_version if base_version is None else base_version
    current = current_plan(session, night_problem)
    problem = live_problem(session, night_problem, current, now)
    report(f"planning {len(problem.visits)} visits for {len(problem.nurses)} nurses")
    if problem.nurses:
        # The budget covers the whole re-plan, so what building the problem took is deducted.
        left = max(0.1, time_limit - (time.perf_counter() - began))
        plan = _solve_or_keep(problem, current, time_limit=left, progress=progress)
    else:
        plan = plan_from_routes(problem, {})
    if publish is None:
        publish = nights.any_published(session, night)
    report(f"{plan.summary.visits_planned} planned, {plan.summary.visits_unassigned} left out")
    version, affected = nights.save_plan_version(
        session,
        night,
        plan.model_dump(mode="json"),
        route_steps(night_problem, plan),
        base_version=base,
        reason=reason,
        user_id=user_id,
        now=now,
        publish=publish,
    )
    codes = sorted(n.code for n in night_problem.nurses.values() if n.id in affected)
    return ReplanResult(
        version=version.version,
        affected_nurses=codes,
        seconds=round(time.perf_counter() - began, 3),
        plan=plan,
    )


def _solve_or_keep(
    problem: om.Problem,
    current: Plan | None,
    *,
    time_limit: float,
    progress: Callable[[str], None] | None,
) -> Plan:
    """Solve; if the solver finds nothing, keep the current routes laid out on ``problem``."""
    try:
        return solve(problem, time_limit=time_limit, warm_start=current, progress=progress)
    except RuntimeError:
        # The night must go on: a re-plan that fails keeps what the nurses already have.
        logger.warning("solver found no solution; keeping the current routes")
        known = {v.id for v in problem.visits if not v.is_locked}
        routes = {
            nurse: [s for s in stops if s == RESTOCK or s in known]
            for nurse, stops in (sequences_of(current) if current else {}).items()
        }
        return evaluate(problem, routes)


@dataclass(frozen=True)
class MoveResult:
    """A hand-made change, evaluated: the plan and what it costs."""

    plan: Plan
    before: Plan | None
    version: int | None
    affected_nurses: list[str]


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
) -> MoveResult:
    """Move a visit to a nurse (at ``position``, else last), or out of the plan; maybe pin it."""
    nights.check_version(session, night, base_version)
    visit = nights.get_visit(session, night, visit_id)
    if visit.status != "open":
        raise Unprocessable(f"the visit is {visit.status}; only open visits can be moved")
    night_problem = build_problem(session, region, night)
    ref = visit_ref(visit.id)
    if nurse_code is not None and nurse_code not in night_problem.nurses:
        raise Unprocessable(f"nurse {nurse_code!r} is not on shift tonight")
    before = current_plan(session, night_problem)
    routes = sequences_of(before) if before is not None else {}
    routes = {n: [s for s in stops if s != ref] for n, stops in routes.items()}
    if nurse_code is not None:
        stops = routes.setdefault(nurse_code, [])
        at = len(stops) if position is None else min(position, len(stops))
        stops.insert(at, ref)
    if pin and nurse_code is not None:
        visit.pin_nurse_id = night_problem.nurses[nurse_code].id
        visit.pin_position = None
    elif not pin:
        visit.pin_nurse_id = None
        visit.pin_position = None
    session.flush()
    night_problem = build_problem(session, region, night)
    plan = evaluate(night_problem.problem, routes)
    if dry_run:
        session.rollback()
        return MoveResult(plan=plan, before=before, version=None, affected_nurses=[])
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
    return MoveResult(plan=plan, before=before, version=version.version, affected_nurses=codes)


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
    return Plan.model_validate(stored.plan) if stored is not None else None


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
