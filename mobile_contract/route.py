"""My route: the nurse's shift as ordered, typed steps, and the notice that it changed.

Units: timestamps UTC ISO 8601, durations seconds, distances metres, coordinates
``[lon, lat]``; a leg's line is a Google encoded polyline (precision 1e-5, (lat, lon) order as
that format defines; see `mobile_contract.polyline`).

The route says whether a key safe (sleutelkluis) is present, **never its code**: the code is
revealed by its own call (`mobile_contract.keysafe`), logged, and never cached.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from mobile_contract._base import (
    ContractModel,
    Identifier,
    ItemQuantity,
    LonLat,
    Metres,
    Seconds,
    UtcDateTime,
    UtcWindow,
)

__all__ = [
    "Access",
    "Address",
    "BreakStep",
    "ClientAtTheDoor",
    "EndStep",
    "Leg",
    "LinkedVisit",
    "MaterialToTake",
    "MyRoute",
    "RestockStep",
    "RouteChangeReason",
    "RouteChangedNotice",
    "RouteStep",
    "RouteSummary",
    "StartStep",
    "Task",
    "VisitProgress",
    "VisitStep",
]


class Leg(ContractModel):
    """Units: metres and seconds. The drive from the previous step to this one."""

    distance_metres: Metres
    travel_seconds: Seconds
    polyline: str = Field(
        max_length=20_000,
        description="Google encoded polyline, precision 1e-5, points in (lat, lon) order "
        "as that format defines; empty when no road geometry is known",
    )


class Address(ContractModel):
    """Units: ``location`` is ``[lon, lat]``. Where the step is."""

    street: str = Field(max_length=120, examples=["Voorbeeldstraat"])
    house_number: str = Field(max_length=20, examples=["1"])
    postcode: str = Field(max_length=12, examples=["9999 ZZ"])
    city: str = Field(max_length=80, examples=["Voorbeeldstad"])
    location: LonLat


class Access(ContractModel):
    """How to get in. Whether a key safe (sleutelkluis) is there, never its code."""

    instructions: str = Field(
        default="", max_length=500, description="e.g. 'back door, key safe left of it'"
    )
    key_safe_present: bool = Field(
        description="true: the code can be revealed by POST .../keysafe/reveal near the ETA"
    )


class ClientAtTheDoor(ContractModel):
    """What the nurse needs to know at the door, no more (data minimisation)."""

    display_name: str = Field(
        max_length=80, description="how to address the client", examples=["Mw. Testpersoon"]
    )
    door_notes: str = Field(
        default="",
        max_length=500,
        description="e.g. 'hard of hearing: ring twice, wait'; no diagnoses",
    )


class Task(ContractModel):
    """One thing to do at the visit."""

    task_id: Identifier
    label: str = Field(max_length=200, examples=["Insuline toedienen / give insulin"])


class MaterialToTake(ContractModel):
    """Units: a count. What to take from the night bag (nachttas) into the house."""

    item_id: Identifier
    label: str = Field(max_length=120)
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class VisitProgress(StrEnum):
    """Where a visit stands, as the server last knew it (the phone may know better)."""

    PLANNED = "planned"
    EN_ROUTE = "en_route"
    ARRIVED = "arrived"
    STARTED = "started"
    COMPLETED = "completed"
    COULD_NOT_GET_IN = "could_not_get_in"


class _StepBase(ContractModel):
    """Units: timestamps UTC. What every step has: when, and the drive to it."""

    eta: UtcDateTime = Field(description="expected arrival")
    start: UtcDateTime = Field(description="expected start at the step (after any waiting)")
    end: UtcDateTime = Field(description="expected end at the step")
    leg: Leg | None = Field(description="the drive from the previous step; null for the first")


class StartStep(_StepBase):
    """The shift begins here (usually the team's base)."""

    type: Literal["start"] = "start"
    location: LonLat


class LinkedVisit(ContractModel):
    """Units: minutes. Linked care: this visit starts ``min_minutes``..``max_minutes``
    ``after`` (or ``before``) visit ``visit_id`` starts, e.g. a check 60-90 min after an
    injection; the other visit may be on a colleague's route."""

    visit_id: Identifier
    relation: Literal["after", "before"] = Field(
        description="after: this visit follows visit_id; before: visit_id follows this one"
    )
    min_minutes: Annotated[int, Field(ge=0, le=1440)]
    max_minutes: Annotated[int, Field(ge=0, le=1440)]


class VisitStep(_StepBase):
    """A visit to a client's home."""

    type: Literal["visit"] = "visit"
    visit_id: Identifier
    client: ClientAtTheDoor
    address: Address
    access: Access
    window: UtcWindow | None = Field(
        description="planned care: the agreed window for the start; null for unplanned care"
    )
    urgency: Identifier = Field(
        description="urgency class: acute, urgent, soon, planned, or a region's own class",
        examples=["planned"],
    )
    service_seconds: Seconds
    tasks: list[Task] = Field(max_length=50)
    materials: list[MaterialToTake] = Field(max_length=50)
    with_nurse: str | None = Field(
        description="two-person visit: the colleague's display name; null when alone"
    )
    progress: VisitProgress
    linked: list[LinkedVisit] = Field(
        default_factory=list,
        max_length=10,
        description="linked care: the visits this one must follow or precede (issue 13)",
    )


class BreakStep(_StepBase):
    """The nurse's break; ``location`` null when taken wherever she is."""

    type: Literal["break"] = "break"
    location: LonLat | None


class RestockStep(_StepBase):
    """A stop at the base to refill the night bag (nachttas)."""

    type: Literal["restock"] = "restock"
    location: LonLat
    items: list[ItemQuantity] = Field(description="what to take to bring the bag back to full")


class EndStep(_StepBase):
    """The shift ends here."""

    type: Literal["end"] = "end"
    location: LonLat


RouteStep = Annotated[
    StartStep | VisitStep | BreakStep | RestockStep | EndStep, Field(discriminator="type")
]


class RouteSummary(ContractModel):
    """Units: metres, seconds. What the route adds up to."""

    visit_count: Annotated[int, Field(ge=0)]
    distance_metres: Metres
    travel_seconds: Seconds


class MyRoute(ContractModel):
    """Units: timestamps UTC, seconds, metres, ``[lon, lat]``. The nurse's shift tonight.

    ``version`` grows by one with every change the server publishes; the response's ``ETag``
    is derived from the route (`mobile_contract.http.route_etag`), so a phone that sends
    ``If-None-Match`` gets 304 when nothing changed.
    """

    nurse_id: Identifier
    shift_id: Identifier
    version: Annotated[int, Field(ge=1)]
    generated_at: UtcDateTime
    shift: UtcWindow
    steps: list[RouteStep] = Field(min_length=2, max_length=200)
    summary: RouteSummary


class RouteChangeReason(StrEnum):
    """Why the route changed."""

    REPLANNED = "replanned"
    VISIT_ADDED = "visit_added"
    VISIT_REMOVED = "visit_removed"
    VISIT_MOVED = "visit_moved"
    DETAILS_CHANGED = "details_changed"
    SHIFT_CHANGED = "shift_changed"


class RouteChangedNotice(ContractModel):
    """Units: timestamps UTC. One message of the route-changed SSE stream.

    ``event_id`` is the SSE ``id:``; it grows per nurse, so a phone that reconnects with
    ``Last-Event-ID`` gets every notice after it. The notice carries no personal data: the
    phone fetches ``GET /mobile/v1/me/route`` for the new version.
    """

    event_id: Annotated[int, Field(ge=1)]
    nurse_id: Identifier
    route_version: Annotated[int, Field(ge=1)]
    changed_at: UtcDateTime
    reason: RouteChangeReason
    visit_ids: list[Identifier] = Field(
        default_factory=list, description="visits that moved, came or went; may be empty"
    )
