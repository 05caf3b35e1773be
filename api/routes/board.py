"""The planner's board: the night for the map and timeline, road lines, and a cheap version
read for live updates (the board polls it and reloads when the plan moved on)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.core.roles import Principal, Role
from api.deps import ClockDep, SessionDep, allow
from api.repositories import accounts, nights
from api.services.board import board_of, road_lines

router = APIRouter(tags=["planner: board"])
Planner = Annotated[Principal, Depends(allow(Role.PLANNER))]
NightDate = Annotated[date, Path(ge=date(2000, 1, 1), le=date(2200, 1, 1))]


@router.get("/nights/{night_date}/board")
def read_night_board(
    night_date: NightDate, response: Response, session: SessionDep, clock: ClockDep, who: Planner
) -> dict[str, Any]:
    """The night on the board: nurses (colour, last position), routes with road lines
    (``[lon, lat]``), visits with client name, care task, window or call time, urgency, ETA,
    late/at-risk, and the unassigned with their reason. Times: seconds from ``starts_at``.

    Client data shown: one access-log row per client (purpose ``planner board``). A night
    nothing was planned for yet is 404."""
    region = accounts.get_region(session)
    night = nights.require_night(session, region, night_date)
    body = board_of(session, who, region, night, now=clock())
    session.commit()
    response.headers["ETag"] = f'"{night.plan_version}"'
    response.headers["Cache-Control"] = "no-store"
    return body


@router.get("/nights/{night_date}/board/version")
def read_night_board_version(
    night_date: NightDate, session: SessionDep, _: Planner
) -> dict[str, Any]:
    """The night's plan version and whether a re-plan is owed (no client data: not logged).
    The board polls this every few seconds and reloads when the version moved on."""
    region = accounts.get_region(session)
    night = nights.get_night(session, region, night_date)
    if night is None:
        return {"version": 0, "replan_pending": False}
    return {
        "version": night.plan_version,
        "replan_pending": night.replan_requested > night.replan_done,
    }


@router.get("/board/roads")
def read_board_roads(
    session: SessionDep,
    _: Planner,
    radius_km: Annotated[float, Query(gt=0, le=60, description="around the region's base")] = 8,
) -> dict[str, Any]:
    """The road network around the region's base as GeoJSON (lines ``[lon, lat]``, simplified
    to about 4 m); an empty collection when the service runs without a road network.
    Road data (c) OpenStreetMap contributors, ODbL 1.0."""
    region = accounts.get_region(session)
    return road_lines((region.base_lon, region.base_lat), radius_km * 1000)
