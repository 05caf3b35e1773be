"""Partners' visit requests: planned care (a window, maybe recurring) or unplanned care."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from api.schemas.accounts import Skill
from api.schemas.common import ClockTime, Instant, NotBool, Strict

__all__ = [
    "LinkAfter",
    "PlannedRequestCreate",
    "Recurrence",
    "UnplannedRequestCreate",
    "VisitOutcome",
    "VisitRequestAmend",
    "VisitRequestCancel",
    "VisitRequestCreate",
    "VisitRequestPublic",
    "Window",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CareTask = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$", examples=["medication", "turn"])]
Minutes = Annotated[int, Field(ge=1, le=240, description="minutes of care at the door"), NotBool]
NightDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2200, 1, 1))]


class Window(Strict):
    """When care must start, wall-clock; ``00:30`` in the night of the 23rd is the 24th."""

    start: ClockTime
    end: ClockTime


class Recurrence(Strict):
    """Night care that repeats: every night, or on the given weekdays (of the evening)."""

    weekdays: list[Weekday] | None = Field(
        default=None, description="evenings the care is given; null = every night"
    )
    until: NightDate = Field(description="last night (inclusive)")
    cancelled_nights: list[NightDate] = Field(
        default_factory=list,
        max_length=400,
        description=(
            "nights (evening dates) whose care is not given: cancelled one at a time "
            "(`POST .../cancel` with `night`), or left out from the start"
        ),
    )


class LinkAfter(Strict):
    """This care starts ``min_minutes``..``max_minutes`` after the care of request
    ``request_id`` (the same partner's) starts on the same night: "check 60-90 min after the
    injection" is ``{"request_id": 17, "min_minutes": 60, "max_minutes": 90}``; a second nurse
    at the same moment is ``0``..``2`` with ``nurse: "different"``. Either may be two-person
    care (``nurses_needed: 2``): the gap then holds from each of its nurses' starts,
    ``different`` means no nurse of the one is a nurse of the other, ``same`` that the nurse
    of one-nurse care is one of the two. The night plans both or neither, and says why."""

    request_id: Annotated[int, Field(ge=1, le=2**31 - 1), NotBool]
    min_minutes: Annotated[int, Field(ge=0, le=720), NotBool]
    max_minutes: Annotated[int, Field(ge=0, le=720), NotBool]
    nurse: Literal["any", "different", "same"] = Field(
        default="any", description="whether a different (or the same) nurse must do it"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_minutes < self.min_minutes:
            raise ValueError("max_minutes is below min_minutes")
        return self


class _RequestBase(Strict):
    client_id: Annotated[int, Field(ge=1, le=2**31 - 1), NotBool]
    care_task: CareTask
    service_minutes: Minutes
    required_skills: list[Skill] = Field(default_factory=list)
    nurses_needed: Annotated[Literal[1, 2], NotBool] = 1
    after: LinkAfter | None = Field(
        default=None, description="linked care: starts min..max minutes after another request"
    )


class PlannedRequestCreate(_RequestBase):
    """Planned night care in an agreed window, on ``night`` (and recurring if asked)."""

    kind: Literal["planned"]
    night: NightDate = Field(description="the evening's date of the (first) night")
    window: Window
    recurrence: Recurrence | None = None

    @model_validator(mode="after")
    def _until_after_first(self) -> Self:
        if self.recurrence is not None and self.recurrence.until < self.night:
            raise ValueError("recurrence.until is before the first night")
        return self


class UnplannedRequestCreate(_RequestBase):
    """Unplanned care: as soon as the urgency asks (acute 30 min, urgent 60, soon 120)."""

    kind: Literal["unplanned"]
    urgency: Literal["acute", "urgent", "soon"]
    call_time: Instant | None = Field(
        default=None, description="default: now; a time in tonight's night"
    )


VisitRequestCreate = Annotated[
    PlannedRequestCreate | UnplannedRequestCreate, Field(discriminator="kind")
]


class VisitRequestAmend(Strict):
    """What a partner may change; left out means unchanged."""

    window: Window | None = None
    service_minutes: Minutes | None = None
    required_skills: list[Skill] | None = None
    recurrence_until: NightDate | None = None
    after: LinkAfter | None = Field(
        default=None,
        description=(
            "linked care: a new gap, nurse rule or earlier request (checked as when "
            "submitted); `null` removes the link, the care is then planned on its own; "
            "left out: unchanged"
        ),
    )


class VisitRequestCancel(Strict):
    """What to cancel: one night's care of a request (``night``), or, left out, the whole
    request with every visit that has not begun."""

    night: NightDate | None = Field(
        default=None,
        description=(
            "the evening's date of the one night to cancel (recurring care: the other nights "
            "stay); must be a night the request gives care on"
        ),
    )
    reason: Literal["not_needed", "handed_to_backup"] = Field(
        default="not_needed",
        description=(
            "why: the care is no longer needed, or it is handed to the back-up partner "
            "because the night team cannot be there in time (counted in the month report's "
            "calls_handed_off / planned_handed_off, against the team's response figures)"
        ),
    )


class VisitOutcome(BaseModel):
    """One night's visit of a request and what became of it."""

    visit_id: int
    night: date
    status: str = Field(description="open, started, done, could_not_get_in, cancelled")
    planned: bool = Field(description="in the current plan")
    nurse: str | None = Field(default=None, description="the nurse's code (not her name)")
    expected_start: datetime | None = None
    not_planned_reason: str | None = Field(
        default=None,
        description=(
            "why the visit is not in the current plan (null when it is, or when it is "
            "cancelled or over). Not in it yet: `replan_pending` (the re-plan that takes it "
            "in is under way: read the request again in a few seconds) or "
            "`night_not_planned_yet` (the night has no plan yet; the planner makes the "
            "first). Left out by the plan: `no_skilled_nurse`, `not_enough_nurses`, "
            "`outside_shifts`, `unreachable_in_window`, `pin_infeasible`, `no_capacity`, "
            "`no_plan_in_time`, `displaced`, `could_not_get_in`, `link_infeasible`, "
            "`window_passed`, `held_by_planner`"
        ),
    )
    late: bool = Field(
        default=False,
        description="planned, but later than its urgency's target or its window allows",
    )
    expected_lateness_minutes: int | None = Field(
        default=None,
        description="how late the planned start is, in whole minutes rounded up (late only)",
    )


class VisitRequestPublic(BaseModel):
    """A request, its status, and the outcome of each of its visits."""

    id: int
    organisation_id: int
    client_id: int
    kind: str
    urgency: str
    care_task: str
    status: str
    version: int
    first_night: date
    window: Window | None
    recurrence: Recurrence | None
    service_minutes: int
    required_skills: list[str]
    nurses_needed: int
    created_at: datetime
    visits: list[VisitOutcome]
    live_replan: LiveReplan | None = None
    after: LinkAfter | None = Field(default=None, description="the request this care follows")


class LiveReplan(BaseModel):
    """What the live re-plan did with this request."""

    plan_version: int | None = Field(description="the plan that has it; null while pending")
    affected_nurses: list[str]
    seconds: float
    pending: bool = Field(
        default=False, description="the re-plan failed for now; it follows in the background"
    )
    fallback: str | None = Field(
        default=None,
        description="the solver failed: the last good plan with the new call inserted is used",
    )
