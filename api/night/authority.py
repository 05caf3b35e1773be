"""Who may change a visit: a nurse only her own visits, a planner any.

A nurse's own visits are those on any of her route versions tonight (a visit re-planned to a
colleague while she was offline stays hers for what she did there) and those she did. Once
she could know it was moved away it is hers no more (F13: she marked done, hours later, a
visit moved to a colleague): by her token the visit must be on her newest route (or her
newest published one); from her phone, an event on a visit moved away is refused when the
phone was heard from after the move was published and before the event happened
(`moved_away_known`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.problems import Forbidden
from api.core.roles import Principal, Role
from api.db.models import Night, RouteVersion, Visit
from api.db.phone_models import PhoneEvent
from api.night.stored import stored_steps

__all__ = [
    "NotYourVisit",
    "check_may_change",
    "is_hers",
    "moved_away_known",
    "visits_now_of_nurse",
    "visits_of_nurse",
]


class NotYourVisit(Forbidden):
    """403: a nurse reporting a visit that is not hers."""

    slug, title = "not-your-visit", "Not your visit"

    def __init__(self, visit_id: int) -> None:
        super().__init__(
            f"visit {visit_id} is not on your route tonight; only your own visits can be reported",
            extra={"visit_id": visit_id},
        )


def visits_of_nurse(session: Session, night: Night, nurse_id: int) -> set[int]:
    """Every visit on any of the nurse's route versions tonight (database ids)."""
    found: set[int] = set()
    for steps in session.scalars(
        select(RouteVersion.steps).where(
            RouteVersion.night_id == night.id, RouteVersion.nurse_id == nurse_id
        )
    ):
        found.update(s.visit_id for s in stored_steps(steps) if s.visit_id is not None)
    return found


def visits_now_of_nurse(session: Session, night: Night, nurse_id: int) -> set[int]:
    """The visits on her newest route version and on her newest published one (her phone
    shows the latter until the planner publishes): what is hers now (database ids)."""
    rows = list(
        session.execute(
            select(RouteVersion.version, RouteVersion.steps, RouteVersion.published_at).where(
                RouteVersion.night_id == night.id, RouteVersion.nurse_id == nurse_id
            )
        ).tuples()
    )
    newest = max(rows, key=lambda row: row[0], default=None)
    published = max(
        (row for row in rows if row[2] is not None), key=lambda row: row[0], default=None
    )
    found: set[int] = set()
    for row in (newest, published):
        if row is not None:
            found.update(s.visit_id for s in stored_steps(row[1]) if s.visit_id is not None)
    return found


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def moved_away_known(
    session: Session, night: Night, nurse_id: int, device_id: str, visit_id: int, at: datetime
) -> bool:
    """Whether her phone ``device_id`` could know, by ``at`` (the event's clamped time), that
    ``visit_id`` had left her route: a route version of hers without it was published after
    her last one with it, and the phone was heard from (any event received) between that
    publication and ``at``. A phone silent since the move still showed the visit: what she
    did there is history and stays hers."""
    rows = list(
        session.execute(
            select(RouteVersion.version, RouteVersion.steps, RouteVersion.published_at)
            .where(RouteVersion.night_id == night.id, RouteVersion.nurse_id == nurse_id)
            .order_by(RouteVersion.version)
        ).tuples()
    )
    with_it = [
        version
        for version, steps, _published in rows
        if any(s.visit_id == visit_id for s in stored_steps(steps))
    ]
    if not with_it:
        return False
    gone = [
        _utc(published)
        for version, _steps, published in rows
        if version > with_it[-1] and published is not None
    ]
    if not gone:
        return False
    since, until = min(gone), _utc(at)
    if until <= since:
        return False
    heard = session.scalars(
        select(PhoneEvent.received_at).where(
            PhoneEvent.night_id == night.id, PhoneEvent.device_id == device_id
        )
    )
    return any(since < _utc(received) <= until for received in heard)


def is_hers(visit: Visit, nurse_id: int, mine: set[int]) -> bool:
    """Whether the nurse (database id) may change ``visit``; ``mine`` from `visits_of_nurse`."""
    return visit.id in mine or visit.done_by_nurse_id == nurse_id


def check_may_change(session: Session, night: Night, principal: Principal, visit: Visit) -> None:
    """403 unless the caller may change ``visit``: planners any, a nurse only her own."""
    if principal.role == Role.PLANNER:
        return
    if principal.role == Role.NURSE and principal.nurse_id is not None:
        now_hers = visits_now_of_nurse(session, night, principal.nurse_id)
        if is_hers(visit, principal.nurse_id, now_hers):
            return
        raise NotYourVisit(visit.id)
    raise Forbidden("your role may not change visits")
