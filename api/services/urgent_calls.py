"""An urgent call the planner enters by hand: the triage quote's options first, then the call
taken with the nurse the planner chose (pinned to her, so the re-plans keep that choice).

Options are `optimizer.quote.quote` on the night as it stands now (the same quote triage
partners get), one per eligible nurse, best first. Times: seconds from the night's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from api.core.problems import NotFound, Unprocessable
from api.core.roles import Principal
from api.db.models import Client, Night, Region, Visit, VisitRequest
from api.repositories import access_log, nights
from api.services.planning import (
    build_problem,
    current_plan,
    reached_live_problem,
    silent_nurse_check,
)
from optimizer import model as om
from optimizer.live import with_visit
from optimizer.quote import quote
from optimizer.replan import hold_promises
from optimizer.solve import plan_from_routes

__all__ = ["CallDetails", "quote_call", "take_call"]


@dataclass(frozen=True)
class CallDetails:
    """What the planner typed: who, how urgent, what care, how long (minutes)."""

    client_id: int
    urgency: str
    care_task: str
    service_minutes: int
    required_skills: list[str]


def _client(session: Session, client_id: int) -> Client:
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound(f"client_id: no client {client_id}")
    return client


def _moment(night: Night, now: datetime) -> int:
    moment = nights.seconds_since_start(night, now)
    if not 0 <= moment < nights.horizon(night):
        raise Unprocessable("the night is not under way: an urgent call is taken during it")
    return moment


def quote_call(
    session: Session,
    principal: Principal,
    region: Region,
    night: Night,
    call: CallDetails,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """Each eligible nurse's best place for the call, best first: nurse, ETA and start
    (seconds), lateness past the urgency target, added travel, lateness caused to others,
    feasible and why not. Reading the client's place is access-logged."""
    client = _client(session, call.client_id)
    moment = _moment(night, now)
    access_log.record(
        session, principal, [client], event="read", purpose="planner urgent call", at=now
    )
    location = om.Location(lat=client.lat, lon=client.lon)
    night_problem = build_problem(session, region, night, extra_locations=[location], now=now)
    if not night_problem.problem.nurses:
        raise Unprocessable("no nurse is on shift tonight")
    plan = current_plan(session, night_problem)
    problem, plan, reach = reached_live_problem(session, night_problem, plan, now)
    visit = om.Visit(
        id="CALL",
        client_ref=f"C{client.id}",
        location=night_problem.extra_locations[0],
        service_seconds=call.service_minutes * 60,
        required_skills=frozenset(call.required_skills),
        urgency=call.urgency,
        call_time=moment,
    )
    trial = reach.problem(with_visit(problem, visit), plan)
    if plan is not None:
        # Quoted as the re-plans will see it: every call answered before held to its promise.
        trial, _ = hold_promises(trial, plan)
    options = quote(trial, plan if plan is not None else plan_from_routes(trial, {}), visit)
    return [
        {
            "nurse_id": o.nurse_id,
            "eta": o.eta,
            "start": o.start,
            "lateness_seconds": o.lateness_seconds,
            "added_travel_seconds": o.added_travel_seconds,
            "added_lateness_others_seconds": o.added_lateness_others_seconds,
            "feasible": o.feasible,
            "reason": o.reason,
            # Her phone is not picking up her route (`api.night.reach`): taking the call
            # with her needs the planner's acknowledgement (`take_call`).
            "silent": o.nurse_id in reach.silent,
        }
        for o in options
    ]


def take_call(
    session: Session,
    principal: Principal,
    region: Region,
    night: Night,
    call: CallDetails,
    *,
    nurse_code: str,
    base_version: int,
    now: datetime,
    silent_nurse_ok: bool = False,
) -> tuple[Visit, list[dict[str, Any]]]:
    """Record the call for the client's organisation as unplanned care, pinned to
    ``nurse_code``, and mark the night for a re-plan, in one commit (409 on a stale
    ``base_version``). The caller then re-plans (`api.services.live`). A nurse whose phone
    is silent needs ``silent_nurse_ok`` (409 ``nurse-silent`` otherwise); the warnings are
    returned with the visit (`api.services.planning.silent_nurse_check`)."""
    nights.check_version(session, night, base_version)
    client = _client(session, call.client_id)
    moment = _moment(night, now)
    nurse = next((n for n, _ in nights.shifts_of(session, night) if n.code == nurse_code), None)
    if nurse is None:
        raise Unprocessable(f"nurse: {nurse_code!r} is not on shift tonight")
    missing = sorted(set(call.required_skills) - set(nurse.skills or ()))
    if missing:
        # Pinned to her, the call could never be planned: the re-plan would leave an
        # acute call out while a colleague with the skill could go.
        raise Unprocessable(
            f"nurse: {nurse_code!r} lacks the skill(s) this call needs: {', '.join(missing)}"
        )
    warnings = silent_nurse_check(
        session, night, nurse, pinned=True, acknowledged=silent_nurse_ok, dry_run=False, now=now
    )
    request = VisitRequest(
        organisation_id=client.organisation_id,
        client_id=client.id,
        kind="unplanned",
        urgency=call.urgency,
        care_task=call.care_task,
        service_minutes=call.service_minutes,
        required_skills=sorted(set(call.required_skills)),
        nurses_needed=1,
        first_night=night.night_date,
        call_time=now,
        status="active",
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    visit = Visit(
        night_id=night.id,
        request_id=request.id,
        organisation_id=client.organisation_id,
        client_id=client.id,
        urgency=call.urgency,
        service_seconds=call.service_minutes * 60,
        required_skills=list(request.required_skills),
        nurses_needed=1,
        call_time=moment,
        pin_nurse_id=nurse.id,  # the planner's choice: re-plans keep the call with her
    )
    session.add(visit)
    nights.mark_replan_needed(session, night, reason="planner urgent call")
    access_log.record(
        session, principal, [client], event="write", purpose="planner urgent call", at=now
    )
    session.commit()
    return visit, warnings
