"""The phone's night: my route from the published plan, events in, reveal facts, notices.

Pure contract models go out (`mobile_contract`); the database rows come from the service's
repositories. The route never carries a key-safe code: only whether a key safe is present.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.problems import ProblemError
from api.db.models import Client, Night, Nurse, Region, RouteVersion, Shift, Visit
from api.keysafe import Assignment, RevealFacts, distance_metres, effective_visit_end
from api.nightbag import materials_to_take, remaining, shortages
from api.offline_events import ShiftState, apply_batch, derive_state
from api.repositories import nights
from api.repositories import phone as repo
from api.services.live import replan_now
from mobile_contract._base import ItemQuantity, UtcWindow
from mobile_contract.bag import BagTemplate
from mobile_contract.events import (
    CouldNotGetInEvent,
    CouldNotGetInReason,
    DelayedEvent,
    Event,
    EventOutcome,
    EventResult,
    NeedsBackupEvent,
    RejectReason,
    ShiftStartEvent,
)
from mobile_contract.polyline import encode
from mobile_contract.route import (
    Access,
    Address,
    BreakStep,
    ClientAtTheDoor,
    EndStep,
    Leg,
    MyRoute,
    RestockStep,
    RouteChangedNotice,
    RouteChangeReason,
    RouteSummary,
    StartStep,
    Task,
    VisitProgress,
    VisitStep,
)

__all__ = [
    "NurseNight",
    "build_route",
    "nurse_night",
    "process_events",
    "reveal_facts",
    "route_notices",
    "shift_state",
]

logger = logging.getLogger("nachtroute.phone")

#: Straight-line distance times this is the road distance estimate (until geo is wired in).
_DETOUR = 1.3


@dataclass
class NurseNight:
    """A nurse's night: the night row, her shift, and her newest published route (if any)."""

    region: Region
    night: Night
    nurse: Nurse
    shift: Shift
    route: RouteVersion | None


def nurse_night(session: Session, region: Region, nurse: Nurse, now: datetime) -> NurseNight | None:
    """The night ``now`` belongs to, if the nurse is on shift in it and it was opened."""
    night = nights.get_night(session, region, nights.night_date_for(region, now))
    if night is None:
        return None
    shift = next((s for n, s in nights.shifts_of(session, night) if n.id == nurse.id), None)
    if shift is None:
        return None
    route = nights.latest_published_route(session, night, nurse.id)
    return NurseNight(region=region, night=night, nurse=nurse, shift=shift, route=route)


def _at(night: Night, seconds: int) -> datetime:
    # Elapsed seconds: UTC arithmetic, right across a DST change.
    return night.starts_at.astimezone(UTC) + timedelta(seconds=seconds)


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def _address(client: Client) -> Address:
    """``"Street 12a, City"`` split into the contract's parts (the service stores one line)."""
    line, _, city = client.address.partition(",")
    street, _, number = line.strip().rpartition(" ")
    if not street or not any(ch.isdigit() for ch in number):
        street, number = line.strip(), ""
    return Address(
        street=street[:120],
        house_number=number[:20],
        postcode="",
        city=city.strip()[:80],
        location=(client.lon, client.lat),
    )


_DB_PROGRESS = {
    "started": VisitProgress.STARTED,
    "done": VisitProgress.COMPLETED,
    "could_not_get_in": VisitProgress.COULD_NOT_GET_IN,
}
_PROGRESS_RANK = {
    VisitProgress.PLANNED: 0,
    VisitProgress.EN_ROUTE: 1,
    VisitProgress.ARRIVED: 2,
    VisitProgress.COULD_NOT_GET_IN: 3,
    VisitProgress.STARTED: 4,
    VisitProgress.COMPLETED: 5,
}


def _travel_seconds(session: Session, nn: NurseNight) -> list[int] | None:
    """Per step, the drive to it, from the plan the route was made from (None if unknown)."""
    assert nn.route is not None
    try:
        stored = nights.get_plan_version(session, nn.night, nn.route.plan_version)
    except ProblemError:
        return None
    for route in stored.plan.get("routes", []):
        if route.get("nurse_id") == nn.nurse.code:
            steps = route.get("steps", [])
            if len(steps) == len(nn.route.steps):
                return [int(s.get("travel_seconds", 0)) for s in steps]
    return None


def build_route(
    session: Session,
    nn: NurseNight,
    template: BagTemplate,
    state: ShiftState,
    *,
    now: datetime,
) -> tuple[MyRoute, list[Client]]:
    """The nurse's published route as the phone shows it, and the clients it shows."""
    assert nn.route is not None
    night, region = nn.night, nn.region
    base = (region.base_lon, region.base_lat)
    raw: list[dict[str, Any]] = list(nn.route.steps)
    visit_ids = [int(s["visit_id"]) for s in raw if s.get("visit_id") is not None]
    visits = (
        {v.id: v for v in session.scalars(select(Visit).where(Visit.id.in_(visit_ids)))}
        if visit_ids
        else {}
    )
    clients = (
        {
            c.id: c
            for c in session.scalars(
                select(Client).where(Client.id.in_({v.client_id for v in visits.values()}))
            )
        }
        if visits
        else {}
    )
    requests = nights.requests_by_id(session, {v.request_id for v in visits.values()})
    partners = _colleagues(session, nn, set(visit_ids))
    travel = _travel_seconds(session, nn)
    bag_now = remaining(template, state)

    steps: list[Any] = []
    shown: list[Client] = []
    previous: tuple[float, float] | None = None
    total_distance, total_travel = 0.0, 0
    for index, step in enumerate(raw):
        kind = step["type"]
        visit = visits.get(int(step["visit_id"])) if step.get("visit_id") is not None else None
        client = clients.get(visit.client_id) if visit is not None else None
        location: tuple[float, float] | None
        if kind == "visit" and client is not None:
            location = (client.lon, client.lat)
        elif kind == "break":
            location = None
        else:
            location = base
        leg = None
        if index > 0:
            here = location or previous
            metres = _haversine(previous, here) * _DETOUR if previous and here else 0.0
            seconds = travel[index] if travel is not None else 0
            points = [previous, here] if previous and here and previous != here else []
            leg = Leg(
                distance_metres=round(metres, 1),
                travel_seconds=max(0, seconds),
                polyline=encode(points),
            )
            total_distance += leg.distance_metres
            total_travel += leg.travel_seconds
        times = {
            "eta": _at(night, int(step["arrival"])),
            "start": _at(night, int(step["start"])),
            "end": _at(night, int(step["end"])),
            "leg": leg,
        }
        if kind == "visit" and visit is not None and client is not None:
            shown.append(client)
            request = requests.get(visit.request_id)
            task = request.care_task if request is not None else "visit"
            progress = _DB_PROGRESS.get(visit.status, VisitProgress.PLANNED)
            record = state.visits.get(str(visit.id))
            if record is not None and _PROGRESS_RANK[record.progress] > _PROGRESS_RANK[progress]:
                progress = record.progress
            window = None
            if visit.window_start is not None and visit.window_end is not None:
                window = UtcWindow(
                    start=_at(night, visit.window_start), end=_at(night, visit.window_end)
                )
            steps.append(
                VisitStep(
                    **times,
                    visit_id=str(visit.id),
                    client=ClientAtTheDoor(display_name=client.display_name[:80]),
                    address=_address(client),
                    access=Access(
                        instructions=client.access_instructions[:500],
                        key_safe_present=client.key_safe_present,
                    ),
                    window=window,
                    urgency=visit.urgency,
                    service_seconds=visit.service_seconds,
                    tasks=[Task(task_id=task, label=task.replace("_", " "))],
                    materials=materials_to_take(template, repo.CARE_TASK_MATERIALS.get(task, {})),
                    with_nurse=partners.get(visit.id),
                    progress=progress,
                )
            )
        elif kind == "break":
            steps.append(BreakStep(**times, location=None))
        elif kind == "restock":
            items = [
                ItemQuantity(item_id=item.item_id, quantity=item.full - bag_now[item.item_id])
                for item in template.items
                if bag_now[item.item_id] < item.full
            ]
            steps.append(RestockStep(**times, location=base, items=items))
        elif kind == "start":
            steps.append(StartStep(**times, location=base))
        elif kind == "end":
            steps.append(EndStep(**times, location=base))
        else:
            continue  # a visit cancelled since: the next version drops it
        if location is not None:
            previous = location
    shift_start = nights.clock_to_seconds(region, night, nn.shift.start)
    shift_end = max(shift_start, nights.clock_to_seconds(region, night, nn.shift.end))
    route = MyRoute(
        nurse_id=nn.nurse.code,
        shift_id=str(nn.shift.id),
        version=nn.route.version,
        generated_at=now,
        shift=UtcWindow(start=_at(night, shift_start), end=_at(night, shift_end)),
        steps=steps,
        summary=RouteSummary(
            visit_count=sum(1 for s in steps if isinstance(s, VisitStep)),
            distance_metres=round(total_distance, 1),
            travel_seconds=total_travel,
        ),
    )
    return route, shown


def _colleagues(session: Session, nn: NurseNight, visit_ids: set[int]) -> dict[int, str]:
    """Two-person visits: visit id -> the colleague's display name."""
    found: dict[int, str] = {}
    for nurse, _shift in nights.shifts_of(session, nn.night):
        if nurse.id == nn.nurse.id:
            continue
        route = nights.latest_published_route(session, nn.night, nurse.id)
        for step in route.steps if route is not None else ():
            if step.get("visit_id") in visit_ids:
                found.setdefault(int(step["visit_id"]), nurse.display_name[:80])
    return found


# ----------------------------------------------------------------- events


def shift_state(session: Session, nn: NurseNight) -> ShiftState:
    """The nurse's shift as her stored events tell it."""
    store = repo.SqlEventStore(session, nn.night.id)
    return derive_state(store.for_shift(str(nn.nurse.id), str(nn.night.id)))


def _my_visits(session: Session, nn: NurseNight) -> set[int]:
    """Every visit on any of her route versions tonight (what she did there stays hers)."""
    found: set[int] = set()
    for steps in session.scalars(
        select(RouteVersion.steps).where(
            RouteVersion.night_id == nn.night.id, RouteVersion.nurse_id == nn.nurse.id
        )
    ):
        found.update(int(s["visit_id"]) for s in steps if s.get("visit_id") is not None)
    return found


_DB_RANK = {"open": 0, "could_not_get_in": 1, "started": 2, "done": 3}
_TARGET = {
    VisitProgress.STARTED: "started",
    VisitProgress.COMPLETED: "done",
    VisitProgress.COULD_NOT_GET_IN: "could_not_get_in",
}


def process_events(
    session: Session,
    nn: NurseNight,
    events: Sequence[tuple[int, Event]],
    *,
    device_id: str,
    template: BagTemplate,
    now: datetime,
    settings: Settings,
) -> list[EventResult]:
    """Store a batch once per event, bring the visits up to date, and re-plan if they moved.

    The visits' state comes from replaying every stored event, so repeats and arrival
    order change nothing; a visit's status only moves forward.
    """
    night = nn.night
    mine = _my_visits(session, nn)

    def check(visit_id: str) -> RejectReason | None:
        if not visit_id.isdigit() or len(visit_id) > 9:
            return RejectReason.UNKNOWN_VISIT
        visit = session.get(Visit, int(visit_id))
        if visit is None or visit.night_id != night.id:
            return RejectReason.UNKNOWN_VISIT
        if visit.id not in mine and visit.done_by_nurse_id != nn.nurse.id:
            return RejectReason.NOT_YOUR_VISIT
        return None

    store = repo.SqlEventStore(session, night.id)
    results = apply_batch(
        store,
        events,
        nurse_id=str(nn.nurse.id),
        device_id=device_id,
        shift_id=str(night.id),
        received_at=now,
        check_visit=check,
    )
    accepted = {r.index for r in results if r.outcome == EventOutcome.ACCEPTED}
    new_events = [event for index, event in events if index in accepted]
    state = derive_state(store.for_shift(str(nn.nurse.id), str(night.id)))
    moved = _bring_visits_up_to_date(session, nn, state, now=now)
    reported = _record_new_events(session, nn, new_events, template, now=now)
    session.commit()
    if moved or reported:
        _replan(
            session,
            nn,
            reason=moved[0] if moved else reported[0],
            now=now,
            settings=settings,
        )
    return results


def _bring_visits_up_to_date(
    session: Session, nn: NurseNight, state: ShiftState, *, now: datetime
) -> list[str]:
    """Move each visit's status forward to what the events say; the kinds of the moves."""
    moves: list[str] = []
    for visit_id, record in state.visits.items():
        target = _TARGET.get(record.progress)
        if target is None:
            continue
        visit = session.get(Visit, int(visit_id))
        if visit is None or visit.status not in _DB_RANK:
            continue  # cancelled meanwhile: history only
        if _DB_RANK[target] <= _DB_RANK[visit.status]:
            continue
        at = record.completed_at or record.started_at or record.arrived_at or now
        if target in ("started", "done"):
            visit.done_by_nurse_id = nn.nurse.id
            if visit.started_at is None:
                visit.started_at = _began(nn.night, record, visit.service_seconds)
        visit.status = target
        nights.add_event(
            session, nn.night, kind=target, at=at, nurse_id=nn.nurse.id, visit_id=visit.id
        )
        moves.append(f"phone: {target}")
    return moves


def _began(night: Night, record: Any, service_seconds: int) -> int | None:
    """When care began, in seconds of the night, kept inside the night (a phone's clock
    can be far off)."""
    if record.started_at is not None:
        moment = nights.seconds_since_start(night, record.started_at)
    elif record.completed_at is not None:
        moment = nights.seconds_since_start(night, record.completed_at) - service_seconds
    else:
        return None
    return min(max(0, moment), nights.horizon(night))


def _record_new_events(
    session: Session,
    nn: NurseNight,
    new_events: Iterable[Event],
    template: BagTemplate,
    *,
    now: datetime,
) -> list[str]:
    """Night events the planner sees (back-up calls, delays, bag shortages); flag key-safe
    codes. What calls for a re-plan, as re-plan reasons."""
    replan_for: list[str] = []
    for event in new_events:
        if isinstance(event, NeedsBackupEvent):
            visit_id = int(event.visit_id) if event.visit_id and event.visit_id.isdigit() else None
            nights.add_event(
                session,
                nn.night,
                kind="needs_backup",
                at=event.device_time,
                nurse_id=nn.nurse.id,
                visit_id=visit_id,
            )
            replan_for.append("phone: needs back-up")
        elif isinstance(event, DelayedEvent):
            # Free again delay_minutes after she said so (a phone clock ahead counts as now).
            nights.add_event(
                session,
                nn.night,
                kind="delayed",
                at=min(event.device_time, now),
                nurse_id=nn.nurse.id,
                delay_minutes=event.delay_minutes,
            )
            replan_for.append("phone: delayed")
        elif isinstance(event, ShiftStartEvent):
            counted = {line.item_id: line.quantity for line in event.bag_check.counted}
            if shortages(template, counted):
                nights.add_event(
                    session,
                    nn.night,
                    kind="bag_shortage",
                    at=event.device_time,
                    nurse_id=nn.nurse.id,
                )
        elif (
            isinstance(event, CouldNotGetInEvent)
            and event.reason == CouldNotGetInReason.KEY_SAFE_CODE_WRONG
        ):
            visit = session.get(Visit, int(event.visit_id))
            if visit is not None:
                repo.flag_code(session, visit.client_id, now=now)
    return replan_for


def _replan(
    session: Session, nn: NurseNight, *, reason: str, now: datetime, settings: Settings
) -> None:
    """The live re-plan from the night as it now stands (skipped outside the night)."""
    moment = nights.seconds_since_start(nn.night, now)
    if nn.night.plan_version == 0 or not 0 <= moment < nights.horizon(nn.night):
        return
    try:
        replan_now(session, nn.region, nn.night, reason=reason[:40], now=now, settings=settings)
    except Exception as error:  # the events are stored whatever happens here
        # The planner's next re-plan picks them up; the phone must not resend for this.
        session.rollback()
        logger.warning("live re-plan after phone events failed: %s", type(error).__name__)


# ----------------------------------------------------------------- key-safe reveal


def reveal_facts(
    session: Session,
    nn: NurseNight | None,
    nurse: Nurse,
    visit: Visit | None,
    client: Client | None,
    *,
    device_id: str,
    registered: Any,
    position: tuple[float, float] | None,
    accuracy_metres: float | None,
    now: datetime,
) -> RevealFacts:
    """What the reveal rules need, from tonight's published routes and the nurse's phone."""
    revoked = registered is not None and registered.id == device_id and registered.revoked_at
    registered_id = registered.id if registered is not None else None
    assignment = None
    eta, planned_end = now, now
    if nn is not None and visit is not None and client is not None:
        assigned: set[str] = set()
        for other, _shift in nights.shifts_of(session, nn.night):
            route = nights.latest_published_route(session, nn.night, other.id)
            for step in route.steps if route is not None else ():
                if step.get("visit_id") == visit.id:
                    assigned.add(other.code)
                    if other.id == nurse.id:
                        eta = _at(nn.night, int(step["arrival"]))
                        planned_end = _at(nn.night, int(step["end"]))
        assignment = Assignment(
            visit_id=str(visit.id),
            client_id=str(client.id),
            nurse_ids=frozenset(assigned),
            key_safe_present=client.key_safe_present,
        )
    completed_at = None
    if nn is not None and visit is not None:
        record = shift_state(session, nn).visits.get(str(visit.id))
        completed_at = record.completed_at if record is not None else None
        if completed_at is None and visit.status == "done":
            completed_at = planned_end
    end = effective_visit_end(
        planned_end=planned_end,
        started=visit is not None and visit.status == "started",
        completed_at=completed_at,
        now=now,
    )
    distance = None
    if position is not None and client is not None:
        distance = distance_metres(
            position, (client.lon, client.lat), accuracy_metres=accuracy_metres
        )
    return RevealFacts(
        assignment=assignment,
        eta=eta,
        visit_end=end,
        registered_device=registered_id,
        revoked=bool(revoked),
        distance_m=distance,
    )


# ----------------------------------------------------------------- route-changed notices


def route_notices(session: Session, night: Night, nurse: Nurse) -> list[RouteChangedNotice]:
    """One notice per published route version of the nurse tonight; ``event_id`` is the row id."""
    rows = session.scalars(
        select(RouteVersion)
        .where(
            RouteVersion.night_id == night.id,
            RouteVersion.nurse_id == nurse.id,
            RouteVersion.published_at.is_not(None),
        )
        .order_by(RouteVersion.id)
    )
    notices: list[RouteChangedNotice] = []
    before: list[int] | None = None
    for row in rows:
        stops = [int(s["visit_id"]) for s in row.steps if s.get("visit_id") is not None]
        reason, changed = _change(before, stops)
        assert row.published_at is not None
        notices.append(
            RouteChangedNotice(
                event_id=row.id,
                nurse_id=nurse.code,
                route_version=row.version,
                changed_at=row.published_at,
                reason=reason,
                visit_ids=[str(v) for v in changed],
            )
        )
        before = stops
    return notices


def _change(before: list[int] | None, after: list[int]) -> tuple[RouteChangeReason, list[int]]:
    if before is None:
        return RouteChangeReason.REPLANNED, []
    added, removed = set(after) - set(before), set(before) - set(after)
    if added and not removed:
        return RouteChangeReason.VISIT_ADDED, sorted(added)
    if removed and not added:
        return RouteChangeReason.VISIT_REMOVED, sorted(removed)
    if not added and not removed and before != after:
        moved = [v for i, v in enumerate(after) if i >= len(before) or before[i] != v]
        return RouteChangeReason.VISIT_MOVED, moved
    return RouteChangeReason.REPLANNED, sorted(added | removed)
