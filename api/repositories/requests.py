"""Visit requests: submit (idempotent), expand recurring care into nights, amend, cancel."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.problems import Conflict, NotFound, Unprocessable
from api.core.roles import Principal
from api.db.models import Client, IdempotencyRecord, Night, Region, Visit, VisitRequest
from api.night.visit_states import VisitStatus, change_visit, may_follow_request
from api.repositories import access_log, clients, nights
from api.schemas.requests import (
    WEEKDAYS,
    LinkAfter,
    PlannedRequestCreate,
    UnplannedRequestCreate,
    VisitRequestAmend,
)

__all__ = [
    "amend_request",
    "cancel_night",
    "cancel_request",
    "expand_recurring_into",
    "get_request",
    "link_of",
    "list_requests",
    "read_request",
    "submit_request",
]

_URGENCY_PLANNED = "planned"


def body_hash(body: dict[str, Any]) -> str:
    """A stable hash of a request body (key order does not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(session: Session, principal: Principal, key: str, digest: str) -> int | None:
    record = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organisation_id == principal.organisation_id,
            IdempotencyRecord.key == key,
        )
    ).first()
    if record is None:
        return None
    if record.body_hash != digest:
        raise Unprocessable(
            "this Idempotency-Key was used with a different request body; use a new key",
            extra={
                "errors": [
                    {"field": "header.Idempotency-Key", "message": "reused", "code": "reused"}
                ]
            },
        )
    request_id: int = record.response["request_id"]
    return request_id


def submit_request(
    session: Session,
    principal: Principal,
    region: Region,
    body: PlannedRequestCreate | UnplannedRequestCreate,
    *,
    idempotency_key: str | None,
    now: datetime,
    days_ahead: int,
) -> tuple[VisitRequest, bool]:
    """Take a request once: returns it and whether it is new (``False`` for a replayed key)."""
    assert principal.organisation_id is not None
    digest = body_hash(body.model_dump(mode="json"))
    if idempotency_key is not None:
        earlier = _replay(session, principal, idempotency_key, digest)
        if earlier is not None:
            return _replayed(session, principal, earlier, now=now), False
    client = clients.find_client_for_partner(
        session, principal, body.client_id, now=now, event="create", purpose="submit visit request"
    )
    current_night = nights.night_date_for(region, now)
    request = VisitRequest(
        organisation_id=principal.organisation_id,
        client_id=client.id,
        kind=body.kind,
        care_task=body.care_task,
        service_minutes=body.service_minutes,
        required_skills=sorted(set(body.required_skills)),
        nurses_needed=body.nurses_needed,
        status="active",
        version=1,
        created_at=now,
        updated_at=now,
    )
    if body.after is not None:
        _link(session, principal, request, body.after, now=now)
        # Both visits fall in one night: a gap longer than the night can never be kept, and
        # planning it would only leave the first care out as well.
        starts_at, ends_at = nights.night_bounds(region, current_night)
        night_minutes = int((ends_at - starts_at).total_seconds() // 60)
        if body.after.min_minutes > night_minutes:
            raise Unprocessable(
                f"after.min_minutes: {body.after.min_minutes} minutes is longer than the night "
                f"({region.night_start}-{region.night_end}, {night_minutes} minutes)",
                extra={
                    "errors": [
                        {
                            "field": "body.after.min_minutes",
                            "message": "the gap is longer than the night",
                            "code": "longer_than_night",
                        }
                    ]
                },
            )
    if isinstance(body, PlannedRequestCreate):
        if body.night < current_night:
            raise Unprocessable("night is in the past", field="body.night")
        request.urgency = _URGENCY_PLANNED
        request.first_night = body.night
        request.window_start, request.window_end = body.window.start, body.window.end
        if body.recurrence is not None:
            request.recurrence = body.recurrence.model_dump(mode="json")
        dates = _dates(
            request, body.night, min(_until(request), current_night + timedelta(days=days_ahead))
        )
        if request.after_request_id is not None:
            first_care = session.get(VisitRequest, request.after_request_id)
            assert first_care is not None  # `_link` found it
            night_without = _night_without_first(request, first_care, current_night)
            if night_without is not None:
                raise Unprocessable(
                    f"after.request_id: that request has no care on the night of "
                    f"{night_without.isoformat()}, when this one is given",
                    extra={
                        "errors": [
                            {
                                "field": "body.after.request_id",
                                "message": "that request is not given on every night of this one",
                                "code": "other_night",
                            }
                        ]
                    },
                )
    else:
        call = body.call_time or now
        if call > now + timedelta(minutes=5):
            raise Unprocessable("call_time is in the future", field="body.call_time")
        night_date = nights.night_date_for(region, call)
        if night_date != current_night:
            # An earlier night's plan is never served again: the call would wait for nobody.
            raise Unprocessable("call_time is not in tonight's night", field="body.call_time")
        starts_at, ends_at = nights.night_bounds(region, night_date)
        if not starts_at <= call < ends_at:
            raise Unprocessable(
                f"the night team works {region.night_start}-{region.night_end}; "
                "this call falls outside a night",
                field="body.call_time",
            )
        request.urgency = body.urgency
        request.first_night = night_date
        request.call_time = call
        dates = [night_date]
        if request.after_request_id is not None:
            first_care = session.get(VisitRequest, request.after_request_id)
            assert first_care is not None  # `_link` found it
            if not _applies(first_care, night_date):
                # The planning links visits of one night only: planned alone, the call's
                # link would silently be no rule at all.
                raise Unprocessable(
                    "after.request_id: that request has no care tonight, when this call is",
                    extra={
                        "errors": [
                            {
                                "field": "body.after.request_id",
                                "message": "that request is not given tonight",
                                "code": "other_night",
                            }
                        ]
                    },
                )
    session.add(request)
    try:
        session.flush()
        for night_date in dates:
            night = nights.get_or_create_night(session, region, night_date)
            made = _make_visit(session, region, request, night)
            if made is not None and (request.kind == "unplanned" or _live(night, now)):
                # Committed with the visit: a crash after the commit still re-plans it.
                nights.mark_replan_needed(session, night, reason=f"{request.kind} request")
        if request.recurrence is not None:
            # Nights are expanded when they open: one opened already, beyond the days
            # expanded ahead above, would never get this care.
            _extend_into_open_nights(session, region, request, now=now)
        if idempotency_key is not None:
            with session.begin_nested():
                session.add(
                    IdempotencyRecord(
                        organisation_id=principal.organisation_id,
                        key=idempotency_key,
                        body_hash=digest,
                        status_code=201,
                        response={"request_id": request.id},
                        created_at=now,
                    )
                )
    except IntegrityError:
        # The same key raced in from a parallel retry: the first one wins, this one replays.
        session.rollback()
        if idempotency_key is not None:
            earlier = _replay(session, principal, idempotency_key, digest)
            if earlier is not None:
                return _replayed(session, principal, earlier, now=now), False
        raise
    except Unprocessable:
        session.rollback()
        raise
    _log_change(session, principal, request, event="create", purpose="submit visit request", at=now)
    session.commit()
    return request, True


def _night_without_first(follower: VisitRequest, earlier: VisitRequest, since: date) -> date | None:
    """The first night from ``since`` (the current night) on which ``follower`` is given but
    ``earlier`` (the care it follows) is not, else None. The planning links visits of one
    night only, so on such a night the link would silently be no rule at all (the check
    planned alone). Nights before ``since`` are over: an amended link or end of a running
    check is not refused for a past night its new first care could never have had
    (R22B-02)."""
    day, last = max(follower.first_night, since), _until(follower)
    while day <= last:
        if _applies(follower, day) and not _applies(earlier, day):
            return day
        day += timedelta(days=1)
    return None


def _active_followers(session: Session, request: VisitRequest) -> list[VisitRequest]:
    """The active requests linked to follow ``request``."""
    return list(
        session.scalars(
            select(VisitRequest)
            .where(VisitRequest.after_request_id == request.id, VisitRequest.status == "active")
            .order_by(VisitRequest.id)
        )
    )


def _live(night: Night, now: datetime) -> bool:
    """Whether a change to ``night`` re-plans it: it has a plan and has not ended."""
    return night.plan_version > 0 and now < night.ends_at


def _until(request: VisitRequest) -> date:
    if request.recurrence is None:
        return request.first_night
    return date.fromisoformat(request.recurrence["until"])


def _applies(request: VisitRequest, night_date: date) -> bool:
    if request.status != "active" or not request.first_night <= night_date <= _until(request):
        return False
    if request.recurrence is None:
        return night_date == request.first_night
    if night_date.isoformat() in request.recurrence.get("cancelled_nights", ()):
        return False
    weekdays = request.recurrence.get("weekdays")
    return weekdays is None or WEEKDAYS[night_date.weekday()] in weekdays


def _dates(request: VisitRequest, first: date, last: date) -> list[date]:
    days = (last - first).days
    candidates = [first + timedelta(days=d) for d in range(max(0, days) + 1)]
    return [d for d in candidates if _applies(request, d)]


def _make_visit(
    session: Session, region: Region, request: VisitRequest, night: Night
) -> Visit | None:
    if not _applies(request, night.night_date):
        return None
    existing = session.scalars(
        select(Visit).where(Visit.request_id == request.id, Visit.night_id == night.id)
    ).first()
    if existing is not None:  # opening the night already expanded this request
        return existing
    visit = Visit(
        night_id=night.id,
        request_id=request.id,
        organisation_id=request.organisation_id,
        client_id=request.client_id,
        urgency=request.urgency,
        service_seconds=request.service_minutes * 60,
        required_skills=list(request.required_skills),
        nurses_needed=request.nurses_needed,
    )
    if request.kind == "planned":
        assert request.window_start is not None
        assert request.window_end is not None
        visit.window_start, visit.window_end = nights.window_seconds(
            region, night, request.window_start, request.window_end
        )
    else:
        assert request.call_time is not None
        visit.call_time = max(0, nights.seconds_since_start(night, request.call_time))
    session.add(visit)
    session.flush()
    return visit


def expand_recurring_into(session: Session, region: Region, night: Night) -> None:
    """Add a newly opened night's visits for every recurring request that covers it."""
    candidates = session.scalars(
        select(VisitRequest).where(
            VisitRequest.status == "active",
            VisitRequest.kind == "planned",
            VisitRequest.recurrence.is_not(None),
            VisitRequest.first_night <= night.night_date,
        )
    )
    for request in candidates:
        if _applies(request, night.night_date):
            _make_visit(session, region, request, night)


def _link(
    session: Session,
    principal: Principal,
    request: VisitRequest,
    after: LinkAfter,
    *,
    now: datetime,
) -> None:
    """Store the link to the earlier request: the caller's own, active care, one- or
    two-person (another organisation's is refused as none, and the attempt is access-logged)."""

    def refuse(message: str, code: str) -> Unprocessable:
        return Unprocessable(
            f"after.request_id: {message}",
            extra={
                "errors": [{"field": "body.after.request_id", "message": message, "code": code}]
            },
        )

    earlier = session.get(VisitRequest, after.request_id)
    if earlier is None or earlier.organisation_id != principal.organisation_id:
        _log_refused(session, principal, earlier, now=now, event="create", purpose="link care")
        raise refuse("no such visit request of yours", "not_found")
    if earlier.status != "active":
        raise refuse("that request is cancelled", "cancelled")
    request.after_request_id = earlier.id
    request.after_min_minutes = after.min_minutes
    request.after_max_minutes = after.max_minutes
    request.after_nurse = after.nurse


def link_of(request: VisitRequest) -> LinkAfter | None:
    """The stored link of ``request`` as the API shows it, or None."""
    if request.after_request_id is None:
        return None
    return LinkAfter(
        request_id=request.after_request_id,
        min_minutes=request.after_min_minutes or 0,
        max_minutes=request.after_max_minutes or 0,
        nurse=request.after_nurse or "any",
    )


def _log_refused(
    session: Session,
    principal: Principal,
    request: VisitRequest | None,
    *,
    now: datetime,
    event: str,
    purpose: str,
) -> None:
    """Access-log a refused attempt at ``request`` (another organisation's, or ``None``:
    no such request) for its client (`access_log.record_refused_attempt`)."""
    client = session.get(Client, request.client_id) if request is not None else None
    reason = "not_found" if request is None else "other_organisation"
    access_log.record_refused_attempt(
        session, principal, client, at=now, event=event, purpose=purpose, reason=reason
    )


def _replayed(
    session: Session, principal: Principal, request_id: int, *, now: datetime
) -> VisitRequest:
    """The request an idempotency record of the caller's organisation names (its own:
    records are per organisation), shown again: a read of its client, logged."""
    request = session.get(VisitRequest, request_id)
    if request is None or request.organisation_id != principal.organisation_id:
        raise NotFound("no such visit request")
    _log_change(session, principal, request, event="read", purpose="replayed visit request", at=now)
    session.commit()
    return request


def _log_change(
    session: Session,
    principal: Principal,
    request: VisitRequest,
    *,
    event: str,
    purpose: str,
    at: datetime,
) -> None:
    """The access-log row of ``request``'s client for this read or change (a request names
    the client and the care), in the caller's transaction."""
    client = session.get(Client, request.client_id)
    assert client is not None  # a foreign key
    access_log.record(session, principal, [client], event=event, purpose=purpose, at=at)


def get_request(
    session: Session,
    principal: Principal,
    request_id: int,
    *,
    now: datetime,
    event: str,
    purpose: str,
) -> VisitRequest:
    """One of the caller's organisation's requests; another organisation's is 404 as none
    (nothing of it leaks) and the refused attempt (``event``, ``purpose``) is access-logged
    for its client's organisation (NEN 7513 logs attempts too)."""
    request = session.get(VisitRequest, request_id)
    if request is None or request.organisation_id != principal.organisation_id:
        _log_refused(session, principal, request, now=now, event=event, purpose=purpose)
        raise NotFound("no such visit request")
    return request


def read_request(
    session: Session, principal: Principal, request_id: int, *, now: datetime
) -> VisitRequest:
    """`get_request` for showing it: the read is access-logged for its client (the request
    names the client and the care)."""
    request = get_request(
        session, principal, request_id, now=now, event="read", purpose="read visit request"
    )
    _log_change(session, principal, request, event="read", purpose="read visit request", at=now)
    session.commit()
    return request


def list_requests(
    session: Session, principal: Principal, *, now: datetime, offset: int = 0, limit: int = 100
) -> list[VisitRequest]:
    """The caller's organisation's requests, newest first. Each client on the page is
    access-logged once, however many of its requests the page holds: NEN 7513 asks who saw
    which client's data, and a row per request would say nothing more."""
    found = list(
        session.scalars(
            select(VisitRequest)
            .where(VisitRequest.organisation_id == principal.organisation_id)
            .order_by(VisitRequest.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    seen = {r.client_id for r in found}
    if seen:
        shown = session.scalars(select(Client).where(Client.id.in_(seen)).order_by(Client.id))
        access_log.record(
            session, principal, shown, event="read", purpose="list visit requests", at=now
        )
        session.commit()
    return found


def request_visits(session: Session, request: VisitRequest) -> list[tuple[Visit, Night]]:
    """A request's visits with their nights."""
    rows = session.execute(
        select(Visit, Night)
        .join(Night, Night.id == Visit.night_id)
        .where(Visit.request_id == request.id)
        .order_by(Night.night_date)
    )
    return [(visit, night) for visit, night in rows.tuples()]


def amend_request(
    session: Session,
    principal: Principal,
    region: Region,
    request_id: int,
    body: VisitRequestAmend,
    *,
    now: datetime,
) -> VisitRequest:
    """Change a request and its visits that have not begun."""
    request = get_request(
        session, principal, request_id, now=now, event="update", purpose="amend visit request"
    )
    if request.status != "active":
        raise Unprocessable("the request is cancelled")
    if body.window is not None:
        if request.kind != "planned":
            raise Unprocessable("only planned care has a window", field="body.window")
        request.window_start, request.window_end = body.window.start, body.window.end
    if body.service_minutes is not None:
        request.service_minutes = body.service_minutes
    if body.required_skills is not None:
        request.required_skills = sorted(set(body.required_skills))
    if body.recurrence_until is not None:
        if request.recurrence is None:
            raise Unprocessable("the request does not recur", field="body.recurrence_until")
        if body.recurrence_until < request.first_night:
            raise Unprocessable(
                "recurrence_until is before the first night", field="body.recurrence_until"
            )
        request.recurrence = {**request.recurrence, "until": body.recurrence_until.isoformat()}
        earlier = session.get(VisitRequest, request.after_request_id or 0)
        pairs = [(request, earlier)] if earlier is not None else []
        pairs += [(follower, request) for follower in _active_followers(session, request)]
        today = nights.night_date_for(region, now)
        for follower, first in pairs:
            night_without = _night_without_first(follower, first, today)
            if night_without is not None:
                session.rollback()
                raise Unprocessable(
                    f"recurrence_until: request {follower.id} follows request {first.id}, "
                    f"which would not be given on the night of {night_without.isoformat()}",
                    field="body.recurrence_until",
                )
    if "after" in body.model_fields_set:
        _relink(session, principal, region, request, body.after, now=now)
    if body.recurrence_until is not None:
        _extend_into_open_nights(session, region, request, now=now)
    request.version += 1
    request.updated_at = now
    for visit, night in request_visits(session, request):
        if not may_follow_request(visit.status):
            continue  # begun or closed: it stays what it is
        if _live(night, now):
            nights.mark_replan_needed(session, night, reason="request amended")
        if not _applies(request, night.night_date):
            change_visit(session, night, visit, VisitStatus.CANCELLED, at=now)
            continue
        visit.service_seconds = request.service_minutes * 60
        visit.required_skills = list(request.required_skills)
        if request.kind == "planned" and request.window_start and request.window_end:
            visit.window_start, visit.window_end = nights.window_seconds(
                region, night, request.window_start, request.window_end
            )
    _log_change(session, principal, request, event="update", purpose="amend visit request", at=now)
    session.commit()
    return request


def _relink(
    session: Session,
    principal: Principal,
    region: Region,
    request: VisitRequest,
    after: LinkAfter | None,
    *,
    now: datetime,
) -> None:
    """An amended link (issue 13): ``None`` removes it; otherwise checked as at submission
    (the caller's own active request, given on every night of this one, a gap shorter than
    the night), and never a circle: a request cannot (in the end) follow itself, which no
    night could plan. Every refusal is a 422 naming ``body.after...`` with nothing stored."""

    def refuse(field: str, message: str, code: str) -> Unprocessable:
        session.rollback()
        return Unprocessable(
            f"{field.removeprefix('body.')}: {message}",
            extra={"errors": [{"field": field, "message": message, "code": code}]},
        )

    if after is None:
        request.after_request_id = None
        request.after_min_minutes = request.after_max_minutes = None
        request.after_nurse = None
        return
    seen = {request.id}
    step: int | None = after.request_id
    while step is not None:
        if step in seen:
            raise refuse(
                "body.after.request_id",
                f"request {after.request_id} follows this one (after.request_id): "
                "linked care cannot go in a circle",
                "circular",
            )
        seen.add(step)
        earlier = session.get(VisitRequest, step)
        if earlier is None or earlier.organisation_id != principal.organisation_id:
            break  # `_link` below refuses it (and logs a foreign one)
        step = earlier.after_request_id
    try:
        _link(session, principal, request, after, now=now)
    except Unprocessable:
        session.rollback()  # nothing of the amendment is kept
        raise
    today = nights.night_date_for(region, now)
    starts_at, ends_at = nights.night_bounds(region, today)
    night_minutes = int((ends_at - starts_at).total_seconds() // 60)
    if after.min_minutes > night_minutes:
        raise refuse(
            "body.after.min_minutes", "the gap is longer than the night", "longer_than_night"
        )
    first = session.get(VisitRequest, after.request_id)
    assert first is not None  # `_link` found it
    if request.kind == "planned":
        night_without = _night_without_first(request, first, today)
    else:
        night_without = None if _applies(first, request.first_night) else request.first_night
    if night_without is not None:
        raise refuse(
            "body.after.request_id",
            f"that request has no care on the night of {night_without.isoformat()}, "
            "when this one is given",
            "other_night",
        )


def _extend_into_open_nights(
    session: Session, region: Region, request: VisitRequest, *, now: datetime
) -> None:
    """Give the request its visit on every night already open that it now covers (only
    nights opened later are expanded when they open); 422 naming ``recurrence_until`` when
    one of them holds its visit cancelled by an earlier shortening (it does not re-open)."""
    had = {night.id: visit for visit, night in request_visits(session, request)}
    open_nights = session.scalars(
        select(Night)
        .where(
            Night.region_id == region.id,
            Night.night_date >= request.first_night,
            Night.night_date <= _until(request),
        )
        .order_by(Night.night_date)
    )
    for night in open_nights:
        if not _applies(request, night.night_date) or now >= night.ends_at:
            continue
        earlier = had.get(night.id)
        if earlier is not None and earlier.status == VisitStatus.CANCELLED:
            session.rollback()
            raise Unprocessable(
                f"recurrence_until: the care of the night of {night.night_date.isoformat()} "
                "was cancelled by an earlier change; submit a new request for those nights",
                extra={
                    "errors": [
                        {
                            "field": "body.recurrence_until",
                            "message": "covers nights whose care was cancelled",
                            "code": "cancelled_nights",
                        }
                    ]
                },
            )
        if earlier is None:
            _make_visit(session, region, request, night)
            if _live(night, now):
                nights.mark_replan_needed(session, night, reason="request amended")


def cancel_night(
    session: Session,
    principal: Principal,
    request_id: int,
    night_date: date,
    *,
    now: datetime,
    reason: str = "not_needed",
) -> VisitRequest:
    """Cancel one night's care of a request, the other nights staying as they are.

    Recurring care records the night in ``recurrence.cancelled_nights`` (a night not yet
    open is then never expanded) and cancels that night's visit if it has not begun; care
    on its only night cancels the request. Again for the same night: unchanged. 422 naming
    ``night`` when the request gives no care that night (or is cancelled); 409 when that
    night's visit has begun or linked care follows it that night (cancel that first).
    """
    request = get_request(
        session, principal, request_id, now=now, event="update", purpose="cancel a night"
    )

    def refuse(message: str, code: str) -> Unprocessable:
        return Unprocessable(
            f"night: {message}",
            extra={"errors": [{"field": "body.night", "message": message, "code": code}]},
        )

    if request.recurrence is None:
        if night_date != request.first_night:
            raise refuse("the request has no care on that night", "not_a_night_of_request")
        return cancel_request(session, principal, request_id, now=now, reason=reason)
    if night_date.isoformat() in request.recurrence.get("cancelled_nights", ()):
        return request
    if not _applies(request, night_date):
        raise refuse("the request has no care on that night", "not_a_night_of_request")
    visits = [(v, n) for v, n in request_visits(session, request) if n.night_date == night_date]
    for visit, _night in visits:
        if not may_follow_request(visit.status) and visit.status != VisitStatus.CANCELLED:
            raise Conflict(f"the visit of that night is {visit.status}; it cannot be cancelled")
    followers = [f for f in _active_followers(session, request) if _applies(f, night_date)]
    if followers:
        ids = ", ".join(str(f.id) for f in followers)
        raise Conflict(
            f"request(s) {ids} follow this one on that night (after.request_id): "
            'cancel their night first, or unlink them (PATCH with "after": null)'
        )
    cancelled = sorted({*request.recurrence.get("cancelled_nights", ()), night_date.isoformat()})
    request.recurrence = {**request.recurrence, "cancelled_nights": cancelled}
    request.version += 1
    request.updated_at = now
    for visit, night in visits:
        if may_follow_request(visit.status):
            change_visit(session, night, visit, VisitStatus.CANCELLED, at=now)
            visit.cancel_reason = _stored_reason(reason)
            if _live(night, now):
                nights.mark_replan_needed(session, night, reason="request cancelled for a night")
    _log_change(session, principal, request, event="update", purpose="cancel a night", at=now)
    session.commit()
    return request


def _stored_reason(reason: str) -> str | None:
    """What a cancelled visit keeps: only a hand-off is worth a column (R23-07)."""
    return "handed_to_backup" if reason == "handed_to_backup" else None


def cancel_request(
    session: Session,
    principal: Principal,
    request_id: int,
    *,
    now: datetime,
    reason: str = "not_needed",
) -> VisitRequest:
    """Cancel a request and every visit of it that has not begun; ``reason``
    ``handed_to_backup`` marks those visits as handed to the back-up partner."""
    request = get_request(
        session, principal, request_id, now=now, event="update", purpose="cancel visit request"
    )
    if request.status == "cancelled":
        return request
    followers = _active_followers(session, request)
    if followers:
        # Cancelling the first care alone would leave its check planned on its own, the
        # link silently gone: the partner cancels (or keeps) the check first.
        ids = ", ".join(str(f.id) for f in followers)
        raise Conflict(
            f"request(s) {ids} follow this one (after.request_id): cancel them first, or "
            'unlink them (PATCH with "after": null) to keep their care on its own'
        )
    request.status = "cancelled"
    request.version += 1
    request.updated_at = now
    for visit, night in request_visits(session, request):
        if may_follow_request(visit.status):  # a begun visit stays what it is
            change_visit(session, night, visit, VisitStatus.CANCELLED, at=now)
            visit.cancel_reason = _stored_reason(reason)
            if _live(night, now):
                nights.mark_replan_needed(session, night, reason="request cancelled")
    _log_change(session, principal, request, event="update", purpose="cancel visit request", at=now)
    session.commit()
    return request
