"""What became of a partner's request: each visit's status, nurse and expected start."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.db.models import Night, VisitRequest
from api.repositories import requests
from api.schemas.requests import Recurrence, VisitOutcome, VisitRequestPublic, Window
from api.services.planning import stored_plan, visit_ref, visit_times

__all__ = ["request_public"]


def request_public(session: Session, request: VisitRequest) -> VisitRequestPublic:
    """The request as its partner sees it, with one outcome per visit."""
    outcomes = []
    plans: dict[int, tuple[dict[int, tuple[str, datetime]], dict[str, str]]] = {}
    for visit, night in requests.request_visits(session, request):
        if night.id not in plans:
            plans[night.id] = _night_plan(session, night)
        times, reasons = plans[night.id]
        placed = times.get(visit.id)
        outcomes.append(
            VisitOutcome(
                visit_id=visit.id,
                night=night.night_date,
                status=visit.status,
                planned=placed is not None,
                nurse=placed[0] if placed else None,
                expected_start=placed[1] if placed else None,
                not_planned_reason=reasons.get(visit_ref(visit.id)) if placed is None else None,
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


def _night_plan(
    session: Session, night: Night
) -> tuple[dict[int, tuple[str, datetime]], dict[str, str]]:
    plan = stored_plan(session, night)
    if plan is None:
        return {}, {}
    times = visit_times(night, plan)
    return times, {u.visit_id: u.reason.value for u in plan.unassigned}
