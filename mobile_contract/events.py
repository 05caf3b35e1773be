"""Events up, offline first: what the phone records and sends in batches.

Units: timestamps UTC (``device_time`` is the phone's clock when it happened), counts,
``[lon, lat]``, metres.

Every event carries a UUID the phone makes when it records the event; the server stores
events by that UUID, so sending a batch again, or batches out of order after hours offline,
changes nothing (see `api.offline_events`). Each event in a batch gets its own result:
``accepted``, ``duplicate`` (already stored, the phone may forget it) or ``rejected`` (with a
reason; retrying will not help).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from mobile_contract._base import (
    ContractModel,
    Identifier,
    ItemQuantity,
    LonLat,
    Metres,
    NotBool,
    PhoneText,
    UtcDateTime,
)
from mobile_contract.bag import BagCheck

__all__ = [
    "ArrivedEvent",
    "BackupUrgency",
    "BatchResult",
    "BreakEvent",
    "CouldNotGetInEvent",
    "CouldNotGetInReason",
    "DelayedEvent",
    "DepartedEvent",
    "Event",
    "EventBatch",
    "EventOutcome",
    "EventResult",
    "EventType",
    "NeedsBackupEvent",
    "ParsedBatch",
    "PositionEvent",
    "RejectReason",
    "ShiftEndEvent",
    "ShiftStartEvent",
    "VisitCompletedEvent",
    "VisitStartedEvent",
    "parse_batch",
]


class EventType(StrEnum):
    """The ``type`` of an event."""

    SHIFT_START = "shift_start"
    DEPARTED = "departed"
    ARRIVED = "arrived"
    VISIT_STARTED = "visit_started"
    VISIT_COMPLETED = "visit_completed"
    COULD_NOT_GET_IN = "could_not_get_in"
    NEEDS_BACKUP = "needs_backup"
    BREAK = "break"
    SHIFT_END = "shift_end"
    POSITION = "position"
    DELAYED = "delayed"


def _type_required(schema: dict[str, Any]) -> None:
    # ``type`` has a default for Python callers, but the phone must always send it.
    required = schema.setdefault("required", [])
    if "type" not in required:
        required.insert(0, "type")


class _EventBase(ContractModel):
    """Units: ``device_time`` UTC. What every event has."""

    model_config = ConfigDict(json_schema_extra=_type_required)

    event_id: UUID = Field(description="made by the phone when it records the event (UUID v4)")
    device_time: UtcDateTime = Field(description="the phone's clock when it happened")


class ShiftStartEvent(_EventBase):
    """The shift begins, with the night bag (nachttas) check."""

    type: Literal["shift_start"] = "shift_start"
    bag_check: BagCheck


class DepartedEvent(_EventBase):
    """The nurse drives off towards a visit (null: towards the base or the end)."""

    type: Literal["departed"] = "departed"
    to_visit_id: Identifier | None


class ArrivedEvent(_EventBase):
    """The nurse is at the client's door."""

    type: Literal["arrived"] = "arrived"
    visit_id: Identifier


class VisitStartedEvent(_EventBase):
    """Care begins."""

    type: Literal["visit_started"] = "visit_started"
    visit_id: Identifier


class VisitCompletedEvent(_EventBase):
    """Units: counts. Care done: tasks, materials from the bag, a hand-over note.

    The note is for the client's own day team, who read it through the partners' API: keep
    it short and factual. A later completion of the same visit replaces an earlier one.
    """

    type: Literal["visit_completed"] = "visit_completed"
    visit_id: Identifier
    tasks_done: list[Identifier] = Field(max_length=50)
    materials_used: list[ItemQuantity] = Field(max_length=50)
    handover_note: PhoneText = Field(default="", max_length=1000)


class CouldNotGetInReason(StrEnum):
    """Why the nurse could not get in; ``key_safe_code_wrong`` flags the code to the client's
    organisation."""

    NO_ANSWER = "no_answer"
    KEY_SAFE_CODE_WRONG = "key_safe_code_wrong"
    KEY_SAFE_MISSING = "key_safe_missing"
    KEY_MISSING = "key_missing"
    DOOR_BLOCKED = "door_blocked"
    OTHER = "other"


class CouldNotGetInEvent(_EventBase):
    """The nurse stood at the door and could not get in."""

    type: Literal["could_not_get_in"] = "could_not_get_in"
    visit_id: Identifier
    reason: CouldNotGetInReason
    note: PhoneText = Field(default="", max_length=500)


class BackupUrgency(StrEnum):
    """How soon back-up is needed."""

    NOW = "now"
    SOON = "soon"


class NeedsBackupEvent(_EventBase):
    """The nurse asks for a colleague (or help) at a visit or where she is."""

    type: Literal["needs_backup"] = "needs_backup"
    visit_id: Identifier | None
    urgency: BackupUrgency
    note: PhoneText = Field(default="", max_length=500)


class BreakEvent(_EventBase):
    """A break begins or ends."""

    type: Literal["break"] = "break"
    phase: Literal["start", "end"]


class ShiftEndEvent(_EventBase):
    """Units: counts. The shift ends; ``bag_counted`` when the nurse counted the bag again."""

    type: Literal["shift_end"] = "shift_end"
    bag_counted: list[ItemQuantity] | None = Field(default=None, max_length=500)


class PositionEvent(_EventBase):
    """Units: ``[lon, lat]``, metres. Where the phone is; sent during a shift only."""

    type: Literal["position"] = "position"
    position: LonLat
    accuracy_metres: Metres


class DelayedEvent(_EventBase):
    """Units: minutes. Held up (a visit running over, a road closed): she can go on only
    ``delay_minutes`` after ``device_time``, so the rest of her night is re-planned.

    Added in v1 after the first phones: an older phone never sends it.
    """

    type: Literal["delayed"] = "delayed"
    delay_minutes: Annotated[
        int, Field(ge=1, le=240, description="minutes from device_time until free"), NotBool
    ]


Event = Annotated[
    ShiftStartEvent
    | DepartedEvent
    | ArrivedEvent
    | VisitStartedEvent
    | VisitCompletedEvent
    | CouldNotGetInEvent
    | NeedsBackupEvent
    | BreakEvent
    | ShiftEndEvent
    | PositionEvent
    | DelayedEvent,
    Field(discriminator="type"),
]


class EventBatch(ContractModel):
    """Units: timestamps UTC. Events the phone recorded, oldest first (order is not relied on).

    ``sent_at`` is the phone's clock at the moment it sends this request (set again on every
    send, also of a batch held offline for hours): the server takes the time it receives
    the batch minus ``sent_at`` as how far the phone's clock is off, and corrects the batch's
    ``device_time`` values by it (offsets of a minute or less, or over 36 hours, are not
    applied). Optional for old clients: without it, device times are used as sent, clamped
    to the night and the server's clock.
    """

    sent_at: UtcDateTime | None = None
    events: list[Event] = Field(min_length=1, max_length=500)


class _Envelope(ContractModel):
    """An `EventBatch` whose events are not read yet."""

    sent_at: UtcDateTime | None = None
    events: list[Any] = Field(min_length=1, max_length=500)


class EventOutcome(StrEnum):
    """What became of one event of a batch."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class RejectReason(StrEnum):
    """Why an event was rejected; the phone keeps it visible and does not resend it."""

    INVALID = "invalid"
    UNKNOWN_VISIT = "unknown_visit"
    NOT_YOUR_VISIT = "not_your_visit"
    ID_REUSED = "id_reused"
    VISIT_STATE = "visit_state"


class EventResult(ContractModel):
    """The outcome of the event at ``index`` in the batch (``event_id`` null if unreadable)."""

    index: Annotated[int, Field(ge=0)]
    event_id: UUID | None
    outcome: EventOutcome
    reason: RejectReason | None = None
    message: str = Field(default="", max_length=300)


class BatchResult(ContractModel):
    """Units: timestamps UTC. One result per event, in the batch's order.

    ``route_version`` is the route's version after the batch; if it differs from the phone's,
    the phone fetches the route.
    """

    received_at: UtcDateTime
    results: list[EventResult]
    route_version: Annotated[int, Field(ge=0)]


_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A batch read one event at a time: the readable events with their index, and results
    for the unreadable ones (``rejected``/``invalid``), so one bad event does not block the
    phone's whole outbox."""

    sent_at: datetime | None
    events: list[tuple[int, Event]]
    rejected: list[EventResult]


def parse_batch(body: bytes | str) -> ParsedBatch:
    """Read an `EventBatch` body leniently; ``ValueError`` only if the envelope is unreadable.

    Error messages name the field, never the value sent (notes and positions stay out of
    logs).
    """
    try:
        envelope = _Envelope.model_validate_json(body)
    except ValidationError as error:
        raise ValueError(_first_error(error)) from None
    events: list[tuple[int, Event]] = []
    rejected: list[EventResult] = []
    for index, raw in enumerate(envelope.events):
        try:
            events.append((index, _EVENT.validate_python(raw)))
        except ValidationError as error:
            rejected.append(
                EventResult(
                    index=index,
                    event_id=_event_id(raw),
                    outcome=EventOutcome.REJECTED,
                    reason=RejectReason.INVALID,
                    message=_first_error(error)[:300],
                )
            )
    return ParsedBatch(sent_at=envelope.sent_at, events=events, rejected=rejected)


def _event_id(raw: object) -> UUID | None:
    if isinstance(raw, dict):
        try:
            return UUID(str(raw.get("event_id")))
        except ValueError:
            return None
    return None


def _first_error(error: ValidationError) -> str:
    item = error.errors(include_input=False, include_url=False)[0]
    path = ".".join(str(part) for part in item["loc"]) or "(top level)"
    return f"{path}: {item['msg']}"
