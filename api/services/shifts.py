"""A nurse's shift set by the planner or the admin, checked against the night it belongs to,
and re-planned on a night under way (a nurse sent home ill at 00:30 leaves the routes)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from api.core.problems import Unprocessable
from api.db.models import Region
from api.repositories import accounts, nights
from api.services import live

__all__ = ["set_shift"]


def set_shift(
    session: Session, nurse_id: int, *, night_date: date, start: str, end: str, now: datetime
) -> int | None:
    """Put the nurse on the night of ``night_date`` from ``start`` to ``end`` (wall clock
    ``HH:MM``, before noon the next morning); on a night with a plan that has not ended, a
    re-plan is recorded in the same transaction. Returns that night's id (``None``: nothing
    to re-plan).

    Raises `Unprocessable` naming ``body.start`` / ``body.end`` for a shift outside the
    region's night or one that does not end after it starts; `NotFound` for no such nurse.
    """
    nurse = accounts.get_nurse(session, nurse_id)
    region = session.get(Region, nurse.region_id)
    assert region is not None  # a foreign key
    night_starts, night_ends = nights.night_bounds(region, night_date)
    begins = nights.clock_instant(region, night_date, start)
    ends = nights.clock_instant(region, night_date, end)
    night_text = f"{region.night_start}-{region.night_end}"
    errors = []
    if not night_starts <= begins < night_ends:
        errors.append(("body.start", f"{start} is outside the night ({night_text})"))
    if not night_starts < ends <= night_ends:
        errors.append(("body.end", f"{end} is outside the night ({night_text})"))
    if not errors and ends <= begins:
        errors.append(("body.end", f"the shift must end after it starts ({start})"))
    if errors:
        raise Unprocessable(
            "; ".join(f"{field}: {message}" for field, message in errors),
            extra={
                "errors": [
                    {"field": field, "message": message, "code": "shift"}
                    for field, message in errors
                ]
            },
        )
    accounts.set_shift(session, nurse_id, night_date=night_date, start=start, end=end, commit=False)
    night = nights.get_night(session, region, night_date)
    replan = night is not None and live.needs_live_replan(night, now)
    if replan:
        assert night is not None
        live.request_replan(session, night, reason=f"shift of nurse {nurse.code} changed")
    session.commit()
    return night.id if replan and night is not None else None
