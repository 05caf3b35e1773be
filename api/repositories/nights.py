"""Nights, their visits, plan versions, route versions, events and jobs.

Inside a night, times are seconds from the night's start (the optimizer's unit); wall-clock
``HH:MM`` times before noon belong to the next morning.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.problems import Conflict, NotFound, Unprocessable
from api.db.models import (
    Job,
    Night,
    NightEvent,
    Nurse,
    PlanVersion,
    Region,
    RouteVersion,
    Shift,
    Visit,
    VisitRequest,
)
from api.night.stored import StoredStep, route_of, stored_steps
from optimizer.plan import StepType

__all__ = [
    "clock_to_seconds",
    "get_or_create_night",
    "night_date_for",
    "save_plan_version",
]


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def night_bounds(region: Region, night_date: date) -> tuple[datetime, datetime]:
    """When the night of ``night_date`` starts and ends (aware, in UTC; the region's wall clock)."""
    zone = ZoneInfo(region.timezone)
    start_clock, end_clock = _clock(region.night_start), _clock(region.night_end)
    start = datetime.combine(night_date, start_clock, tzinfo=zone)
    end_day = night_date + timedelta(days=1) if end_clock <= start_clock else night_date
    end = datetime.combine(end_day, end_clock, tzinfo=zone)
    # As UTC instants: Python subtracts and compares two datetimes of the same tzinfo by
    # their wall clocks, so on a night the clocks change a night opened in memory measured
    # its windows (and its length) an hour wrong; the database hands them back in UTC.
    return start.astimezone(UTC), end.astimezone(UTC)


def night_date_for(region: Region, moment: datetime) -> date:
    """The night a moment belongs to: before noon it is the previous evening's night."""
    local = moment.astimezone(ZoneInfo(region.timezone))
    return local.date() if local.hour >= 12 else local.date() - timedelta(days=1)


def clock_instant(region: Region, night_date: date, text: str) -> datetime:
    """Wall-clock ``HH:MM`` in the night of ``night_date`` as an instant (aware, UTC): before
    noon it is the next morning."""
    moment = _clock(text)
    day = night_date if moment.hour >= 12 else night_date + timedelta(days=1)
    return datetime.combine(day, moment, tzinfo=ZoneInfo(region.timezone)).astimezone(UTC)


def clock_to_seconds(region: Region, night: Night, text: str) -> int:
    """Seconds from the night's start of wall-clock ``HH:MM`` in that night."""
    return int((clock_instant(region, night.night_date, text) - night.starts_at).total_seconds())


def seconds_since_start(night: Night, moment: datetime) -> int:
    """``moment`` in seconds from the night's start (negative before it)."""
    return int((moment - night.starts_at).total_seconds())


def horizon(night: Night) -> int:
    """The night's length in seconds."""
    return int((night.ends_at - night.starts_at).total_seconds())


def get_night(session: Session, region: Region, night_date: date) -> Night | None:
    """The night of ``night_date`` if it has been opened."""
    return session.scalars(
        select(Night).where(Night.region_id == region.id, Night.night_date == night_date)
    ).first()


def open_for_planner(
    session: Session, region: Region, night_date: date, *, now: datetime, days_ahead: int
) -> Night:
    """The night of ``night_date`` for a planner's re-optimise: opened (`get_or_create_night`)
    when new, but only from the current night (`night_date_for` ``now``) to ``days_ahead``
    nights after it, as far as partners' care becomes visits (``recurrence_days_ahead``). A
    night opened already is returned whatever its date.

    Errors: 422 naming ``path.night_date`` for a night not opened that lies before the
    current night (nothing will be planned for it again) or beyond the horizon: re-optimise
    opened any night, so a planner's token (or a slip of the date) made night rows years
    ahead, expanded recurring care into them and ran the solver on each (review s25, R-C).
    """
    night = get_night(session, region, night_date)
    if night is not None:
        return night
    first = night_date_for(region, now)
    last = first + timedelta(days=days_ahead)
    if not first <= night_date <= last:
        raise Unprocessable(
            f"night_date: a night not opened yet can be planned from {first.isoformat()} "
            f"to {last.isoformat()} ({days_ahead} nights ahead)",
            field="path.night_date",
            code="outside_horizon",
        )
    return get_or_create_night(session, region, night_date)


def get_or_create_night(session: Session, region: Region, night_date: date) -> Night:
    """The night of ``night_date``, opened (and filled with recurring care) when new."""
    night = get_night(session, region, night_date)
    if night is not None:
        return night
    starts_at, ends_at = night_bounds(region, night_date)
    night = Night(region_id=region.id, night_date=night_date, starts_at=starts_at, ends_at=ends_at)
    try:
        with session.begin_nested():
            session.add(night)
    except IntegrityError:
        found = get_night(session, region, night_date)
        assert found is not None
        return found
    from api.repositories.requests import expand_recurring_into  # the two modules meet here

    expand_recurring_into(session, region, night)
    return night


def require_night(session: Session, region: Region, night_date: date) -> Night:
    """The night of ``night_date``, or 404 when nothing was ever planned for it."""
    night = get_night(session, region, night_date)
    if night is None:
        raise NotFound(f"no night opened for {night_date.isoformat()}")
    return night


def night_visits(session: Session, night: Night, *, include_closed: bool = False) -> list[Visit]:
    """The visits of a night (without cancelled and failed ones unless asked)."""
    query = select(Visit).where(Visit.night_id == night.id)
    if not include_closed:
        query = query.where(Visit.status.in_(("open", "started", "done")))
    return list(session.scalars(query.order_by(Visit.id)))


def shifts_of(session: Session, night: Night) -> list[tuple[Nurse, Shift]]:
    """The nurses on shift that night, with their shifts."""
    rows = session.execute(
        select(Nurse, Shift)
        .join(Shift, Shift.nurse_id == Nurse.id)
        .where(Shift.night_date == night.night_date, Nurse.active)
        .order_by(Nurse.code)
    )
    return [(nurse, shift) for nurse, shift in rows.tuples()]


def get_visit(session: Session, night: Night, visit_id: int) -> Visit:
    """A visit of this night, or 404."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.night_id != night.id:
        raise NotFound("no such visit tonight")
    return visit


# ----------------------------------------------------------------- plan versions


def current_plan_version(session: Session, night: Night) -> PlanVersion | None:
    """The night's current plan version."""
    if night.plan_version == 0:
        return None
    return session.scalars(
        select(PlanVersion).where(
            PlanVersion.night_id == night.id, PlanVersion.version == night.plan_version
        )
    ).first()


def plan_versions(session: Session, night: Night, *, after: int = 0) -> list[PlanVersion]:
    """Every plan version of a night after ``after``, oldest first."""
    return list(
        session.scalars(
            select(PlanVersion)
            .where(PlanVersion.night_id == night.id, PlanVersion.version > after)
            .order_by(PlanVersion.version)
        )
    )


def get_plan_version(session: Session, night: Night, version: int) -> PlanVersion:
    """One plan version, or 404."""
    found = session.scalars(
        select(PlanVersion).where(PlanVersion.night_id == night.id, PlanVersion.version == version)
    ).first()
    if found is None:
        raise NotFound(f"no plan version {version} for this night")
    return found


def stale(session: Session, night: Night, given: int) -> Conflict:
    """A 409 naming what changed since version ``given``."""
    session.refresh(night)
    changes = [
        {
            "version": v.version,
            "reason": v.reason,
            "created_at": v.created_at.isoformat(),
            "created_by_user_id": v.created_by_user_id,
        }
        for v in plan_versions(session, night, after=given)
    ]
    return Conflict(
        f"the plan is at version {night.plan_version}, not {given}: reload and try again",
        extra={"current_version": night.plan_version, "changes": changes},
    )


def check_version(session: Session, night: Night, given: int) -> None:
    """Raise 409 when ``given`` is not the night's current plan version."""
    if given != night.plan_version:
        raise stale(session, night, given)


def save_plan_version(
    session: Session,
    night: Night,
    plan: dict[str, Any],
    routes: dict[int, list[dict[str, Any]]],
    *,
    base_version: int,
    reason: str,
    user_id: int | None,
    now: datetime,
    publish: bool,
    live: bool = False,
    fallback: str | None = None,
    replan_done: int | None = None,
) -> tuple[PlanVersion, list[int]]:
    """Store a new plan version on top of ``base_version`` (else 409) and new route versions
    for the nurses whose visits changed; returns the version and those nurses' ids.

    ``replan_done`` (a re-plan's) records, in the same commit, how many requested re-plans
    the plan covers; ``fallback`` says why it is not a solver's answer.
    """
    values: dict[str, Any] = {"plan_version": base_version + 1}
    if replan_done is not None:
        values["replan_done"] = replan_done
    bumped = session.execute(
        update(Night)
        .where(Night.id == night.id, Night.plan_version == base_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(bumped, "rowcount", 0) != 1:
        session.rollback()
        raise stale(session, night, base_version)
    version = PlanVersion(
        night_id=night.id,
        version=base_version + 1,
        reason=reason,
        plan=plan,
        created_by_user_id=user_id,
        created_at=now,
        live=live,
        fallback=fallback,
    )
    session.add(version)
    affected: list[int] = []
    newest = {route.nurse_id: route for route in latest_routes(session, night)}
    moment = seconds_since_start(night, now)
    for nurse_id, steps in routes.items():
        latest = newest.get(nurse_id)
        if latest is not None and _sequence(route_of(latest), moment) == _sequence(
            stored_steps(steps), moment
        ):
            continue
        affected.append(nurse_id)
        session.add(
            RouteVersion(
                night_id=night.id,
                nurse_id=nurse_id,
                version=(latest.version if latest else 0) + 1,
                plan_version=base_version + 1,
                steps=steps,
                published_at=now if publish else None,
                created_at=now,
            )
        )
    session.commit()
    session.refresh(night)
    return version, affected


def _bare(plan: dict[str, Any]) -> dict[str, Any]:
    # What the search reports about itself (its time, iterations) is not the plan.
    return {k: v for k, v in plan.items() if k != "stats"}


def keep_if_unchanged(
    session: Session, night: Night, plan: dict[str, Any], *, base_version: int, replan_done: int
) -> bool:
    """A live re-plan whose ``plan`` is the current version's (its solver statistics aside):
    store no new version (R13: ten calls at once stored identical versions, each one new
    routes for every phone to fetch), but record in one commit that the re-plans up to
    ``replan_done`` are covered. False (nothing done) when the plan differs or the night is
    not at ``base_version``."""
    if night.plan_version != base_version:
        return False
    current = current_plan_version(session, night)
    if current is None or _bare(current.plan) != _bare(plan):
        return False
    done = session.execute(
        update(Night)
        .where(Night.id == night.id, Night.plan_version == base_version)
        .values(
            replan_done=case(
                (Night.replan_done > replan_done, Night.replan_done), else_=replan_done
            )
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        session.rollback()
        return False
    session.commit()
    session.refresh(night)
    return True


def _sequence(steps: list[StoredStep], moment: int) -> tuple[list[tuple[str, int | None]], bool]:
    # A nurse's route "changes" when her stops change, not when an ETA shifts a minute; and
    # when a break not begun by ``moment`` comes or goes: taken early (her phone said so),
    # it left the plan but stayed on her phone, a second break to take while the plan sent
    # her to visits (s27). One begun leaves the plan as taken: no news for her phone.
    stops: list[tuple[str, int | None]] = [
        (s.type, s.visit_id) for s in steps if s.type in (StepType.VISIT, StepType.RESTOCK)
    ]
    return stops, any(s.type == StepType.BREAK and s.start > moment for s in steps)


def latest_route(session: Session, night: Night, nurse_id: int) -> RouteVersion | None:
    """A nurse's newest route version tonight."""
    return session.scalars(
        select(RouteVersion)
        .where(RouteVersion.night_id == night.id, RouteVersion.nurse_id == nurse_id)
        .order_by(RouteVersion.version.desc())
        .limit(1)
    ).first()


def latest_published_route(session: Session, night: Night, nurse_id: int) -> RouteVersion | None:
    """The newest route version her phone may show (the phone contract serves this)."""
    return session.scalars(
        select(RouteVersion)
        .where(
            RouteVersion.night_id == night.id,
            RouteVersion.nurse_id == nurse_id,
            RouteVersion.published_at.is_not(None),
        )
        .order_by(RouteVersion.version.desc())
        .limit(1)
    ).first()


def night_shift_and_route(
    session: Session, region: Region, nurse_id: int, night_date: date
) -> tuple[Night, Shift, RouteVersion | None] | None:
    """In one query: the night of ``night_date`` (if opened), the nurse's shift in it (if
    any; else ``None``) and her newest published route version (`latest_published_route`),
    what every phone request reads first."""
    row = session.execute(
        _NIGHT_SHIFT_AND_ROUTE,
        {"region_id": region.id, "nurse_id": nurse_id, "night_date": night_date},
    ).first()
    if row is None:
        return None
    return row[0], row[1], row[2]


def _night_shift_and_route_query() -> Any:
    """`night_shift_and_route`'s query, built once with its values as parameters
    (``region_id``, ``nurse_id``, ``night_date``): every phone request runs it, and building
    the statement and its cache key each time cost more than running it on SQLite."""
    nurse_id: Any = bindparam("nurse_id")
    newest = (
        select(RouteVersion.id)
        .where(
            RouteVersion.night_id == Night.id,
            RouteVersion.nurse_id == nurse_id,
            RouteVersion.published_at.is_not(None),
        )
        .order_by(RouteVersion.version.desc())
        .limit(1)
        .correlate(Night)
        .scalar_subquery()
    )
    return (
        select(Night, Shift, RouteVersion)
        .join(Shift, (Shift.nurse_id == nurse_id) & (Shift.night_date == Night.night_date))
        .outerjoin(RouteVersion, RouteVersion.id == newest)
        .where(
            Night.region_id == bindparam("region_id"),
            Night.night_date == bindparam("night_date"),
        )
        .limit(1)
    )


_NIGHT_SHIFT_AND_ROUTE = _night_shift_and_route_query()


def latest_routes(session: Session, night: Night) -> list[RouteVersion]:
    """Every nurse's newest route version tonight, by nurse id (one query: a live re-plan
    reads them for every nurse on shift, on every call)."""
    newest = (
        select(RouteVersion.nurse_id, func.max(RouteVersion.version).label("version"))
        .where(RouteVersion.night_id == night.id)
        .group_by(RouteVersion.nurse_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(RouteVersion)
            .join(
                newest,
                (newest.c.nurse_id == RouteVersion.nurse_id)
                & (newest.c.version == RouteVersion.version),
            )
            .where(RouteVersion.night_id == night.id)
            .order_by(RouteVersion.nurse_id)
        )
    )


def publish_routes(session: Session, night: Night, *, now: datetime) -> list[RouteVersion]:
    """Mark every nurse's newest route version published; returns those newly published."""
    published = []
    for route in latest_routes(session, night):
        if route.published_at is None:
            route.published_at = now
            published.append(route)
    session.commit()
    return published


def any_published(session: Session, night: Night) -> bool:
    """Whether any route of this night was ever sent to a phone."""
    return (
        session.scalars(
            select(RouteVersion.id)
            .where(RouteVersion.night_id == night.id, RouteVersion.published_at.is_not(None))
            .limit(1)
        ).first()
        is not None
    )


# ----------------------------------------------------------------- events and jobs


def add_event(
    session: Session,
    night: Night,
    *,
    kind: str,
    at: datetime,
    nurse_id: int | None = None,
    visit_id: int | None = None,
    delay_minutes: int | None = None,
    user_id: int | None = None,
    received_at: datetime | None = None,
) -> NightEvent:
    """Record what happened (committed with the caller's changes). ``at``: when it happened
    (a phone's time, validated); ``received_at``: the server's clock now (default ``at``,
    for reports the server times itself)."""
    event = NightEvent(
        night_id=night.id,
        kind=kind,
        at=at,
        received_at=received_at or at,
        nurse_id=nurse_id,
        visit_id=visit_id,
        delay_minutes=delay_minutes,
        recorded_by_user_id=user_id,
    )
    session.add(event)
    return event


def visit_event_at(session: Session, night: Night, visit_id: int, *, kind: str) -> datetime | None:
    """When the night's first ``kind`` event of a visit was recorded (server-checked time)."""
    return session.scalars(
        select(NightEvent.at)
        .where(
            NightEvent.night_id == night.id,
            NightEvent.visit_id == visit_id,
            NightEvent.kind == kind,
        )
        .order_by(NightEvent.at)
        .limit(1)
    ).first()


def delays(session: Session, night: Night) -> dict[int, datetime]:
    """Per nurse, when her latest reported delay ends."""
    result: dict[int, datetime] = {}
    for event in session.scalars(
        select(NightEvent)
        .where(NightEvent.night_id == night.id, NightEvent.kind == "delayed")
        .order_by(NightEvent.at, NightEvent.id)  # a phone's reports may come in late
    ):
        if event.nurse_id is not None and event.delay_minutes:
            result[event.nurse_id] = event.at + timedelta(minutes=event.delay_minutes)
    return result


#: A night event: the plan had a nurse begin her break (``at``: its start), recorded when a
#: re-plan stores routes without it (`api.services.planning.record_breaks`).
BREAK_BEGUN = "break_begun"


def breaks_begun(session: Session, night: Night) -> dict[int, datetime]:
    """Per nurse, when a stored plan had her break begin (`BREAK_BEGUN`; the first)."""
    result: dict[int, datetime] = {}
    for nurse_id, at in session.execute(
        select(NightEvent.nurse_id, NightEvent.at)
        .where(NightEvent.night_id == night.id, NightEvent.kind == BREAK_BEGUN)
        .order_by(NightEvent.at, NightEvent.id)
    ):
        if nurse_id is not None:
            result.setdefault(nurse_id, at)
    return result


def get_job(session: Session, job_id: str) -> Job:
    """A job, or 404."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("no such job")
    return job


def requests_by_id(session: Session, ids: set[int]) -> dict[int, VisitRequest]:
    """Visit requests by id."""
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(VisitRequest).where(VisitRequest.id.in_(ids)))}


def window_seconds(region: Region, night: Night, start: str, end: str) -> tuple[int, int]:
    """A wall-clock window as seconds in the night; 422 naming ``body.window.start`` or
    ``body.window.end`` and what is wrong: before the night, after it, or ending before it
    starts (``03:00-02:30``: both inside the night, but the end is first)."""
    begin, finish = clock_to_seconds(region, night, start), clock_to_seconds(region, night, end)
    night_text = f"{region.night_start}-{region.night_end}"
    errors = []
    if not 0 <= begin <= horizon(night):
        errors.append(("body.window.start", f"{start} is outside the night ({night_text})"))
    if not 0 <= finish <= horizon(night):
        errors.append(("body.window.end", f"{end} is outside the night ({night_text})"))
    if not errors and finish < begin:
        errors.append(
            (
                "body.window.end",
                f"{end} is before the window's start {start} (times before noon are the "
                "next morning)",
            )
        )
    if errors:
        raise Unprocessable(
            f"window {start}-{end}: " + "; ".join(message for _, message in errors),
            extra={
                "errors": [
                    {"field": field, "message": message, "code": "window"}
                    for field, message in errors
                ]
            },
        )
    return begin, finish


# ----------------------------------------------------------------- durable re-plans


def mark_replan_needed(session: Session, night: Night, *, reason: str) -> None:
    """Record that ``night`` needs a re-plan, in the caller's transaction (not committed).

    Committed together with the change that calls for it, so an accepted change is never
    without its re-plan: a crash after the commit leaves it pending for the worker.
    """
    session.execute(
        update(Night)
        .where(Night.id == night.id)
        .values(replan_requested=Night.replan_requested + 1, replan_reason=reason[:40])
        .execution_options(synchronize_session=False)
    )


def pending_replans(session: Session) -> list[int]:
    """Ids of the nights with a re-plan still owed, oldest night first."""
    return list(
        session.scalars(
            select(Night.id)
            .where(Night.replan_requested > Night.replan_done)
            .order_by(Night.night_date)
        )
    )
