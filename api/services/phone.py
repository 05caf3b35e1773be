"""The phone's night: my route from the published plan, events in, reveal facts, notices.

Pure contract models go out (`mobile_contract`); the database rows come from the service's
repositories. The route never carries a key-safe code: only whether a key safe is present.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from api.core.config import Settings
from api.core.problems import ProblemError
from api.db.models import (
    Client,
    Night,
    NightEvent,
    Nurse,
    Region,
    RouteVersion,
    Shift,
    Visit,
    VisitRequest,
)
from api.keysafe import Assignment, RevealFacts, distance_metres, effective_visit_end
from api.night.authority import (
    is_hers,
    moved_away_known,
    visits_now_of_nurse,
    visits_of_nurse,
)
from api.night.device_time import batch_offsets, corrected_time, device_moment
from api.night.stored import StoredStep, plan_of, route_of, stored_steps, visit_ids_of
from api.night.visit_states import (
    PROGRESS_RANK,
    PROGRESS_STATUS,
    STATUS_PROGRESS,
    Decision,
    VisitStatus,
    change_visit,
    decide,
)
from api.nightbag import materials_to_take, remaining, shortages
from api.offline_events import ShiftState, VisitRecord, apply_batch, derive_state
from api.repositories import nights
from api.repositories import phone as repo
from api.services import live
from api.services.legs import leg_points
from api.services.live import ReplanWorker
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
    PositionEvent,
    RejectReason,
    ShiftStartEvent,
    VisitCompletedEvent,
    VisitStartedEvent,
)
from mobile_contract.polyline import encode
from mobile_contract.route import (
    Access,
    Address,
    BreakStep,
    ClientAtTheDoor,
    EndStep,
    Leg,
    LinkedVisit,
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
    "cached_route",
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
    return nurse_night_of(session, region, nurse, nights.night_date_for(region, now))


def nurse_night_of(
    session: Session, region: Region, nurse: Nurse, night_date: date
) -> NurseNight | None:
    """The night of ``night_date``, if the nurse is on shift in it and it was opened."""
    if not nurse.active:
        return None
    found = nights.night_shift_and_route(session, region, nurse.id, night_date)
    if found is None:
        return None
    night, shift, route = found
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


@dataclass(frozen=True)
class _Planned:
    """A route step as the plan it was made from has it: the drive to it (seconds) and its
    place (the plan's location index: the same index is the same place)."""

    travel_seconds: int
    location: int


#: Per published route version (immutable, fixed by its plan version): the drive to each
#: step and its place. Filled on the first read, so a phone's poll does not load the
#: night's whole plan.
_TRAVEL_CACHE: dict[tuple[object, ...], list[_Planned] | None] = {}
_TRAVEL_CACHE_SIZE = 512


def _planned_steps(session: Session, nn: NurseNight) -> list[_Planned] | None:
    """Per step, the drive to it and its place, from the plan the route was made from
    (None if unknown)."""
    assert nn.route is not None
    # The database, the row and when it was written: a row id alone repeats across databases.
    key = (
        str(session.get_bind().engine.url),
        nn.route.id,
        nn.route.plan_version,
        nn.route.created_at,
    )
    if key in _TRAVEL_CACHE:
        return _TRAVEL_CACHE[key]
    found: list[_Planned] | None = None
    try:
        stored = nights.get_plan_version(session, nn.night, nn.route.plan_version)
    except ProblemError:
        return None
    for route in plan_of(stored).routes:
        if route.nurse_id == nn.nurse.code:
            if len(route.steps) == len(nn.route.steps):
                found = [_Planned(step.travel_seconds, step.location) for step in route.steps]
            break
    if len(_TRAVEL_CACHE) >= _TRAVEL_CACHE_SIZE:
        _TRAVEL_CACHE.pop(next(iter(_TRAVEL_CACHE)))  # oldest first (insertion order)
    _TRAVEL_CACHE[key] = found
    return found


def _linked_visits(
    session: Session, night: Night, visits: dict[int, Visit], requests: dict[int, VisitRequest]
) -> dict[int, list[LinkedVisit]]:
    """Per visit of the route, tonight's visits it is linked with (issue 13): the visit its
    request follows, and the visits of requests that follow it. One query."""
    if not visits:
        return {}
    mine = {v.request_id: v.id for v in visits.values()}
    wanted = set(mine) | {r.after_request_id for r in requests.values() if r.after_request_id}
    rows = session.execute(
        select(Visit.id, Visit.request_id, VisitRequest)
        .join(VisitRequest, VisitRequest.id == Visit.request_id)
        .where(
            Visit.night_id == night.id,
            (VisitRequest.id.in_(wanted)) | (VisitRequest.after_request_id.in_(set(mine))),
        )
    ).all()
    tonight = {request_id: visit_id for visit_id, request_id, _ in rows}
    result: dict[int, list[LinkedVisit]] = {}
    for visit_id, _, request in rows:
        earlier = tonight.get(request.after_request_id) if request.after_request_id else None
        if earlier is None:
            continue
        low, high = request.after_min_minutes or 0, request.after_max_minutes or 0
        if visit_id in visits:
            result.setdefault(visit_id, []).append(
                LinkedVisit(
                    visit_id=str(earlier), relation="after", min_minutes=low, max_minutes=high
                )
            )
        if earlier in visits:
            result.setdefault(earlier, []).append(
                LinkedVisit(
                    visit_id=str(visit_id), relation="before", min_minutes=low, max_minutes=high
                )
            )
    return result


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
    raw = route_of(nn.route)
    visit_ids = visit_ids_of(raw)
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
    # Only two-person visits have a colleague to name: no query at all for a usual route.
    partners = _colleagues(
        session, nn, {v.id for v in visits.values() if (v.nurses_needed or 1) > 1}
    )
    planned = _planned_steps(session, nn)
    bag_now = remaining(template, state)
    linked = _linked_visits(session, night, visits, requests)

    def place_of(step: StoredStep) -> tuple[float, float] | None:
        """Where the step is: a visit's door, the base, or nowhere of its own (a break, or
        a visit whose client is gone: the route leaves it out)."""
        if step.type == "break":
            return None
        if step.type != "visit":
            return base
        visit = visits.get(step.visit_id) if step.visit_id is not None else None
        client = clients.get(visit.client_id) if visit is not None else None
        return (client.lon, client.lat) if client is not None else None

    # A break is taken wherever she is, but the plan may have her drive to a door first and
    # take it there while she waits: the drive is then the break's and the visit after it
    # has none. Drawn from where she was, that leg read "10 min, 0 km" and the visit's
    # "0 min, 7.8 km". The plan's place index names the door (session 28).
    places: dict[int, tuple[float, float]] = {}
    for step, at in zip(raw, planned or [], strict=False):
        if (spot := place_of(step)) is not None:
            places.setdefault(at.location, spot)

    steps: list[Any] = []
    shown: list[Client] = []
    previous: tuple[float, float] | None = None
    total_distance, total_travel = 0.0, 0
    for index, step in enumerate(raw):
        kind = step.type
        visit = visits.get(step.visit_id) if step.visit_id is not None else None
        client = clients.get(visit.client_id) if visit is not None else None
        location = place_of(step)
        if location is None and planned is not None:
            location = places.get(planned[index].location)
        leg = None
        if index > 0:
            here = location or previous
            seconds = planned[index].travel_seconds if planned is not None else 0
            # Along the roads when the service has a network (the planner's board draws the
            # same lines); otherwise the straight line, its length stretched by the detour.
            points, on_roads = (
                leg_points(previous, here, profile=nn.nurse.profile)
                if previous and here
                else ([], False)
            )
            metres = (
                sum(_haversine(a, b) for a, b in itertools.pairwise(points))
                if on_roads
                else _haversine(previous, here) * _DETOUR
                if previous and here
                else 0.0
            )
            leg = Leg(
                distance_metres=round(metres, 1),
                travel_seconds=max(0, seconds),
                polyline=encode(points),
            )
            total_distance += leg.distance_metres
            total_travel += leg.travel_seconds
        times = {
            "eta": _at(night, step.arrival),
            "start": _at(night, step.start),
            "end": _at(night, step.end),
            "leg": leg,
        }
        if kind == "visit" and visit is not None and client is not None:
            shown.append(client)
            request = requests.get(visit.request_id)
            task = request.care_task if request is not None else "visit"
            progress = STATUS_PROGRESS.get(VisitStatus(visit.status), VisitProgress.PLANNED)
            record = state.visits.get(str(visit.id))
            if record is not None and PROGRESS_RANK[record.progress] > PROGRESS_RANK[progress]:
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
                    linked=linked.get(visit.id, []),
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


#: A built route, its ETag and the clients it shows, per fingerprint of everything it is built
#: from (`route_fingerprint`): a phone polling an unchanged route is answered without
#: loading her events or building the route again.
_ROUTE_CACHE: dict[tuple[object, ...], tuple[MyRoute, str, tuple[int, ...]]] = {}
_ROUTE_CACHE_SIZE = 256


def route_fingerprint(
    session: Session, nn: NurseNight, template: BagTemplate
) -> tuple[object, ...] | None:
    """What the nurse's route as the phone shows it is built from, in two small queries:
    the published route version, her shift, the bag template, her stored events other than
    positions (how many, the newest), and per visit of the route its status, times, task
    and the client's details. ``None`` when it cannot be had this cheaply (a two-person
    visit names a colleague from other nurses' routes): then the route is built.
    """
    assert nn.route is not None
    route_visits = visit_ids_of(route_of(nn.route))
    rows: list[tuple[object, ...]] = []
    events: tuple[int, str | None] | None = None
    if route_visits:
        # Her events' marker rides along (uncorrelated subqueries: computed once), and so
        # does the marker of tonight's visits linked with hers (issue 13): a request
        # linked after one of hers is shown on her step without changing her stops.
        found = session.execute(
            _FINGERPRINT_QUERY,
            {
                "linked_night": nn.night.id,
                "linked_visits": list(route_visits),
                "route_visits": list(route_visits),
                "events_night": nn.night.id,
                "events_nurse": nn.nurse.id,
            },
        )
        all_rows = found.all()
        rows = [tuple(row[:-2]) for row in all_rows]
        if all_rows:
            events = (int(all_rows[0][-2]), all_rows[0][-1])
        if any(int(row[6] or 1) > 1 for row in rows):  # type: ignore[call-overload]
            return None
    if events is None:
        events = repo.SqlEventStore(session, nn.night.id).state_marker(str(nn.nurse.id))
    return (
        str(session.get_bind().engine.url),
        nn.route.id,
        nn.route.created_at,
        nn.night.id,
        (nn.nurse.code, nn.nurse.profile),
        (nn.region.base_lon, nn.region.base_lat, nn.region.timezone),
        (nn.shift.id, nn.shift.start, nn.shift.end),
        template.model_dump_json(),
        events,
        tuple(rows),
    )


def _linked_marker() -> tuple[Any, Any]:
    """How many of tonight's visits are linked with the route's visits (their requests
    follow one of those visits' requests, or are followed by one), and the greatest id
    among them: visits are only added (a cancelled one keeps its row), so the pair changes
    whenever the links `_linked_visits` shows can. Two scalar subqueries, to ride along in
    the route's query, with the parameters ``linked_night`` and ``linked_visits``.

    Built once (aliasing ORM classes costs milliseconds per call, more than the poll).
    """
    other, other_request = aliased(Visit), aliased(VisitRequest)
    mine, my_request = aliased(Visit), aliased(VisitRequest)
    hers = select(mine.request_id).where(mine.id.in_(bindparam("linked_visits", expanding=True)))
    earlier = select(my_request.after_request_id).where(
        my_request.id.in_(hers), my_request.after_request_id.is_not(None)
    )
    linked = (other.night_id == bindparam("linked_night")) & (
        other_request.after_request_id.in_(hers) | other_request.id.in_(earlier)
    )

    def over(column: Any) -> Any:
        return (
            select(column)
            .select_from(other)
            .join(other_request, other_request.id == other.request_id)
            .where(linked)
            .scalar_subquery()
        )

    return over(func.count(other.id)), over(func.max(other.id))


_LINKED_COUNT, _LINKED_GREATEST = _linked_marker()


def _fingerprint_query() -> Any:
    """`route_fingerprint`'s query, built once with its values as parameters (``route_visits``,
    ``linked_night``, ``linked_visits``, ``events_night``, ``events_nurse``): building the
    statement and its cache key on every read was a third of a route read's work in the
    database layer (session 20, a route read's backend at 5.6-7.3 ms of CPU)."""
    count, greatest = repo.state_marker_columns(
        bindparam("events_night"), bindparam("events_nurse")
    )
    return (
        select(
            Visit.id,
            Visit.status,
            Visit.window_start,
            Visit.window_end,
            Visit.urgency,
            Visit.service_seconds,
            Visit.nurses_needed,
            Visit.request_id,
            Client.id,
            Client.display_name,
            Client.address,
            Client.lat,
            Client.lon,
            Client.access_instructions,
            Client.key_safe_present,
            VisitRequest.care_task,
            VisitRequest.after_request_id,
            VisitRequest.after_min_minutes,
            VisitRequest.after_max_minutes,
            _LINKED_COUNT,
            _LINKED_GREATEST,
            count,
            greatest,
        )
        .join(Client, Client.id == Visit.client_id)
        .outerjoin(VisitRequest, VisitRequest.id == Visit.request_id)
        .where(Visit.id.in_(bindparam("route_visits", expanding=True)))
        .order_by(Visit.id)
    )


_FINGERPRINT_QUERY = _fingerprint_query()


def cached_route(
    session: Session,
    nn: NurseNight,
    template: BagTemplate,
    *,
    now: datetime,
    etag_of: Any,
) -> tuple[MyRoute, str, list[int]]:
    """The nurse's route (`build_route`), its ETag (``etag_of(route)``) and the ids of the
    clients it shows, from the cache when nothing it is built from changed
    (`route_fingerprint`); ``generated_at`` is ``now`` either way."""
    key = route_fingerprint(session, nn, template)
    hit = _ROUTE_CACHE.get(key) if key is not None else None
    if hit is not None:
        route, etag, client_ids = hit
        return route.model_copy(update={"generated_at": now}), etag, list(client_ids)
    state = shift_state(session, nn)
    route, clients = build_route(session, nn, template, state, now=now)
    etag = etag_of(route)
    ids = tuple(dict.fromkeys(c.id for c in clients))
    if key is not None:
        if len(_ROUTE_CACHE) >= _ROUTE_CACHE_SIZE:
            _ROUTE_CACHE.pop(next(iter(_ROUTE_CACHE)))  # oldest first (insertion order)
        _ROUTE_CACHE[key] = (route, etag, ids)
    return route, etag, list(ids)


def warm_routes(session: Session, now: datetime, *, etag_of: Any) -> int:
    """Build tonight's published routes into the route cache (`cached_route`); how many.

    Run as the service starts: after a restart in the night every phone reconnects at
    once, and each first read built its route while the others queued behind it (the
    load bench's ``--start together``). Reads nothing personal into any log, writes
    nothing: the access-log rows are written when a phone reads its route.
    """
    region = session.scalars(select(Region).order_by(Region.id).limit(1)).first()
    if region is None:
        return 0
    built = 0
    for nurse in session.scalars(select(Nurse).where(Nurse.active).order_by(Nurse.id)):
        nn = nurse_night(session, region, nurse, now)
        if nn is None or nn.route is None:
            continue
        cached_route(session, nn, repo.bag_template(session, region), now=now, etag_of=etag_of)
        built += 1
    session.rollback()
    return built


def _colleagues(session: Session, nn: NurseNight, visit_ids: set[int]) -> dict[int, str]:
    """Two-person visits: visit id -> the colleague's display name (one query for all)."""
    if not visit_ids:
        return {}
    newest = (
        select(RouteVersion.nurse_id, func.max(RouteVersion.version).label("version"))
        .where(
            RouteVersion.night_id == nn.night.id,
            RouteVersion.nurse_id != nn.nurse.id,
            RouteVersion.published_at.is_not(None),
        )
        .group_by(RouteVersion.nurse_id)
        .subquery()
    )
    rows = session.execute(
        select(Nurse.display_name, RouteVersion.steps)
        .join(
            newest,
            (newest.c.nurse_id == RouteVersion.nurse_id)
            & (newest.c.version == RouteVersion.version),
        )
        .join(Nurse, Nurse.id == RouteVersion.nurse_id)
        .join(Shift, (Shift.nurse_id == Nurse.id) & (Shift.night_date == nn.night.night_date))
        .where(
            RouteVersion.night_id == nn.night.id,
            RouteVersion.published_at.is_not(None),
            Nurse.active,
        )
        .order_by(Nurse.code)
    )
    found: dict[int, str] = {}
    for name, steps in rows.tuples():
        for visit_id in visit_ids_of(stored_steps(steps)):
            if visit_id in visit_ids:
                found.setdefault(visit_id, name[:80])
    return found


# ----------------------------------------------------------------- events


def shift_state(session: Session, nn: NurseNight) -> ShiftState:
    """The nurse's shift as her stored events tell it."""
    store = repo.SqlEventStore(session, nn.night.id)
    return derive_state(store.for_shift(str(nn.nurse.id), str(nn.night.id)))


#: The visit status each kind of phone event asks for (the others move no status).
_EVENT_TARGET: dict[type[Event], VisitStatus] = {
    VisitStartedEvent: VisitStatus.STARTED,
    VisitCompletedEvent: VisitStatus.DONE,
    CouldNotGetInEvent: VisitStatus.COULD_NOT_GET_IN,
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
    replanner: ReplanWorker,
    sent_at: datetime | None = None,
) -> list[EventResult]:
    """Store a batch once per event, bring the visits up to date, and re-plan if they moved
    (the events and the re-plan they call for are committed together).

    The night's rules decide: a visit that is not hers is ``not_your_visit``
    (`api.night.authority`), a change the state machine refuses is ``visit_state``
    (`api.night.visit_states`), and a device time outside the night or ahead of the server's
    clock is clamped with a note in the event's result (`api.night.device_time`). The visits'
    state comes from replaying every stored event, so repeats and arrival order change
    nothing; a visit's status only moves forward. ``sent_at`` (the batch's, by the phone's
    clock) corrects its device times by the phone's clock offset wherever they are used.
    """
    night = nn.night
    tolerance = timedelta(minutes=settings.device_clock_tolerance_minutes)
    store = repo.SqlEventStore(session, night.id)
    # The offset is judged against this phone's previous batch (a late delivery, R21B-08).
    previous = store.last_clock(str(nn.nurse.id), device_id) if sent_at is not None else None
    offsets = batch_offsets(events, sent_at, now, previous)
    # Her visits (every route version of the night) and her stored events are read only
    # when the batch names a visit or changes one: a batch of positions, the phones' usual
    # traffic, reads neither (both grow all night).
    found: list[set[int]] = []

    def mine() -> set[int]:
        if not found:
            found.append(visits_of_nurse(session, night, nn.nurse.id))
        return found[0]

    def check(visit_id: str) -> RejectReason | None:
        visit = _night_visit(session, night, visit_id)
        if visit is None:
            return RejectReason.UNKNOWN_VISIT
        if not is_hers(visit, nn.nurse.id, mine()):
            return RejectReason.NOT_YOUR_VISIT
        return None

    positions_only = all(isinstance(event, PositionEvent) for _index, event in events)
    refused: dict[int, EventResult] = {}
    if not positions_only:
        known = {
            stored.event.event_id for stored in store.for_shift(str(nn.nurse.id), str(night.id))
        }
        refused = _refused_changes(session, nn, events, known, mine(), offsets, now=now)
        refused.update(
            _known_moved_away(
                session,
                nn,
                events,
                known,
                refused,
                device_id,
                now=now,
                tolerance=tolerance,
                offsets=offsets,
            )
        )
    results = apply_batch(
        store,
        [(index, event) for index, event in events if index not in refused],
        nurse_id=str(nn.nurse.id),
        device_id=device_id,
        shift_id=str(night.id),
        received_at=now,
        check_visit=check,
        sent_at=sent_at,
        previous=previous,
    )
    accepted = {r.index for r in results if r.outcome == EventOutcome.ACCEPTED}
    new_events = [event for index, event in events if index in accepted]
    notes = {
        index: device_moment(
            night,
            event.device_time,
            now=now,
            tolerance=tolerance,
            offset=offsets.get(event.event_id),
        ).note
        for index, event in events
        if index in accepted
    }
    results = [
        r.model_copy(update={"message": notes[r.index]}) if notes.get(r.index) else r
        for r in [*results, *refused.values()]
    ]
    moved: list[str] = []
    if not positions_only:
        # A position moves no visit: every earlier batch brought them up to date when it
        # was stored (same transaction), so a batch of positions has nothing to replay.
        state = derive_state(store.for_shift(str(nn.nurse.id), str(night.id)))
        moved = _bring_visits_up_to_date(session, nn, state, now=now, tolerance=tolerance)
    reported = _record_new_events(
        session, nn, new_events, template, now=now, tolerance=tolerance, offsets=offsets
    )
    replan = (moved or reported) and live.needs_live_replan(nn.night, now)
    if replan:
        live.request_replan(session, nn.night, reason=(moved or reported)[0])
    session.commit()
    if replan:
        # The phone is answered now; the re-plan follows on the worker (its new route
        # reaches her through the route notices). Committed above, it survives a crash.
        replanner.notify(nn.night.id)
    return sorted(results, key=lambda r: r.index)


def _night_visit(session: Session, night: Night, visit_id: str) -> Visit | None:
    """The visit of tonight an event names, if any."""
    if not (visit_id.isascii() and visit_id.isdigit()) or len(visit_id) > 9:
        return None
    visit = session.get(Visit, int(visit_id))
    return visit if visit is not None and visit.night_id == night.id else None


def _refused_changes(
    session: Session,
    nn: NurseNight,
    events: Sequence[tuple[int, Event]],
    known: set[Any],
    mine: set[int],
    offsets: Mapping[UUID, int | None],
    *,
    now: datetime,
) -> dict[int, EventResult]:
    """New events whose change the state machine refuses, as rejected results by index.

    Checked in the order the events happened (device time with the batch's clock offset),
    from each visit's status now; an event stored before is left to the store (a resend is
    a duplicate, whatever follows).
    """
    status: dict[int, str] = {}
    refused: dict[int, EventResult] = {}

    def happened(pair: tuple[int, Event]) -> tuple[datetime, UUID]:
        event = pair[1]
        return (
            corrected_time(event.device_time, offsets.get(event.event_id), now),
            event.event_id,
        )

    for index, event in sorted(events, key=happened):
        target = _EVENT_TARGET.get(type(event))
        visit_id = getattr(event, "visit_id", None)
        if target is None or event.event_id in known or not isinstance(visit_id, str):
            continue
        visit = _night_visit(session, nn.night, visit_id)
        if visit is None or not is_hers(visit, nn.nurse.id, mine):
            continue  # the store's check rejects it (unknown, not hers) before its state
        current = status.get(visit.id, visit.status)
        decision = decide(current, target)
        if decision == Decision.REFUSED:
            refused[index] = EventResult(
                index=index,
                event_id=event.event_id,
                outcome=EventOutcome.REJECTED,
                reason=RejectReason.VISIT_STATE,
                message=f"visit {visit.id} is {current}; it cannot become {target.value}",
            )
        elif decision == Decision.APPLY:
            status[visit.id] = target.value
    return refused


def _known_moved_away(
    session: Session,
    nn: NurseNight,
    events: Sequence[tuple[int, Event]],
    known: set[Any],
    refused: dict[int, EventResult],
    device_id: str,
    *,
    now: datetime,
    tolerance: timedelta,
    offsets: Mapping[UUID, int | None],
) -> dict[int, EventResult]:
    """New events on a visit moved to a colleague that her phone knew of when they happened
    (`api.night.authority.moved_away_known`), as ``not_your_visit`` results by index (F13);
    a visit she did, or that is on her route now, stays hers."""
    now_hers: set[int] | None = None
    found: dict[int, EventResult] = {}
    for index, event in events:
        visit_id = getattr(event, "visit_id", None)
        if index in refused or event.event_id in known or not isinstance(visit_id, str):
            continue
        visit = _night_visit(session, nn.night, visit_id)
        if visit is None or visit.done_by_nurse_id == nn.nurse.id:
            continue
        if now_hers is None:
            now_hers = visits_now_of_nurse(session, nn.night, nn.nurse.id)
        if visit.id in now_hers:
            continue
        at = device_moment(
            nn.night,
            event.device_time,
            now=now,
            tolerance=tolerance,
            offset=offsets.get(event.event_id),
        ).at
        if moved_away_known(session, nn.night, nn.nurse.id, device_id, visit.id, at):
            found[index] = EventResult(
                index=index,
                event_id=event.event_id,
                outcome=EventOutcome.REJECTED,
                reason=RejectReason.NOT_YOUR_VISIT,
                message=f"visit {visit.id} was moved to a colleague before this; "
                "your phone had the new route",
            )
    return found


def _bring_visits_up_to_date(
    session: Session, nn: NurseNight, state: ShiftState, *, now: datetime, tolerance: timedelta
) -> list[str]:
    """Move each visit's status forward to what the events say; the kinds of the moves.

    A change the state machine does not allow (e.g. a visit cancelled meanwhile) leaves the
    visit as it is: what the phone recorded stays in the event log as history.
    """
    moves: list[str] = []
    for visit_id, record in state.visits.items():
        target = PROGRESS_STATUS.get(record.progress)
        visit = session.get(Visit, int(visit_id))
        if target is None or visit is None:
            continue
        if decide(visit.status, target) != Decision.APPLY:
            continue
        happened = record.completed_at or record.started_at or record.arrived_at or now
        at = device_moment(nn.night, happened, now=now, tolerance=tolerance)
        change_visit(
            session,
            nn.night,
            visit,
            target,
            at=at.at,
            began=_began(nn.night, record, visit.service_seconds, now=now, tolerance=tolerance),
            nurse_id=nn.nurse.id if target != VisitStatus.COULD_NOT_GET_IN else None,
            received_at=now,
        )
        moves.append(f"phone: {target.value}")
    return moves


def _began(
    night: Night, record: VisitRecord, service_seconds: int, *, now: datetime, tolerance: timedelta
) -> int | None:
    """When care began, in seconds of the night, from validated device times: never before
    the night, never after the server's clock (a phone's clock can be far off)."""
    if record.started_at is not None:
        return device_moment(night, record.started_at, now=now, tolerance=tolerance).seconds
    if record.completed_at is not None:
        ended = device_moment(night, record.completed_at, now=now, tolerance=tolerance)
        return max(0, ended.seconds - service_seconds)
    return None


def _record_new_events(
    session: Session,
    nn: NurseNight,
    new_events: Iterable[Event],
    template: BagTemplate,
    *,
    now: datetime,
    tolerance: timedelta,
    offsets: Mapping[UUID, int | None],
) -> list[str]:
    """Night events the planner sees (back-up calls, delays, bag shortages); flag key-safe
    codes. What calls for a re-plan, as re-plan reasons."""
    replan_for: list[str] = []
    for event in new_events:
        offset = offsets.get(event.event_id)
        at = device_moment(
            nn.night, event.device_time, now=now, tolerance=tolerance, offset=offset
        ).at
        if isinstance(event, NeedsBackupEvent):
            visit_id = (
                int(event.visit_id)
                if event.visit_id and event.visit_id.isascii() and event.visit_id.isdigit()
                else None
            )
            nights.add_event(
                session,
                nn.night,
                kind="needs_backup",
                at=at,
                received_at=now,
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
                at=at,
                received_at=now,
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
                    at=at,
                    received_at=now,
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


# ----------------------------------------------------------------- key-safe reveal


#: Phone events that say she reached, began, finished or stood at a visit.
_PROGRESS_TYPES = frozenset({"arrived", "visit_started", "visit_completed", "could_not_get_in"})
#: Only "arrived" records an arrival: marking a visit started opens nothing by itself.
_ARRIVAL_TYPES = frozenset({"arrived"})
_NIGHT_PROGRESS_KINDS = ("started", "done", "could_not_get_in")


def _step_of(route: RouteVersion, visit_id: int) -> StoredStep | None:
    return next((s for s in route_of(route) if s.visit_id == visit_id), None)


def _anchor_step(
    session: Session, nn: NurseNight, visit: Visit, first_progress: datetime | None
) -> StoredStep | None:
    """The visit's step in the published plan the reveal window is anchored to.

    Her newest published route version from before she first reported progress on this
    visit: a re-plan her own report triggered (marking it started hours early puts its ETA
    at "now") does not move the window. Failing that, the first version that gave it to her.
    """
    versions = session.scalars(
        select(RouteVersion)
        .where(
            RouteVersion.night_id == nn.night.id,
            RouteVersion.nurse_id == nn.nurse.id,
            RouteVersion.published_at.is_not(None),
        )
        .order_by(RouteVersion.version)
    ).all()
    containing = [(v, step) for v in versions if (step := _step_of(v, visit.id)) is not None]
    before = [
        step
        for v, step in containing
        if first_progress is None
        or (v.published_at is not None and v.published_at < first_progress)
    ]
    if before:
        return before[-1]
    return containing[0][1] if containing else None


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
    stale_token: bool = False,
) -> RevealFacts:
    """What the reveal rules need, from tonight's published routes and the nurse's phone.

    The ETA is the published plan's, as it stood before her own reports on the visit (see
    `_anchor_step`); the phone's times count at the latest when the server received them;
    ``stale_token``: her token was issued before one of her phones was revoked or replaced
    (then it works for no phone: refused as ``device_revoked``).
    """
    revoked = stale_token or bool(
        registered is not None and registered.id == device_id and registered.revoked_at
    )
    registered_id = registered.id if registered is not None else None
    assignment = None
    eta, planned_end = now, now
    arrived_at: datetime | None = None
    completed_at: datetime | None = None
    night_end = nn.night.ends_at if nn is not None else None
    if nn is not None and visit is not None and client is not None:
        assigned: set[str] = set()
        current: StoredStep | None = None
        for other, _shift in nights.shifts_of(session, nn.night):
            route = nights.latest_published_route(session, nn.night, other.id)
            step = _step_of(route, visit.id) if route is not None else None
            if step is not None:
                assigned.add(other.code)
                if other.id == nurse.id:
                    current = step
        assignment = Assignment(
            visit_id=str(visit.id),
            client_id=str(client.id),
            nurse_ids=frozenset(assigned),
            key_safe_present=client.key_safe_present,
        )
        progress, arrivals, completions = _her_reports(session, nn, visit)
        anchor = _anchor_step(session, nn, visit, min(progress, default=None))
        if anchor is not None:
            eta = _at(nn.night, anchor.arrival)
            planned_end = _at(nn.night, anchor.end)
        if current is not None:
            planned_end = max(planned_end, _at(nn.night, current.end))
            live_end = _live_end(session, nn.night, nurse, visit)
            if live_end is not None:
                # A re-plan that only moved her times (held up: her delay report) stores no
                # new route version (her order is unchanged), so the window also closes after
                # the live plan's end. Only ever later; the night's end still bounds it.
                planned_end = max(planned_end, live_end)
        arrived_at = min(arrivals, default=None)
        completed_at = completions[-1] if completions else None
        if completed_at is not None and arrived_at is not None and arrived_at > completed_at:
            arrived_at = None  # an arrival after the care was done opens and holds nothing
        if completed_at is not None:
            # A completion dated ahead by the phone's clock must not hold the window open: the
            # server's record of it (clamped to when it arrived) bounds it.
            recorded = nights.visit_event_at(session, nn.night, visit.id, kind="done")
            if recorded is not None and recorded < completed_at:
                completed_at = recorded
        if completed_at is None and visit.status == "done":
            # Done, but not by her phone (the planner's or her report through
            # POST /nights/{date}/events): an arrival after that report holds nothing either.
            reported = nights.visit_event_at(session, nn.night, visit.id, kind="done")
            if arrived_at is not None and (reported is None or arrived_at > reported):
                arrived_at = None
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
        revoked=revoked,
        distance_m=distance,
        night_end=night_end,
        arrived_at=arrived_at,
    )


def _live_end(session: Session, night: Night, nurse: Nurse, visit: Visit) -> datetime | None:
    """When the night's current plan has ``nurse`` end ``visit`` (``None``: not hers)."""
    stored = nights.current_plan_version(session, night)
    if stored is None:
        return None
    ref = f"V{visit.id}"
    for route in plan_of(stored).routes:
        if route.nurse_id != nurse.code:
            continue
        for step in route.steps:
            if step.visit_id == ref:
                return _at(night, step.end)
    return None


def _her_reports(
    session: Session, nn: NurseNight, visit: Visit
) -> tuple[list[datetime], list[datetime], list[datetime]]:
    """Her reports on ``visit``: when the server received each progress report, when she
    arrived, and her completions (oldest first). A phone's time counts at the latest when
    the server received it, so a clock set ahead stretches nothing; and its clock offset
    (`StoredEvent.at`, never after the server received the event) can never open the
    window sooner: an arrival counts no earlier than the phone said."""
    progress: list[datetime] = []
    arrivals: list[datetime] = []
    completions: list[tuple[datetime, datetime]] = []
    store = repo.SqlEventStore(session, nn.night.id)
    for stored in store.for_shift(str(nn.nurse.id), str(nn.night.id)):
        event = stored.event
        if event.type not in _PROGRESS_TYPES or getattr(event, "visit_id", None) != str(visit.id):
            continue
        progress.append(stored.received_at)
        if event.type in _ARRIVAL_TYPES:
            arrivals.append(min(max(event.device_time, stored.at), stored.received_at))
        elif event.type == "visit_completed":
            completions.append((stored.at, min(stored.at, stored.received_at)))
    # The visit's night events (her reports through /nights/{date}/events, and her phone's
    # events as applied): when the server received them, never a backdated time, so a
    # report dated back cannot pick an older plan as the anchor.
    for at in session.scalars(
        select(func.coalesce(NightEvent.received_at, NightEvent.at)).where(
            NightEvent.night_id == nn.night.id,
            NightEvent.visit_id == visit.id,
            NightEvent.nurse_id == nn.nurse.id,
            NightEvent.kind.in_(_NIGHT_PROGRESS_KINDS),
        )
    ):
        progress.append(at)
    completions.sort()
    return progress, arrivals, [at for _device, at in completions]


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
        stops = visit_ids_of(route_of(row))
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
