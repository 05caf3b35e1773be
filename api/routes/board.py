"""The planner's board: the night for the map and timeline, road lines, and a cheap version
read for live updates (the board polls it and reloads when the plan moved on)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import Field

from api.core.problems import problem_response
from api.core.roles import Principal, Role
from api.deps import (
    ClockDep,
    ReplannerDep,
    SessionDep,
    SettingsDep,
    allow,
    credential_still_valid,
)
from api.repositories import accounts, nights
from api.routes.nights import _version
from api.schemas.accounts import Skill
from api.schemas.common import NotBool, Strict
from api.schemas.nights import MoveWarning
from api.schemas.requests import CareTask, Minutes
from api.services import live
from api.services.board import board_of, road_lines
from api.services.board_watch import BoardWatch
from api.services.planning import visit_ref
from api.services.stream_slots import SIGNED_OUT, STREAM_RETRY_AFTER_SECONDS, SlotStream
from api.services.urgent_calls import CallDetails, quote_call, take_call

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
    return _version_of(session, night_date)


def _version_of(session: Any, night_date: date) -> dict[str, Any]:
    region = accounts.get_region(session)
    night = nights.get_night(session, region, night_date)
    if night is None:
        return {"version": 0, "replan_pending": False}
    return {
        "version": night.plan_version,
        "replan_pending": night.replan_requested > night.replan_done,
    }


@router.get(
    "/nights/{night_date}/board/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        429: {"description": "the user holds the most open board streams allowed"},
    },
)
async def stream_night_board(
    night_date: NightDate,
    request: Request,
    settings: SettingsDep,
    who: Planner,
    seconds: Annotated[
        int | None, Query(ge=0, le=3600, description="stream lifetime; default as the phones'")
    ] = None,
) -> Response:
    """Server-sent events for the board: ``event: plan`` with ``{"version", "replan_pending"}``
    at once and whenever either changes (checked every second), ``: keep-alive`` every 15 s
    (``stream_heartbeat_seconds``) of quiet; the stream ends after ``seconds`` and the board
    reconnects (it polls ``/board/version`` when the stream fails). No client data: not
    access-logged. The caller's token is checked again every heartbeat: the stream ends with
    ``: signed out`` once her login is deactivated or the token has expired.

    All streams of a night share one version read per second; one user holds at most
    3 streams open (``STREAMS_PER_USER``; more: 429 problem+json with ``Retry-After``)."""
    watch = _watch(request)
    user = who.user_id if who.user_id is not None else who.actor
    if not watch.slots.take(user):
        return problem_response(
            429,
            "too-many-streams",
            "Too many open board streams",
            f"at most {watch.slots.per_holder} open board streams per user; close one or poll "
            "/board/version",
            instance=request.url.path,
            headers={"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)},
        )
    if seconds is None:  # as the phones' stream; in tests one message, so a test never hangs
        seconds = 0 if settings.environment == "test" else int(settings.route_stream_seconds)
    lifetime, heartbeat = seconds, settings.stream_heartbeat_seconds

    async def messages() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        deadline = time.monotonic() + lifetime
        quiet_since = checked_at = time.monotonic()
        last: dict[str, Any] | None = None
        while True:
            now = await watch.current(night_date)
            if now != last:
                yield f"event: plan\ndata: {json.dumps(now)}\n\n"
                last, quiet_since = now, time.monotonic()
            if time.monotonic() >= deadline or await request.is_disconnected():
                return
            if time.monotonic() - checked_at >= heartbeat:
                # Once per heartbeat, not per second: the streams share one version read
                # (R15); a deactivated planner's stream ran its 300 s (review s25).
                if not await run_in_threadpool(credential_still_valid, request):
                    yield SIGNED_OUT
                    return
                checked_at = time.monotonic()
            if time.monotonic() - quiet_since >= heartbeat:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(1)

    return SlotStream(
        messages(),
        release=lambda: watch.slots.release(user),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _watch(request: Request) -> BoardWatch:
    # One per app, made on first use (the session factory exists once the app started).
    watch: BoardWatch | None = getattr(request.app.state, "board_watch", None)
    if watch is None:
        factory = request.app.state.session_factory

        def read(night_date: date) -> dict[str, Any]:
            with factory() as session:
                return _version_of(session, night_date)

        watch = request.app.state.board_watch = BoardWatch(read)
    return watch


@router.get("/board/roads")
def read_board_roads(
    session: SessionDep,
    _: Planner,
    radius_km: Annotated[float, Query(gt=0, le=60, description="around the region's base")] = 8,
) -> dict[str, Any]:
    """The road network around the region's base as GeoJSON (lines ``[lon, lat]``, simplified
    to about 4 m); an empty collection when the service runs without a road network. The
    radius is served at the next of a few steps (1, 2, 4, 8, 15, 30, 60 km) so answers cache.
    Road data (c) OpenStreetMap contributors, ODbL 1.0."""
    region = accounts.get_region(session)
    return road_lines((region.base_lon, region.base_lat), radius_km * 1000)


class UrgentCall(Strict):
    """An urgent call the planner types in: which client, how urgent, what care."""

    client_id: Annotated[int, Field(ge=1, le=2**31 - 1), NotBool]
    urgency: Literal["acute", "urgent", "soon"] = "acute"
    care_task: CareTask
    service_minutes: Minutes = 20
    required_skills: list[Skill] = Field(default_factory=list)

    def details(self) -> CallDetails:
        return CallDetails(
            client_id=self.client_id,
            urgency=self.urgency,
            care_task=self.care_task,
            service_minutes=self.service_minutes,
            required_skills=list(self.required_skills),
        )


class UrgentCallTaken(UrgentCall):
    """The call with the option the planner chose."""

    nurse: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,16}$")]
    silent_nurse_ok: bool = Field(
        default=False,
        description="the planner knows the nurse's phone is silent (reached her otherwise); "
        "without it, a nurse whose phone is silent is 409 nurse-silent",
    )


@router.post("/nights/{night_date}/board/urgent-calls/quote")
def quote_urgent_call(
    night_date: NightDate, body: UrgentCall, session: SessionDep, clock: ClockDep, who: Planner
) -> dict[str, Any]:
    """The triage quote's options for a call now: one per eligible nurse, best first (ETA and
    start in seconds from the night's start, lateness past the target, added travel and
    lateness caused to others, feasible and why not). Nothing is stored but the access-log
    row for the client's place. 422 outside the night."""
    region = accounts.get_region(session)
    night = nights.require_night(session, region, night_date)
    options = quote_call(session, who, region, night, body.details(), now=clock())
    session.commit()
    return {"options": options}


@router.post("/nights/{night_date}/board/urgent-calls", status_code=201)
def take_urgent_call(
    night_date: NightDate,
    body: UrgentCallTaken,
    session: SessionDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    who: Planner,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=32)] = None,
) -> dict[str, Any]:
    """Take the call with the chosen nurse: recorded as unplanned care for the client's
    organisation, pinned to her, re-planned before the answer (the quick first answer).
    Answers the new plan version and the visit's id; stale If-Match 409, none 428. A nurse
    whose phone is silent (the quote's ``silent``) needs ``silent_nurse_ok`` (else 409
    ``nurse-silent``); the answer's ``warnings`` then say so."""
    region = accounts.get_region(session)
    night = nights.require_night(session, region, night_date)
    visit, warnings = take_call(
        session,
        who,
        region,
        night,
        body.details(),
        nurse_code=body.nurse,
        base_version=_version(if_match),
        now=clock(),
        silent_nurse_ok=body.silent_nurse_ok,
    )
    visit_id = visit.id
    replanned = live.replan_or_leave_pending(replanner, night.id, quick=True)
    session.expire_all()
    return {
        "visit_id": visit_ref(visit_id),
        "plan_version": night.plan_version,
        "pending": replanned is None,
        "warnings": [MoveWarning.model_validate(w).model_dump(mode="json") for w in warnings],
    }
