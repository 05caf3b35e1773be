"""Who may change a visit: a nurse only her own visits, a planner any.

A nurse's own visits are those on any of her route versions tonight (a visit re-planned to a
colleague while she was offline stays hers for what she did there) and those she did.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.problems import Forbidden
from api.core.roles import Principal, Role
from api.db.models import Night, RouteVersion, Visit
from api.night.stored import stored_steps

__all__ = ["NotYourVisit", "check_may_change", "is_hers", "visits_of_nurse"]


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


def is_hers(visit: Visit, nurse_id: int, mine: set[int]) -> bool:
    """Whether the nurse (database id) may change ``visit``; ``mine`` from `visits_of_nurse`."""
    return visit.id in mine or visit.done_by_nurse_id == nurse_id


def check_may_change(session: Session, night: Night, principal: Principal, visit: Visit) -> None:
    """403 unless the caller may change ``visit``: planners any, a nurse only her own."""
    if principal.role == Role.PLANNER:
        return
    if principal.role == Role.NURSE and principal.nurse_id is not None:
        if is_hers(visit, principal.nurse_id, visits_of_nurse(session, night, principal.nurse_id)):
            return
        raise NotYourVisit(visit.id)
    raise Forbidden("your role may not change visits")
