"""What became of a partner's request: each visit's status, nurse and expected start."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from api.db.models import Night, VisitRequest
from api.repositories import requests
from api.schemas.requests import Recurrence, VisitOutcome, VisitRequestPublic, Window
from api.services.planning import stored_plan, visit_ref, visit_times
from optimizer.plan import Plan, StepType

__all__ = ["NIGHT_NOT_PLANNED_YET", "REPLAN_PENDING", "request_public"]


def request_public(session: Session, request: VisitRequest) -> VisitRequestPublic:
    """The request as its partner sees it, with one outcome per visit."""
    outcomes = []
    plans: dict[int, _NightPlan] = {}
    for visit, night in requests.request_visits(session, request):
        if night.id not in plans:
            plans[night.id] = _night_plan(session, night)
        known = plans[night.id]
        ref = visit_ref(visit.id)
        placed = known.times.get(visit.id)
        late_seconds = known.lateness.get(ref, 0) if placed is not None else 0
        outcomes.append(
            VisitOutcome(
                visit_id=visit.id,
                night=night.night_date,
                status=visit.status,
                planned=placed is not None,
                nurse=placed[0] if placed else None,
                expected_start=placed[1] if placed else None,
                not_planned_reason=(
                    None
                    if placed is not None
                    else known.reasons.get(ref, known.waiting if visit.status == "open" else None)
                ),
                late=late_seconds > 0,
                expected_lateness_minutes=math.ceil(late_seconds / 60) if late_seconds else None,
            )
        )
    window = (
        Window(start=request.window_start, end=request.window_end)
        if request.window_start and request.window_end
        else None
    )
    return VisitRequestPublic(
        id=request.id,
        organisation_id=request.organisation_id,
        client_id=request.client_id,
        kind=request.kind,
        urgency=request.urgency,
        care_task=request.care_task,
        status=request.status,
        version=request.version,
        first_night=request.first_night,
        window=window,
        recurrence=Recurrence.model_validate(request.recurrence) if request.recurrence else None,
        service_minutes=request.service_minutes,
        required_skills=list(request.required_skills),
        nurses_needed=request.nurses_needed,
        created_at=request.created_at,
        after=requests.link_of(request),
        visits=outcomes,
    )


@dataclass
class _NightPlan:
    """What a partner may learn of a night's current plan about her visits."""

    times: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    #: Visit ref -> seconds its planned start is past its target (urgency or window).
    lateness: dict[str, int] = field(default_factory=dict)
    #: Why an open visit the plan does not mention is not in it yet (`WAITING_REASONS`).
    waiting: str | None = None


#: ``not_planned_reason`` of an open visit the night's plan does not mention (yet): the
#: night has no plan yet (the planner makes its first), or a re-plan that takes in the change
#: is owed (seconds, in the background). Never "not planned, no reason".
NIGHT_NOT_PLANNED_YET = "night_not_planned_yet"
REPLAN_PENDING = "replan_pending"


def _night_plan(session: Session, night: Night) -> _NightPlan:
    plan = stored_plan(session, night)
    if plan is None:
        return _NightPlan(waiting=NIGHT_NOT_PLANNED_YET)
    return _NightPlan(
        times=visit_times(night, plan),
        reasons={u.visit_id: u.reason.value for u in plan.unassigned},
        lateness=_lateness(plan),
        waiting=REPLAN_PENDING if night.replan_requested > night.replan_done else None,
    )


def _lateness(plan: Plan) -> dict[str, int]:
    # A two-person visit is as late as its later nurse.
    late: dict[str, int] = {}
    for route in plan.routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id and step.lateness_seconds > 0:
                late[step.visit_id] = max(late.get(step.visit_id, 0), step.lateness_seconds)
    return late
