"""The live night: re-plan from the current state when a call or a nurse's report comes in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.problems import Conflict, Unprocessable
from api.core.roles import Principal, Role
from api.db.models import Night, Region
from api.repositories import nights
from api.services.planning import ReplanResult, replan

__all__ = ["record_nurse_event", "replan_now"]

EVENT_KINDS = ("started", "done", "delayed", "could_not_get_in")


def replan_now(
    session: Session,
    region: Region,
    night: Night,
    *,
    reason: str,
    now: datetime,
    settings: Settings,
    user_id: int | None = None,
) -> ReplanResult:
    """A live re-plan within the settings' budget; retried once if a planner saved meanwhile."""
    for attempt in range(2):
        session.refresh(night)
        try:
            return replan(
                session,
                region,
                night,
                reason=reason,
                now=now,
                time_limit=settings.live_replan_seconds,
                user_id=user_id,
            )
        except Conflict:
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def record_nurse_event(
    session: Session,
    principal: Principal,
    region: Region,
    night: Night,
    *,
    kind: str,
    nurse_code: str | None,
    visit_id: int | None,
    delay_minutes: int | None,
    now: datetime,
    settings: Settings,
) -> tuple[int, ReplanResult]:
    """Record a nurse's report and re-plan the rest of the night from it."""
    nurse = None
    if principal.role == Role.NURSE:
        nurse = next(
            (n for n, _ in nights.shifts_of(session, night) if n.id == principal.nurse_id), None
        )
        if nurse is None:
            raise Unprocessable("you are not on shift tonight")
    elif nurse_code is not None:
        nurse = next((n for n, _ in nights.shifts_of(session, night) if n.code == nurse_code), None)
        if nurse is None:
            raise Unprocessable(f"nurse {nurse_code!r} is not on shift tonight")
    if nurse is None:
        raise Unprocessable("name the nurse")
    moment = nights.seconds_since_start(night, now)
    if not 0 <= moment < nights.horizon(night):
        raise Unprocessable("the night is not under way")
    visit = None
    if kind != "delayed":
        if visit_id is None:
            raise Unprocessable(f"a {kind} report names the visit")
        visit = nights.get_visit(session, night, visit_id)
        if visit.status not in ("open", "started"):
            raise Unprocessable(f"the visit is already {visit.status}")
    elif not delay_minutes:
        raise Unprocessable("a delay report gives delay_minutes")
    if visit is not None:
        if kind == "started":
            visit.status, visit.started_at, visit.done_by_nurse_id = "started", moment, nurse.id
        elif kind == "done":
            if visit.started_at is None:
                visit.started_at = max(0, moment - visit.service_seconds)
            visit.status, visit.done_by_nurse_id = "done", nurse.id
        else:
            visit.status = "could_not_get_in"
    event = nights.add_event(
        session,
        night,
        kind=kind,
        at=now,
        nurse_id=nurse.id,
        visit_id=visit.id if visit else None,
        delay_minutes=delay_minutes,
        user_id=principal.user_id,
    )
    session.commit()
    result = replan_now(
        session,
        region,
        night,
        reason=f"nurse reported {kind}",
        now=now,
        settings=settings,
        user_id=principal.user_id,
    )
    return event.id, result
