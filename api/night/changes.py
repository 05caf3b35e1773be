"""A report entered through ``POST /nights/{date}/events``: checked and applied by the night's
rules (authority, state machine), and recorded; the caller re-plans.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.core.problems import Forbidden, Unprocessable
from api.core.roles import Principal, Role
from api.db.models import Night, NightEvent, Nurse
from api.night.authority import check_may_change
from api.night.visit_states import VisitStatus, change_visit
from api.repositories import nights

__all__ = ["record_report"]

_TARGET = {
    "started": VisitStatus.STARTED,
    "done": VisitStatus.DONE,
    "could_not_get_in": VisitStatus.COULD_NOT_GET_IN,
}


def _reporting_nurse(
    session: Session, principal: Principal, night: Night, nurse_code: str | None
) -> Nurse:
    """The nurse the report is about: a nurse herself (naming a colleague: 403); a planner
    names her."""
    team = [n for n, _shift in nights.shifts_of(session, night)]
    if principal.role == Role.NURSE:
        nurse = next((n for n in team if n.id == principal.nurse_id), None)
        if nurse is None:
            raise Unprocessable("you are not on shift tonight")
        if nurse_code is not None and nurse_code != nurse.code:
            raise Forbidden("a nurse reports for herself only; leave out nurse or name yourself")
        return nurse
    if nurse_code is None:
        raise Unprocessable("name the nurse")
    nurse = next((n for n in team if n.code == nurse_code), None)
    if nurse is None:
        raise Unprocessable(f"nurse {nurse_code!r} is not on shift tonight")
    return nurse


def record_report(
    session: Session,
    principal: Principal,
    night: Night,
    *,
    kind: str,
    nurse_code: str | None,
    visit_id: int | None,
    delay_minutes: int | None,
    now: datetime,
) -> NightEvent:
    """Check and apply a nurse's report (started, done, could_not_get_in, delayed); the
    caller commits (with the re-plan the report calls for).

    Errors: 422 outside the night or when a field is missing, 403 for a nurse reporting a
    colleague's visit, 404 for no such visit tonight, 409 for a change the state machine
    refuses (`api.night.visit_states.TransitionRefused`).
    """
    nurse = _reporting_nurse(session, principal, night, nurse_code)
    moment = nights.seconds_since_start(night, now)
    if not 0 <= moment < nights.horizon(night):
        raise Unprocessable("the night is not under way")
    if kind == "delayed":
        if not delay_minutes:
            raise Unprocessable("a delay report gives delay_minutes")
        return nights.add_event(
            session,
            night,
            kind=kind,
            at=now,
            nurse_id=nurse.id,
            delay_minutes=delay_minutes,
            user_id=principal.user_id,
        )
    target = _TARGET.get(kind)
    if target is None:
        raise Unprocessable(f"unknown report kind {kind!r}")
    if visit_id is None:
        raise Unprocessable(f"a {kind} report names the visit")
    visit = nights.get_visit(session, night, visit_id)
    check_may_change(session, night, principal, visit)
    began = moment - visit.service_seconds if target == VisitStatus.DONE else moment
    recorded = change_visit(
        session,
        night,
        visit,
        target,
        at=now,
        began=began,
        nurse_id=nurse.id,
        user_id=principal.user_id,
    )
    assert recorded is not None
    return recorded
