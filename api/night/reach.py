"""Whose phone the service can reach: a nurse only does what her phone has shown her.

A live re-plan takes the stored plan as followed (`optimizer.live.state_at`): at its times
each nurse is on her way to, or at, her next visit. That holds for what her phone has shown
her. A call put on her route while her phone has no signal is not: she goes by the route she
has, and the call waits until her phone is back (issue 11's simulated nights: an acute call
given at 00:39 to a nurse whose phone was offline from 00:30, the service taking her as on
her way, on site at 01:38).

What her phone has shown her is in the NEN 7513 access log: every route content a phone
reads is logged there, one row per client it shows (`DbMobileBackend.my_route`), at the
service's clock. A route of hers (with an open visit on it) published
`SILENT_AFTER_SECONDS` ago, and no route read since, means her phone is not picking up her
route (it polls about once a minute and is told of a change at once). Such a nurse is
*silent*: the visits she has not seen are taken off her route as followed (she is not on
her way to them) and nothing new is given to her (`Visit.not_by`) until her phone reads her
route again. What she has seen stays hers: she is doing it. (Issue 11's night 6 of seed
11: planned care moved to a nurse offline for an hour, left out as its window passed.)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.models import AccessLogEntry, Night, RouteVersion, User
from api.db.models import Visit as VisitRow
from api.db.phone_models import PhoneDevice
from api.night.stored import stored_steps, visit_ids_of
from optimizer import model as om
from optimizer.plan import Plan, StepType

__all__ = [
    "SILENT_AFTER_SECONDS",
    "Heard",
    "Reach",
    "Silence",
    "phone_reach",
    "silence_of",
    "silences",
    "silent_nurse_warning",
    "was_silent",
]

#: A route change her phone has not picked up this long after it was published: her phone
#: is not heard (it polls about once a minute and is sent a notice of each change).
SILENT_AFTER_SECONDS = 180

#: How long before the night's start a route read counts (the evening's plan is published
#: and read before 23:00).
EVENING = timedelta(hours=12)

#: The access-log purpose of a phone's route read (`DbMobileBackend.my_route`).
ROUTE_READ = "nurse route"


@dataclass(frozen=True, slots=True)
class Silence:
    """Why a nurse counts as silent: ``since`` the moment she became so (the first route she
    has not picked up, `SILENT_AFTER_SECONDS` after it was published) and ``heard_at``, when
    her phone was last heard (its last route read, or its registration)."""

    since: datetime
    heard_at: datetime


@dataclass(frozen=True)
class Reach:
    """Silent nurses (codes) and, per silent nurse, the visits on her route she has not seen
    (visit refs) and since when she is silent (`Silence`)."""

    unseen: dict[str, frozenset[str]] = field(default_factory=dict)
    silences: dict[str, Silence] = field(default_factory=dict)

    @property
    def silent(self) -> frozenset[str]:
        return frozenset(self.unseen)

    def followed(self, plan: Plan | None) -> Plan | None:
        """``plan`` without the visits each silent nurse has not seen: she is not doing them."""
        if plan is None or not self.unseen:
            return plan
        routes = []
        for route in plan.routes:
            gone = self.unseen.get(route.nurse_id)
            if gone:
                steps = [
                    s for s in route.steps if not (s.type == StepType.VISIT and s.visit_id in gone)
                ]
                route = route.model_copy(update={"steps": steps})
            routes.append(route)
        return plan.model_copy(update={"routes": routes})

    def problem(self, problem: om.Problem, plan: Plan | None) -> om.Problem:
        """``problem`` with nothing new for a silent nurse: every open visit not on her route
        as she has seen it (``plan``, already `followed`) may not be given to her."""
        if not self.unseen:
            return problem
        hers: dict[str, set[str]] = {code: set() for code in self.unseen}
        for route in plan.routes if plan is not None else []:
            if route.nurse_id in hers:
                hers[route.nurse_id] |= {s.visit_id for s in route.steps if s.visit_id}
        visits = []
        for visit in problem.visits:
            # A visit the planner pinned to her stays open to her: she was reached by other
            # means (R21B-07: the pin barred her and the call was left out, nobody sent).
            pinned = visit.pin.nurse if visit.pin is not None else None
            barred = frozenset(
                code
                for code in self.unseen
                if visit.id not in hers[code]
                and code not in visit.assigned_nurses
                and code != pinned
            )
            if barred and not visit.is_locked:
                visit = visit.model_copy(update={"not_by": visit.not_by | barred})
            visits.append(visit)
        return problem.model_copy(update={"visits": visits})


def phone_reach(
    session: Session,
    night: Night,
    plan: Plan | None,
    *,
    nurse_ids: dict[str, int],
    visit_rows: dict[str, VisitRow],
    now: datetime,
) -> Reach:
    """Who is silent at ``now``, and which visits on her route in ``plan`` (the stored plan)
    she has not seen.

    A visit is *known* to a nurse once her phone has read a route showing its client: since
    the call came in for a call, since the evening for planned care. Who is silent is
    `silences`' rule (the one `silence_of` answers by, for the 409 ``nurse-silent``).
    ``nurse_ids``: code -> nurse id; ``visit_rows``: visit ref -> its row."""
    since = night.starts_at - EVENING
    known_after = {
        row.id: night.starts_at + timedelta(seconds=row.call_time)
        if row.call_time is not None
        else since
        for row in visit_rows.values()
        if row.status == "open"
    }
    if not known_after or not nurse_ids:
        return Reach()
    client_of = {row.id: row.client_id for row in visit_rows.values()}
    code_of = {nurse_id: code for code, nurse_id in nurse_ids.items()}
    heard = silences(session, night, code_of, set(known_after), now)

    def known(nurse_id: int, visit_id: int) -> bool:
        seen = heard.reads.get((nurse_id, client_of[visit_id]))
        return seen is not None and seen >= known_after[visit_id]

    unseen: dict[str, frozenset[str]] = {}
    for nurse_id in heard.silent:
        code = code_of[nurse_id]
        mine = [
            step.visit_id
            for route in (plan.routes if plan is not None else [])
            if route.nurse_id == code
            for step in route.steps
            if step.visit_id in visit_rows
            and visit_rows[step.visit_id].id in known_after
            and not known(nurse_id, visit_rows[step.visit_id].id)
        ]
        unseen[code] = frozenset(mine)
    return Reach(unseen, {code_of[n]: silence for n, silence in heard.silent.items()})


@dataclass(frozen=True)
class Heard:
    """What the phones of some nurses have shown them (`silences`): ``silent``, nurse id ->
    `Silence` for each silent one; ``reads``, (nurse id, client id) -> her phone's latest
    route read showing that client."""

    silent: dict[int, Silence]
    reads: dict[tuple[int, int], datetime]


def silences(
    session: Session, night: Night, nurse_ids: Collection[int], open_ids: set[int], now: datetime
) -> Heard:
    """The silent-phone rule, the one query path of the board (`phone_reach`) and of the 409
    ``nurse-silent`` refusal (`silence_of`), so the two never disagree.

    A nurse is silent at ``now`` when a route of hers with an open visit on it (read, it logs
    a row per client) was published `SILENT_AFTER_SECONDS` or more ago (counted from the
    night's start at the earliest) and her phone has read no route since; she stays silent
    after the visit has gone to a colleague, until her phone is back (heard from: her phone's
    last route read, or its registration). A nurse with no registered phone is not judged
    (the planner reaches her by other means). ``nurse_ids``: the nurses (ids) to judge;
    ``open_ids``: the night's open visits (ids)."""
    if not nurse_ids or not open_ids:
        return Heard({}, {})
    users: dict[int, int] = {
        user_id: nurse_id
        for user_id, nurse_id in session.execute(
            select(User.id, User.nurse_id).where(User.nurse_id.in_(list(nurse_ids)))
        ).tuples()
        if nurse_id is not None
    }
    reads: dict[tuple[int, int], datetime] = {}  # (nurse id, client id) -> latest read
    last_read: dict[int, datetime] = {}
    for user_id, client_id, at in session.execute(
        select(AccessLogEntry.user_id, AccessLogEntry.client_id, func.max(AccessLogEntry.at))
        .where(
            AccessLogEntry.purpose == ROUTE_READ,
            AccessLogEntry.event == "read",
            AccessLogEntry.user_id.in_(list(users)),
            AccessLogEntry.at >= night.starts_at - EVENING,
        )
        .group_by(AccessLogEntry.user_id, AccessLogEntry.client_id)
    ).tuples():
        if user_id is None:
            continue
        nurse_id = users[user_id]
        # A read of a route showing no client logs one row naming none: heard all the same
        # (else a phone back on line reading the empty route left it stayed silent all night).
        if client_id is not None:
            reads[(nurse_id, client_id)] = at
        last_read[nurse_id] = max(at, last_read.get(nurse_id, at))
    # Judged: a nurse with a registered phone, heard from when it last read a route (or was
    # registered); a nurse without one is reached by the planner, not judged here.
    heard: dict[int, datetime] = {}
    for nurse_id, registered in session.execute(
        select(PhoneDevice.nurse_id, func.max(PhoneDevice.registered_at))
        .where(PhoneDevice.nurse_id.in_(list(nurse_ids)), PhoneDevice.revoked_at.is_(None))
        .group_by(PhoneDevice.nurse_id)
    ).tuples():
        heard[nurse_id] = max(registered, last_read.get(nurse_id, registered))
    if not heard:
        return Heard({}, reads)
    missed: dict[int, datetime] = {}  # nurse id -> first route published since she was heard
    for nurse_id, published_at, steps in session.execute(
        select(RouteVersion.nurse_id, RouteVersion.published_at, RouteVersion.steps)
        .where(
            RouteVersion.night_id == night.id,
            RouteVersion.nurse_id.in_(list(heard)),
            RouteVersion.published_at > min(heard.values()),
        )
        .order_by(RouteVersion.published_at)
    ).tuples():
        if published_at is None or published_at <= heard[nurse_id] or nurse_id in missed:
            continue
        if open_ids.intersection(visit_ids_of(stored_steps(steps))):
            missed[nurse_id] = published_at
    silent: dict[int, Silence] = {}
    for nurse_id, published in missed.items():
        since = _judged_from(night, published) + timedelta(seconds=SILENT_AFTER_SECONDS)
        if now >= since:
            silent[nurse_id] = Silence(since=since, heard_at=heard[nurse_id])
    return Heard(silent, reads)


def _judged_from(night: Night, published_at: datetime) -> datetime:
    """When a route published at ``published_at`` starts to count as not picked up: not
    before the night starts. In the evening the nurses are off duty, their phones may be
    off; judged silent then, every hand move of the evening was 409 nurse-silent and every
    evening re-plan took their care off them as not seen (R22B-03)."""
    return max(published_at, night.starts_at)


def was_silent(session: Session, night: Night, nurse_id: int, now: datetime) -> bool:
    """Whether the nurse's phone, reading its route at ``now`` (before the read is logged),
    had been silent (`silences`' rule): a route of hers with an open visit on it was
    published `SILENT_AFTER_SECONDS` or more ago and her phone had read none since. Her
    care was then taken off her, and nothing else re-plans when her phone is back: the
    caller asks for a re-plan (with every phone silent, the night's care waited all night)."""
    return silence_of(session, night, nurse_id, now) is not None


def silence_of(session: Session, night: Night, nurse_id: int, now: datetime) -> Silence | None:
    """The nurse's `Silence` at ``now`` by `silences`' rule (the board's), or ``None``: heard,
    or not judged (no registered phone)."""
    open_ids = set(
        session.scalars(
            select(VisitRow.id).where(VisitRow.night_id == night.id, VisitRow.status == "open")
        )
    )
    return silences(session, night, [nurse_id], open_ids, now).silent.get(nurse_id)


def silent_nurse_warning(code: str, silence: Silence, *, pinned: bool) -> str:
    """What a planner is told when she gives care to a silent nurse (a hand move, a pin, an
    urgent call given to her): her phone will not show it, and what re-plans do with it."""
    heard = silence.heard_at.astimezone(UTC).strftime("%H:%M UTC")
    told = (
        "pinned, it stays with her: make sure she knows by other means"
        if pinned
        else "not pinned, the next re-plan gives it to a nurse who can be reached "
        "(pin it to keep it with her)"
    )
    return (
        f"nurse {code}'s phone has not picked up her route since it was last heard at "
        f"{heard}; she will not see this on her phone: {told}"
    )
