"""The planner's board: one read of the night for the map and the timeline.

Shapes: times in seconds from the night's start (the optimizer's unit, as the plan speaks);
coordinates ``[lon, lat]`` WGS84 (GeoJSON order); route lines follow the roads when the
service has a road network (`api.services.legs`, the same lines the phones get).

The board shows clients' display names and care tasks: every read writes one access-log row
per client shown (NEN 7513), in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.roles import Principal
from api.db.models import Client, Night, Region
from api.night.reach import Reach, phone_reach
from api.night.stored import plan_of
from api.offline_events import derive_state
from api.repositories import access_log, nights
from api.repositories import phone as phone_repo
from api.services.legs import leg_points
from api.travel import road_network
from optimizer.model import DEFAULT_URGENCY_CLASSES
from optimizer.plan import Plan, StepType

__all__ = [
    "AT_RISK_SECONDS",
    "NURSE_COLOURS",
    "ROAD_RADIUS_STEPS_M",
    "board_of",
    "road_lines",
    "road_radius_step",
]

#: A visit that starts less than this before its window closes (or its urgency target ends)
#: is at risk: one delay makes it late.
AT_RISK_SECONDS = 10 * 60
#: Nurse colours in shift order; distinguishable for the common colour-vision deficiencies
#: (Okabe-Ito), and dark enough against the light map.
NURSE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#7A5C00", "#56B4E9", "#000000")


@dataclass(frozen=True)
class _Where:
    lon: float
    lat: float


def _slack(visit: Any, start: int) -> int | None:
    """Seconds between the planned start and the last moment care may begin (None: no limit)."""
    if visit.window_end is not None:
        return int(visit.window_end - start)
    target = DEFAULT_URGENCY_CLASSES.get(visit.urgency)
    if visit.call_time is not None and target is not None and target.target_seconds is not None:
        return int(visit.call_time + target.target_seconds - start)
    return None


def board_of(
    session: Session, principal: Principal, region: Region, night: Night, *, now: datetime
) -> dict[str, Any]:
    """The night for the board: nurses, visits with client details, routes with lines,
    unassigned visits with their reasons, broken rules; access-logged per client shown."""
    stored = nights.current_plan_version(session, night)
    plan: Plan | None = plan_of(stored) if stored is not None else None
    rows = nights.night_visits(session, night, include_closed=True)
    clients = (
        {
            c.id: c
            for c in session.scalars(
                select(Client).where(Client.id.in_({v.client_id for v in rows}))
            )
        }
        if rows
        else {}
    )
    requests = nights.requests_by_id(session, {v.request_id for v in rows})
    team = nights.shifts_of(session, night)
    code_of = {nurse.id: nurse.code for nurse, _ in team}
    base = _Where(lon=region.base_lon, lat=region.base_lat)
    events = phone_repo.SqlEventStore(session, night.id)
    # Whose phone is not picking up her route (`api.night.reach`): shown, so the planner
    # reaches her by other means and does not hand her more (a move to her warns).
    reach = phone_reach(
        session,
        night,
        plan,
        nurse_ids={nurse.code: nurse.id for nurse, _ in team},
        visit_rows=rows_by_ref(rows),
        now=now,
    )

    nurses = []
    for number, (nurse, shift) in enumerate(team):
        state = derive_state(events.for_shift(str(nurse.id), str(night.id)))
        published = nights.latest_published_route(session, night, nurse.id)
        position = None
        if state.last_position is not None:
            at, (lon, lat), accuracy = state.last_position
            position = {"at": at.isoformat(), "location": [lon, lat], "accuracy_m": accuracy}
        nurses.append(
            {
                "id": nurse.code,
                "name": nurse.display_name,
                "colour": NURSE_COLOURS[number % len(NURSE_COLOURS)],
                "shift": {"start": shift.start, "end": shift.end},
                "skills": sorted(nurse.skills),
                "last_position": position,
                "published_route_version": published.version if published else None,
                "phone": _phone_reach(reach, nurse.code),
            }
        )

    by_ref = rows_by_ref(rows)
    placed: dict[str, dict[str, Any]] = {}
    routes = []
    for route in plan.routes if plan is not None else []:
        where = base
        line: list[list[float]] = []
        along_roads = True
        steps = []
        stops = 0  # visits and restocks before this step: a move's ``position``
        for step in route.steps:
            visit = by_ref.get(step.visit_id or "")
            client = clients.get(visit.client_id) if visit is not None else None
            if step.type == StepType.VISIT and client is not None:
                here = _Where(lon=client.lon, lat=client.lat)
            elif step.type == StepType.BREAK:
                here = where
            else:
                here = base
            points, on_roads = leg_points((where.lon, where.lat), (here.lon, here.lat))
            if points:
                along_roads = along_roads and on_roads
                line.extend([list(p) for p in (points if not line else points[1:])])
            where = here
            steps.append(
                {
                    "type": step.type.value,
                    "visit_id": step.visit_id,
                    "arrival": step.arrival,
                    "start": step.start,
                    "end": step.end,
                    "travel_seconds": step.travel_seconds,
                    "waiting_seconds": step.waiting_seconds,
                    "lateness_seconds": step.lateness_seconds,
                }
            )
            if step.type == StepType.VISIT and step.visit_id and visit is not None:
                slack = _slack(visit, step.start)
                placed.setdefault(
                    step.visit_id,
                    {
                        "nurse_id": route.nurse_id,
                        "position": stops,
                        "arrival": step.arrival,
                        "start": step.start,
                        "end": step.end,
                        "late": step.lateness_seconds > 0,
                        "at_risk": step.lateness_seconds == 0
                        and slack is not None
                        and slack < AT_RISK_SECONDS,
                    },
                )
            if step.type in (StepType.VISIT, StepType.RESTOCK):
                stops += 1
        routes.append(
            {
                "nurse_id": route.nurse_id,
                "travel_seconds": route.travel_seconds,
                "visit_count": route.visit_count,
                "steps": steps,
                "line": line if len(line) >= 2 else [],
                "along_roads": along_roads and len(line) >= 2,
            }
        )

    unassigned = {u.visit_id: u for u in plan.unassigned} if plan is not None else {}
    tonight = {v.request_id: f"V{v.id}" for v in rows}
    visits = []
    for visit in rows:
        ref = f"V{visit.id}"
        client = clients[visit.client_id]
        request = requests.get(visit.request_id)
        missing = unassigned.get(ref)
        visits.append(
            {
                "id": ref,
                "client": {
                    "id": client.id,
                    "name": client.display_name,
                    "location": [client.lon, client.lat],
                },
                "care_task": request.care_task if request is not None else None,
                "kind": request.kind if request is not None else None,
                "urgency": visit.urgency,
                "window": [visit.window_start, visit.window_end]
                if visit.window_start is not None and visit.window_end is not None
                else None,
                "call_time": visit.call_time,
                "service_seconds": visit.service_seconds,
                "nurses_needed": visit.nurses_needed,
                "status": visit.status,
                "pinned_to": code_of.get(visit.pin_nurse_id or 0),
                "planned": placed.get(ref),
                "unassigned": {"reason": missing.reason.value, "message": missing.message}
                if missing is not None
                else None,
                "after": _link(request, tonight),
            }
        )
    access_log.record(
        session, principal, clients.values(), event="read", purpose="planner board", at=now
    )
    network = road_network().network
    return {
        "night": night.night_date.isoformat(),
        "starts_at": night.starts_at.isoformat(),
        "ends_at": night.ends_at.isoformat(),
        "now_seconds": nights.seconds_since_start(night, now),
        "version": night.plan_version,
        "replan_pending": night.replan_requested > night.replan_done,
        "fallback": stored.fallback if stored is not None else None,
        "base": [region.base_lon, region.base_lat],
        "roads": network is not None,
        "nurses": nurses,
        "routes": routes,
        "visits": visits,
        "violations": [v.model_dump(mode="json") for v in plan.violations] if plan else [],
        "travel_estimated": plan.summary.travel_estimated if plan is not None else None,
    }


def _link(request: Any, tonight: dict[int, str]) -> dict[str, Any] | None:
    """Linked care as the board shows it: the visit it follows tonight (its ``V`` id, or
    ``None`` when that care is not tonight), the gap in minutes and which nurse may do it."""
    if request is None or request.after_request_id is None:
        return None
    return {
        "visit": tonight.get(request.after_request_id),
        "min_minutes": request.after_min_minutes or 0,
        "max_minutes": request.after_max_minutes or 0,
        "nurse": request.after_nurse or "any",
    }


def _phone_reach(reach: Reach, code: str) -> dict[str, Any]:
    """A nurse's phone as the board shows it: ``silent`` (her phone has not picked up a
    route change published `SILENT_AFTER_SECONDS` ago), ``silent_since`` (when she became
    silent), ``heard_at`` (her phone's last route read or registration) and
    ``unseen_visits`` (visits on her route she has not seen; re-plans give them to others)."""
    silence = reach.silences.get(code)
    if silence is None:
        return {"silent": False, "silent_since": None, "heard_at": None, "unseen_visits": []}
    return {
        "silent": True,
        "silent_since": silence.since.isoformat(),
        "heard_at": silence.heard_at.isoformat(),
        "unseen_visits": sorted(reach.unseen.get(code, ())),
    }


def rows_by_ref(rows: list[Any]) -> dict[str, Any]:
    """Visit rows by the optimizer's id (``V<id>``)."""
    return {f"V{v.id}": v for v in rows}


#: The radii (metres) road lines are cut at: a request is served at the smallest step that
#: covers it. Few steps keep the cache below (16 entries) holding every answer: one cut of a
#: large radius costs seconds of CPU and megabytes, and any radius was a new cut (R17).
ROAD_RADIUS_STEPS_M = (1_000.0, 2_000.0, 4_000.0, 8_000.0, 15_000.0, 30_000.0, 60_000.0)


def road_radius_step(radius_m: float) -> float:
    """The smallest of `ROAD_RADIUS_STEPS_M` at least ``radius_m`` (metres); the largest
    step for anything beyond it (the route refuses more than 60 km)."""
    for step in ROAD_RADIUS_STEPS_M:
        if radius_m <= step:
            return step
    return ROAD_RADIUS_STEPS_M[-1]


def road_lines(
    centre: tuple[float, float], radius_m: float, *, profile: str = "car"
) -> dict[str, Any]:
    """The road network's lines within ``radius_m`` of ``centre`` (``(lon, lat)``) as a
    GeoJSON FeatureCollection of one MultiLineString, simplified to about 4 m; empty
    without a network. The radius is raised to `road_radius_step` (so at least the area
    asked for). No personal data: the same for every caller, cached."""
    network = road_network().network
    if network is None:
        return {"type": "FeatureCollection", "features": []}
    key = (round(centre[0], 3), round(centre[1], 3), road_radius_step(radius_m))
    return _road_lines(id(network), key, profile)


@lru_cache(maxsize=16)
def _road_lines(network_key: int, key: tuple[float, float, float], profile: str) -> dict[str, Any]:
    from geo.snapping import chain_lines

    network = road_network().network
    assert network is not None
    assert id(network) == network_key
    lon, lat, radius = key
    x, y = network.project(np.array([lat]), np.array([lon]))
    area = shapely.Point(float(x[0]), float(y[0])).buffer(radius)
    lines = chain_lines(network, profile)
    inside = lines[shapely.intersects(lines, area)]
    simple = shapely.simplify(inside, 4.0)
    parts = []
    xy, owner = shapely.get_coordinates(simple, return_index=True)
    lat_out, lon_out = network.unproject(xy[:, 0], xy[:, 1])
    points = np.round(np.column_stack([lon_out, lat_out]), 5)
    splits = np.flatnonzero(np.diff(owner)) + 1
    for part in np.split(points, splits):
        if len(part) >= 2:
            parts.append(part.tolist())
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"profile": profile},
                "geometry": {"type": "MultiLineString", "coordinates": parts},
            }
        ],
    }
