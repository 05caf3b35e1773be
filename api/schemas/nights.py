"""The planner's view of a night: plan versions, visits, moves, jobs, nurse events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.night.stored import StoredStep
from api.schemas.common import NotBool, Strict
from optimizer.plan import Plan, Violation

__all__ = [
    "EventCreate",
    "EventRecorded",
    "JobPublic",
    "MoveRequest",
    "MoveResult",
    "NightPlan",
    "PlanVersionSummary",
    "ReoptimiseRequest",
    "RoutePublic",
    "VisitLink",
    "VisitPublic",
]


class VisitLink(BaseModel):
    """Linked care (issue 13): this visit starts ``min_minutes``..``max_minutes`` after
    ``visit_id`` (tonight's visit of ``request_id``) starts, by the nurse ``nurse`` says."""

    visit_id: int | None = Field(description="the earlier visit tonight; null if none tonight")
    request_id: int
    min_minutes: int
    max_minutes: int
    nurse: str = Field(description="any, different or same")


class VisitPublic(BaseModel):
    """A visit of the night (no personal data: the client is a reference)."""

    id: int
    request_id: int
    organisation_id: int
    client_id: int
    urgency: str
    window_start: int | None = Field(description="seconds from the night's start")
    window_end: int | None
    call_time: int | None
    service_seconds: int
    required_skills: list[str]
    nurses_needed: int
    status: str
    pinned_to_nurse_id: int | None
    after: VisitLink | None = Field(default=None, description="linked care: what it follows")


class NightPlan(BaseModel):
    """The night's current plan (seconds from ``starts_at``) and its visits."""

    night: date
    starts_at: datetime
    ends_at: datetime
    version: int = Field(description="send as If-Match with every change")
    plan: Plan | None
    visits: list[VisitPublic]
    replan_pending: bool = Field(
        default=False, description="a change is taken and its re-plan is still to be stored"
    )
    fallback: str | None = Field(
        default=None,
        description=(
            "the solver failed for the current plan: it is the last good plan with the new "
            "calls inserted (check it by hand); null when the solver made it"
        ),
    )


class PlanVersionSummary(BaseModel):
    version: int
    reason: str
    created_at: datetime
    created_by_user_id: int | None
    live: bool = Field(default=False, description="an automatic live re-plan")
    fallback: str | None = Field(default=None, description="why the solver's answer is missing")


class ReoptimiseRequest(Strict):
    time_limit_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0


class JobPublic(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: list[str]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class MoveRequest(Strict):
    """Move a visit to a nurse (at a stop position, or last), or out of the plan (nurse null)."""

    visit_id: Annotated[int, Field(ge=1, le=2**31 - 1), NotBool]
    nurse: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,16}$")] | None
    position: Annotated[int, Field(ge=0, le=500), NotBool] | None = None
    pin: bool = Field(default=False, description="keep it with this nurse in later re-plans")
    dry_run: bool = Field(default=False, description="only show the consequences")
    silent_nurse_ok: bool = Field(
        default=False,
        description="the planner knows the nurse's phone is silent (reached her otherwise); "
        "without it a move or pin to a silent nurse is 409 nurse-silent",
    )


class Consequences(BaseModel):
    """What a hand-made change does to the night."""

    violations: list[Violation]
    travel_seconds_change: int
    late_visits_change: int
    lateness_seconds_change: int
    unassigned_change: int
    later_visits: dict[str, int] = Field(description="visit id -> seconds later than before")


class MoveWarning(BaseModel):
    """Something the planner should know about a move that is allowed."""

    code: Literal["nurse_silent"]
    nurse: str
    message: str
    silent_since: datetime
    heard_at: datetime


class MoveResult(BaseModel):
    saved: bool
    version: int | None
    affected_nurses: list[str]
    consequences: Consequences
    plan: Plan
    warnings: list[MoveWarning] = Field(default_factory=list)


class RoutePublic(BaseModel):
    """A nurse's newest route version and what her phone was last sent."""

    nurse_id: int
    version: int
    plan_version: int
    published: bool
    published_version: int | None
    steps: list[StoredStep] = Field(description="seconds from the night's start")


class EventCreate(Strict):
    """A nurse's report: started, done, delayed (minutes), could not get in."""

    kind: Literal["started", "done", "delayed", "could_not_get_in"]
    visit_id: Annotated[int, Field(ge=1, le=2**31 - 1), NotBool] | None = None
    nurse: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,16}$")] | None = Field(
        default=None, description="the nurse's code (planners reporting for her)"
    )
    delay_minutes: Annotated[int, Field(ge=1, le=240), NotBool] | None = None


class EventRecorded(BaseModel):
    event_id: int
    plan_version: int
    affected_nurses: list[str]
    seconds: float


class PublishResult(BaseModel):
    version: int
    published_nurse_ids: list[int]
