"""Partners' visit requests (system to system, with an API key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status

from api.core.roles import Principal, Role
from api.db.models import VisitRequest
from api.deps import ClockDep, ReplannerDep, SessionDep, SettingsDep, allow
from api.repositories import accounts, nights, requests
from api.schemas.requests import (
    LiveReplan,
    VisitRequestAmend,
    VisitRequestCancel,
    VisitRequestCreate,
    VisitRequestPublic,
)
from api.services import live
from api.services.outcomes import request_public

router = APIRouter(prefix="/partner/v1", tags=["partner: visit requests"])
Partner = Annotated[Principal, Depends(allow(Role.PARTNER))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="a unique key per request: a retry with the same key and body is taken once",
    ),
]


@router.post(
    "/visit-requests",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": VisitRequestPublic, "description": "a replayed Idempotency-Key"}},
)
def submit_visit_request(
    body: VisitRequestCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    partner: Partner,
    idempotency_key: IdempotencyKey = None,
) -> VisitRequestPublic:
    """Hand a visit to the night team: planned care in a window, or unplanned care.

    Unplanned care during the night is planned in before the answer (the re-plan's first
    answer, a quick insertion; the searched plan follows as the next version):
    ``visits[0].planned`` and ``live_replan`` say where it went. Calls arriving
    together are re-planned one night at a time, never refused for it. Should the re-plan
    fail, the call is still taken (201), ``live_replan.pending`` is true and the re-plan
    follows in the background.
    """
    now = clock()
    region = accounts.get_region(session)
    request, created = requests.submit_request(
        session,
        partner,
        region,
        body,
        idempotency_key=idempotency_key,
        now=now,
        days_ahead=settings.recurrence_days_ahead,
    )
    replanned, pending = None, False
    if created and request.kind == "unplanned":
        night = nights.require_night(session, region, request.first_night)
        replanned = live.replan_or_leave_pending(replanner, night.id, quick=True)
        session.expire_all()  # the outcome is read from the plan stored meanwhile
        pending = night.id in nights.pending_replans(session)
    elif created:
        replanner.notify()
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    result = request_public(session, request)
    if replanned is not None:
        result.live_replan = LiveReplan(
            # The plan the outcome was read from (a later re-plan may have covered it too).
            plan_version=max(replanned.version, night.plan_version),
            affected_nurses=replanned.affected_nurses,
            seconds=replanned.seconds,
            fallback=replanned.fallback,
        )
    elif created and request.kind == "unplanned":
        # Another process covered it (or it is still owed, when ``pending``).
        result.live_replan = LiveReplan(
            plan_version=None if pending else night.plan_version,
            affected_nurses=[],
            seconds=0.0,
            pending=pending,
        )
    response.headers["Location"] = f"/partner/v1/visit-requests/{request.id}"
    return result


@router.get("/visit-requests")
def list_visit_requests(
    session: SessionDep,
    clock: ClockDep,
    partner: Partner,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[VisitRequestPublic]:
    """Your organisation's requests, newest first, with their outcomes. Reading them is
    access-logged (NEN 7513), once per client on the page."""
    found = requests.list_requests(session, partner, now=clock(), offset=offset, limit=limit)
    return [request_public(session, r) for r in found]


@router.get("/visit-requests/{request_id}")
def read_visit_request(
    request_id: Id, session: SessionDep, clock: ClockDep, partner: Partner
) -> VisitRequestPublic:
    """Status and outcome of one of your requests (another organisation's: 404); the read
    is access-logged (NEN 7513)."""
    request = requests.read_request(session, partner, request_id, now=clock())
    return request_public(session, request)


@router.patch("/visit-requests/{request_id}")
def amend_visit_request(
    request_id: Id,
    body: VisitRequestAmend,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    partner: Partner,
) -> VisitRequestPublic:
    """Change a request; its visits that have not begun follow (tonight's plan at once)."""
    region = accounts.get_region(session)
    now = clock()
    request = requests.amend_request(session, partner, region, request_id, body, now=now)
    _replan_pending_nights(session, replanner, request)
    return request_public(session, request)


@router.post("/visit-requests/{request_id}/cancel")
def cancel_visit_request(
    request_id: Id,
    session: SessionDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    partner: Partner,
    body: Annotated[VisitRequestCancel | None, Body()] = None,
) -> VisitRequestPublic:
    """Cancel a request and its visits that have not begun, or with ``night`` only that
    night's care (recurring care keeps its other nights); tonight's plan follows at once."""
    now = clock()
    reason = body.reason if body is not None else "not_needed"
    if body is not None and body.night is not None:
        request = requests.cancel_night(
            session, partner, request_id, body.night, now=now, reason=reason
        )
    else:
        request = requests.cancel_request(session, partner, request_id, now=now, reason=reason)
    _replan_pending_nights(session, replanner, request)
    return request_public(session, request)


def _replan_pending_nights(
    session: SessionDep, replanner: ReplannerDep, request: VisitRequest
) -> None:
    """Drain the re-plans the change recorded for the request's nights (in this thread)."""
    for night_id in sorted(
        {n.id for _v, n in requests.request_visits(session, request)}
        & set(nights.pending_replans(session))
    ):
        live.replan_or_leave_pending(replanner, night_id)
    session.expire_all()
