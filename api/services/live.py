"""The live night: re-plan from the current state when a call or a nurse's report comes in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.problems import Conflict
from api.core.roles import Principal
from api.db.models import Night, Region
from api.night.changes import record_report
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
    """Record a nurse's report by the night's rules (`api.night.changes.record_report`) and
    re-plan the rest of the night from it."""
    event = record_report(
        session,
        principal,
        night,
        kind=kind,
        nurse_code=nurse_code,
        visit_id=visit_id,
        delay_minutes=delay_minutes,
        now=now,
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
