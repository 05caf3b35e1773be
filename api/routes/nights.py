"""The planner's night: the plan, re-optimising, moves and pins, publishing, nurse events."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response, status

from api.core.problems import Conflict, Forbidden, ProblemError
from api.core.roles import Principal, Role
from api.db.models import Night
from api.deps import (
    ClockDep,
    JobRunnerDep,
    ReplannerDep,
    SessionDep,
    SettingsDep,
    allow,
    log_refusal,
)
from api.night.stored import plan_of, route_of
from api.repositories import access_log, accounts, nights, requests
from api.schemas.nights import (
    EventCreate,
    EventRecorded,
    JobPublic,
    MoveRequest,
    MoveResult,
    MoveWarning,
    NightPlan,
    PlanVersionSummary,
    PublishResult,
    ReoptimiseRequest,
    RoutePublic,
    VisitLink,
    VisitPublic,
)
from api.services import live
from api.services.jobs import JobContext
from api.services.planning import consequences, move_visit, stored_plan
from optimizer.plan import Plan

router = APIRouter(tags=["planner: nights"])
Planner = Annotated[Principal, Depends(allow(Role.PLANNER))]


def _reporter(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(allow(Role.PLANNER, Role.NURSE))],
) -> Principal:
    """A planner, or a nurse signed in with her second factor, as her phone is (S25-07: a
    password alone marked her care done or held her up hours, no phone, no TOTP code). A
    refusal is a row of the access log, as the same refusal when she registers a phone."""
    if principal.role == Role.NURSE and not principal.second_factor:
        log_refusal(
            request,
            session,
            principal,
            "second_factor_required",
            now=clock(),
            event="report.refused",
        )
        raise Forbidden("a nurse's report needs a second factor: sign in with your TOTP code")
    return principal


Reporter = Annotated[Principal, Depends(_reporter)]
NightDate = Annotated[date, Path(ge=date(2000, 1, 1), le=date(2200, 1, 1))]


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", "If-Match required"


def _version(if_match: str | None) -> int:
    """The plan version from an ``If-Match: "7"`` header (quotes and W/ optional)."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the plan version you are changing")
    text = if_match.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise PreconditionRequired('If-Match must be a plan version, e.g. "3"')
    return int(text)


IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=32, description='plan version, e.g. "3"')
]


def _visits_public(session: SessionDep, night: Night) -> list[VisitPublic]:
    """The night's visits, each with the link of linked care (the visit it follows)."""
    rows = nights.night_visits(session, night, include_closed=True)
    request_rows = nights.requests_by_id(session, {v.request_id for v in rows})
    tonight = {v.request_id: v.id for v in rows}
    result = []
    for row in rows:
        request = request_rows.get(row.request_id)
        link = requests.link_of(request) if request is not None else None
        after = None
        if link is not None:
            after = VisitLink(
                visit_id=tonight.get(link.request_id),
                request_id=link.request_id,
                min_minutes=link.min_minutes,
                max_minutes=link.max_minutes,
                nurse=link.nurse,
            )
        result.append(_visit_public(row).model_copy(update={"after": after}))
    return result


def _visit_public(visit: object) -> VisitPublic:
    return VisitPublic(
        id=visit.id,  # type: ignore[attr-defined]
        request_id=visit.request_id,  # type: ignore[attr-defined]
        organisation_id=visit.organisation_id,  # type: ignore[attr-defined]
        client_id=visit.client_id,  # type: ignore[attr-defined]
        urgency=visit.urgency,  # type: ignore[attr-defined]
        window_start=visit.window_start,  # type: ignore[attr-defined]
        window_end=visit.window_end,  # type: ignore[attr-defined]
        call_time=visit.call_time,  # type: ignore[attr-defined]
        service_seconds=visit.service_seconds,  # type: ignore[attr-defined]
        required_skills=list(visit.required_skills),  # type: ignore[attr-defined]
        nurses_needed=visit.nurses_needed,  # type: ignore[attr-defined]
        status=visit.status,  # type: ignore[attr-defined]
        pinned_to_nurse_id=visit.pin_nurse_id,  # type: ignore[attr-defined]
    )


@router.get("/nights/{night_date}/plan")
def read_night_plan(
    night_date: NightDate,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    planner: Planner,
) -> NightPlan:
    """The night's current plan and its visits; the ETag is the plan version. The visits
    name clients by id with their care needs: the read is access-logged (NEN 7513), once
    per client.

    A night nothing was planned for yet reads as empty (version 0): a read never opens it."""
    region = accounts.get_region(session)
    night = nights.get_night(session, region, night_date)
    if night is None:
        starts_at, ends_at = nights.night_bounds(region, night_date)
        response.headers["ETag"] = '"0"'
        return NightPlan(
            night=night_date, starts_at=starts_at, ends_at=ends_at, version=0, plan=None, visits=[]
        )
    response.headers["ETag"] = f'"{night.plan_version}"'
    current = nights.current_plan_version(session, night)
    shown = NightPlan(
        night=night.night_date,
        starts_at=night.starts_at,
        ends_at=night.ends_at,
        version=night.plan_version,
        plan=stored_plan(session, night),
        visits=_visits_public(session, night),
        replan_pending=night.replan_requested > night.replan_done,
        fallback=current.fallback if current is not None else None,
    )
    access_log.record_for_visits(
        session,
        planner,
        [v.id for v in shown.visits],
        event="read",
        purpose="night plan",
        at=clock(),
    )
    session.commit()
    return shown


@router.get("/nights/{night_date}/plan/versions")
def list_plan_versions(
    night_date: NightDate, session: SessionDep, _: Planner
) -> list[PlanVersionSummary]:
    """Every plan the night has had, oldest first (all kept for the record)."""
    night = nights.require_night(session, accounts.get_region(session), night_date)
    return [
        PlanVersionSummary(
            version=v.version,
            reason=v.reason,
            created_at=v.created_at,
            created_by_user_id=v.created_by_user_id,
            live=v.live,
            fallback=v.fallback,
        )
        for v in nights.plan_versions(session, night)
    ]


@router.get("/nights/{night_date}/plan/versions/{version}")
def read_plan_version(
    night_date: NightDate,
    version: Annotated[int, Path(ge=1, le=10**6)],
    session: SessionDep,
    _: Planner,
) -> Plan:
    """One earlier (or the current) plan."""
    night = nights.require_night(session, accounts.get_region(session), night_date)
    return plan_of(nights.get_plan_version(session, night, version))


@router.post("/nights/{night_date}/plan/reoptimise", status_code=status.HTTP_202_ACCEPTED)
def reoptimise_night(
    night_date: NightDate,
    body: ReoptimiseRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    runner: JobRunnerDep,
    replanner: ReplannerDep,
    clock: ClockDep,
    planner: Planner,
    if_match: IfMatch = None,
) -> JobPublic:
    """Re-optimise the night in the background; follow the job for progress and outcome.

    Calls and reports keep being planned while it runs; their re-plans are taken into its
    result. A hand edit of the plan meanwhile makes the job fail with the 409 text. A night
    not opened yet is opened from tonight to ``recurrence_days_ahead`` nights ahead only (422
    naming ``path.night_date`` otherwise).
    """
    region = accounts.get_region(session)
    base = _version(if_match)
    # A refused re-optimise opens no night (R22-06): a night nobody opened is at version 0.
    if base != 0 and nights.get_night(session, region, night_date) is None:
        raise Conflict(
            f"the plan is at version 0, not {base}: reload and try again",
            extra={"current_version": 0, "changes": []},
        )
    night = nights.open_for_planner(
        session, region, night_date, now=clock(), days_ahead=settings.recurrence_days_ahead
    )
    session.commit()
    nights.check_version(session, night, base)
    time_limit = min(body.time_limit_seconds, settings.reoptimise_seconds)
    night_id, user_id = night.id, planner.user_id

    def job(context: JobContext) -> dict[str, object]:
        with context.session_factory() as job_session:
            result = replanner.reoptimise(
                job_session,
                night_id,
                base_version=base,
                time_limit=time_limit,
                user_id=user_id,
                progress=context.progress,
            )
            return {
                "plan_version": result.version,
                "affected_nurses": result.affected_nurses,
                "visits_unassigned": result.plan.summary.visits_unassigned,
                "fallback": result.fallback,
            }

    job_id = runner.submit("reoptimise", night.id, job)
    response.headers["Location"] = f"/jobs/{job_id}"
    return JobPublic.model_validate(nights.get_job(session, job_id), from_attributes=True)


@router.get("/jobs/{job_id}")
def read_job(
    job_id: Annotated[str, Path(min_length=36, max_length=36)], session: SessionDep, _: Planner
) -> JobPublic:
    """A background job's progress and outcome."""
    job = nights.get_job(session, job_id)
    session.refresh(job)
    return JobPublic.model_validate(job, from_attributes=True)


@router.post("/nights/{night_date}/plan/moves")
def move_night_visit(
    night_date: NightDate,
    body: MoveRequest,
    session: SessionDep,
    clock: ClockDep,
    planner: Planner,
    if_match: IfMatch = None,
) -> MoveResult:
    """Move (and maybe pin) a visit by hand; answered with what it costs. Stale If-Match: 409.

    To a nurse whose phone is silent (the board's ``phone.silent``): a dry run answers with a
    ``nurse_silent`` warning; a saving move or pin needs ``silent_nurse_ok: true`` (else 409
    problem ``nurse-silent`` naming her and since when), and is answered with the warning."""
    region = accounts.get_region(session)
    night = nights.require_night(session, region, night_date)
    result = move_visit(
        session,
        region,
        night,
        visit_id=body.visit_id,
        nurse_code=body.nurse,
        position=body.position,
        pin=body.pin,
        base_version=_version(if_match),
        dry_run=body.dry_run,
        user_id=planner.user_id,
        now=clock(),
        silent_nurse_ok=body.silent_nurse_ok,
    )
    return MoveResult(
        saved=result.version is not None,
        version=result.version,
        affected_nurses=result.affected_nurses,
        consequences=consequences(result.before, result.plan),
        plan=result.plan,
        warnings=[MoveWarning.model_validate(w) for w in result.warnings],
    )


@router.post("/nights/{night_date}/plan/publish")
def publish_night_plan(
    night_date: NightDate,
    session: SessionDep,
    clock: ClockDep,
    _: Planner,
    if_match: IfMatch = None,
) -> PublishResult:
    """Send the current plan to the nurses' phones (each nurse's newest route version)."""
    night = nights.require_night(session, accounts.get_region(session), night_date)
    nights.check_version(session, night, _version(if_match))
    published = nights.publish_routes(session, night, now=clock())
    return PublishResult(
        version=night.plan_version, published_nurse_ids=[r.nurse_id for r in published]
    )


@router.get("/nights/{night_date}/routes")
def list_night_routes(night_date: NightDate, session: SessionDep, _: Planner) -> list[RoutePublic]:
    """Each nurse's newest route version and which version her phone has."""
    night = nights.require_night(session, accounts.get_region(session), night_date)
    result = []
    for route in nights.latest_routes(session, night):
        published = nights.latest_published_route(session, night, route.nurse_id)
        result.append(
            RoutePublic(
                nurse_id=route.nurse_id,
                version=route.version,
                plan_version=route.plan_version,
                published=route.published_at is not None,
                published_version=published.version if published else None,
                steps=route_of(route),
            )
        )
    return result


@router.post("/nights/{night_date}/events", status_code=status.HTTP_201_CREATED)
def report_night_event(
    night_date: NightDate,
    body: EventCreate,
    session: SessionDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    reporter: Reporter,
) -> EventRecorded:
    """A nurse's report (done, delayed, could not get in): the rest of the night is re-planned.

    A nurse reports her own visits only (403 otherwise); planners report for any nurse. A
    change the visit-status rules refuse (e.g. could-not-get-in on a started visit) is 409,
    naming the visit and both statuses (`api.night.visit_states`).
    """
    region = accounts.get_region(session)
    night = nights.require_night(session, region, night_date)
    event_id, result = live.record_nurse_event(
        session,
        reporter,
        region,
        night,
        kind=body.kind,
        nurse_code=body.nurse,
        visit_id=body.visit_id,
        delay_minutes=body.delay_minutes,
        now=clock(),
        replanner=replanner,
    )
    session.refresh(night)
    return EventRecorded(
        event_id=event_id,
        plan_version=result.version if result is not None else night.plan_version,
        affected_nurses=result.affected_nurses if result is not None else [],
        seconds=result.seconds if result is not None else 0.0,
    )
