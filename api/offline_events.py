"""Offline-first events: each stored once under its phone-made UUID, the shift's state replayed.

A phone offline for two hours sends its batches late, twice, or out of order. So the server
never updates state event by event: it stores each event once, keyed by ``event_id``, and
derives the shift's state by replaying every stored event sorted by ``(time, event_id)``,
each event's time being its device time on the server's clock (the batch's clock offset
added, `api.night.device_time`). The state is then a function of the *set* of events;
repeats and arrival order cannot change it, and nothing is doubled or lost.

Where the order of the phone's clock could still matter, the rules do not depend on it: a
visit's progress only moves forward (a late-arriving ``arrived`` does not undo
``completed``), and a visit completed twice counts the later completion only.

Storage is passed in as an `EventStore`; `InMemoryEventStore` is the reference
implementation the tests use (the API's repository does the same with a unique index on
``event_id`` and ``INSERT ... ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from api.night.device_time import (
    DeviceClock,
    batch_clock_offset,
    corrected_time,
    event_clock_offset,
)
from api.night.visit_states import PROGRESS_RANK
from mobile_contract._base import ItemQuantity
from mobile_contract.bag import BagCheck
from mobile_contract.events import (
    ArrivedEvent,
    BackupUrgency,
    BreakEvent,
    CouldNotGetInEvent,
    CouldNotGetInReason,
    DepartedEvent,
    Event,
    EventBatch,
    EventOutcome,
    EventResult,
    NeedsBackupEvent,
    PositionEvent,
    RejectReason,
    ShiftEndEvent,
    ShiftStartEvent,
    VisitCompletedEvent,
    VisitStartedEvent,
)
from mobile_contract.route import VisitProgress
from optimizer.model import VisitState

__all__ = [
    "BackupRequest",
    "EventStore",
    "InMemoryEventStore",
    "ShiftState",
    "StoredEvent",
    "VisitCheck",
    "VisitRecord",
    "apply_batch",
    "derive_state",
    "fingerprint",
    "optimizer_visit_updates",
]

#: How far each progress is along (the night's one set of rules); progress only moves
#: forward, whatever the arrival order.
_RANK = PROGRESS_RANK


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: whose, from which phone, for which shift, and its fingerprint;
    ``clock_offset``: how far the phone's clock was behind the server's when it sent the
    event, in seconds (``None``: not known; `api.night.device_time`)."""

    nurse_id: str
    device_id: str
    shift_id: str
    received_at: datetime
    event: Event
    fingerprint: str
    clock_offset: int | None = None
    #: The batch's ``sent_at`` by the phone's clock (None: an old client).
    sent_at: datetime | None = None

    @property
    def at(self) -> datetime:
        """When the event happened by the server's clock, as far as the phone can tell."""
        return corrected_time(self.event.device_time, self.clock_offset, self.received_at)


def fingerprint(event: Event) -> str:
    """A hash of the event's content, to tell a resend from a different event reusing an id."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


class EventStore(Protocol):
    """Where events are kept (the API's repository implements this over its database)."""

    def insert_if_absent(self, stored: StoredEvent) -> StoredEvent | None:
        """Store ``stored`` unless its ``event_id`` is taken; the stored one if it is.

        Must be atomic (a unique index on ``event_id``), so two uploads of the same batch
        at once still store each event once.
        """
        ...

    def insert_all_if_absent(self, batch: Sequence[StoredEvent]) -> list[StoredEvent | None]:
        """`insert_if_absent` for each of ``batch`` in order, in one go: per event ``None``
        when stored now, else the event stored with its id (earlier in the batch, too)."""
        ...

    def for_shift(self, nurse_id: str, shift_id: str) -> Sequence[StoredEvent]:
        """Every stored event of the nurse's shift, in any order."""
        ...


@dataclass
class InMemoryEventStore:
    """An `EventStore` in a dict: the reference behaviour, for tests."""

    events: dict[UUID, StoredEvent] = field(default_factory=dict)

    def insert_if_absent(self, stored: StoredEvent) -> StoredEvent | None:
        """Store unless the id is taken; the stored event if it is."""
        existing = self.events.get(stored.event.event_id)
        if existing is None:
            self.events[stored.event.event_id] = stored
        return existing

    def insert_all_if_absent(self, batch: Sequence[StoredEvent]) -> list[StoredEvent | None]:
        """`insert_if_absent` for each, in order."""
        return [self.insert_if_absent(stored) for stored in batch]

    def for_shift(self, nurse_id: str, shift_id: str) -> list[StoredEvent]:
        """The nurse's events of the shift."""
        return [
            e for e in self.events.values() if e.nurse_id == nurse_id and e.shift_id == shift_id
        ]


#: Checks a visit id named by an event: None when the nurse may record events on it, else why
#: not (`RejectReason.UNKNOWN_VISIT`, `RejectReason.NOT_YOUR_VISIT`). A visit re-planned to a
#: colleague while the nurse was offline must still pass: what she did there is history.
VisitCheck = Callable[[str], RejectReason | None]


def _visit_of(event: Event) -> str | None:
    if isinstance(event, DepartedEvent):
        return event.to_visit_id
    if isinstance(event, NeedsBackupEvent):
        return event.visit_id
    if isinstance(
        event, ArrivedEvent | VisitStartedEvent | VisitCompletedEvent | CouldNotGetInEvent
    ):
        return event.visit_id
    return None


def apply_batch(
    store: EventStore,
    events: EventBatch | Iterable[tuple[int, Event]],
    *,
    nurse_id: str,
    device_id: str,
    shift_id: str,
    received_at: datetime,
    check_visit: VisitCheck,
    sent_at: datetime | None = None,
    previous: DeviceClock | None = None,
) -> list[EventResult]:
    """Store a batch's events, each once; one result per event, by its index in the batch.

    ``accepted``: newly stored. ``duplicate``: the same event was stored before (the phone
    may forget it). ``rejected``: an event id reused for different content or by another
    nurse (``id_reused``), or a visit the check refuses. Pair with
    `mobile_contract.events.parse_batch` so unreadable events are rejected one by one.
    ``sent_at`` (the batch's, by the phone's clock) gives each event its clock offset,
    judged against the device's ``previous`` batch (`api.night.device_time`).
    """
    if isinstance(events, EventBatch):
        sent_at = events.sent_at if sent_at is None else sent_at
    offset = batch_clock_offset(sent_at, received_at, previous)
    indexed = enumerate(events.events) if isinstance(events, EventBatch) else events
    results: list[EventResult] = []
    checked: list[tuple[int, Event, StoredEvent]] = []
    for index, event in indexed:
        visit_id = _visit_of(event)
        problem = check_visit(visit_id) if visit_id is not None else None
        if problem is not None:
            results.append(_result(index, event, EventOutcome.REJECTED, problem, visit_id))
            continue
        stored = StoredEvent(
            nurse_id=nurse_id,
            device_id=device_id,
            shift_id=shift_id,
            received_at=received_at,
            event=event,
            fingerprint=fingerprint(event),
            clock_offset=event_clock_offset(event.device_time, sent_at, offset),
            sent_at=sent_at,
        )
        checked.append((index, event, stored))
    # Stored in one go (one statement in the database): as one by one, in the batch's order.
    earlier = store.insert_all_if_absent([stored for _, _, stored in checked])
    for (index, event, stored), existing in zip(checked, earlier, strict=True):
        if existing is None:
            results.append(_result(index, event, EventOutcome.ACCEPTED))
        elif existing.nurse_id == nurse_id and existing.fingerprint == stored.fingerprint:
            results.append(_result(index, event, EventOutcome.DUPLICATE))
        else:
            results.append(_result(index, event, EventOutcome.REJECTED, RejectReason.ID_REUSED))
    return sorted(results, key=lambda result: result.index)


def _result(
    index: int,
    event: Event,
    outcome: EventOutcome,
    reason: RejectReason | None = None,
    visit_id: str | None = None,
) -> EventResult:
    message = {
        None: "",
        RejectReason.ID_REUSED: "this event_id was already used for a different event",
        RejectReason.UNKNOWN_VISIT: f"no visit {visit_id} tonight",
        RejectReason.NOT_YOUR_VISIT: f"visit {visit_id} is not one you may record",
        RejectReason.INVALID: "the event does not match the contract",
        RejectReason.VISIT_STATE: f"visit {visit_id} cannot change this way",
    }[reason]
    return EventResult(
        index=index, event_id=event.event_id, outcome=outcome, reason=reason, message=message
    )


# --------------------------------------------------------------------------- derived state


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """What the events say about one visit; timestamps UTC (the phone's clock)."""

    visit_id: str
    progress: VisitProgress = VisitProgress.PLANNED
    departed_at: datetime | None = None
    arrived_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    tasks_done: tuple[str, ...] = ()
    materials_used: Mapping[str, int] = field(default_factory=dict)
    handover_note: str = ""
    could_not_get_in: tuple[CouldNotGetInReason, ...] = ()


@dataclass(frozen=True, slots=True)
class BackupRequest:
    """A call for back-up, for the planner's screen."""

    event_id: UUID
    at: datetime
    visit_id: str | None
    urgency: BackupUrgency
    note: str


@dataclass(frozen=True, slots=True)
class ShiftState:
    """A shift as its events tell it. Equal sets of events give equal states.

    ``materials_used`` totals what the latest completion of each visit used (counts);
    ``key_safe_flags`` are visits where the code did not work (for the client's
    organisation); ``last_position`` is ``(device_time, [lon, lat], accuracy metres)``.
    """

    event_count: int = 0
    shift_started_at: datetime | None = None
    shift_ended_at: datetime | None = None
    bag_check: BagCheck | None = None
    bag_counted_at_end: tuple[ItemQuantity, ...] | None = None
    visits: Mapping[str, VisitRecord] = field(default_factory=dict)
    breaks: tuple[tuple[datetime, datetime | None], ...] = ()
    backup_requests: tuple[BackupRequest, ...] = ()
    last_position: tuple[datetime, tuple[float, float], float] | None = None
    materials_used: Mapping[str, int] = field(default_factory=dict)
    key_safe_flags: tuple[str, ...] = ()

    @property
    def on_break(self) -> bool:
        """Whether the last break has begun and not ended."""
        return bool(self.breaks) and self.breaks[-1][1] is None


def derive_state(events: Iterable[StoredEvent | Event]) -> ShiftState:
    """Replay ``events`` (duplicates by ``event_id`` ignored) into the shift's state."""
    unique: dict[UUID, Event] = {}
    received: dict[UUID, datetime] = {}
    times: dict[UUID, datetime] = {}
    for item in events:
        event = item.event if isinstance(item, StoredEvent) else item
        unique.setdefault(event.event_id, event)
        if isinstance(item, StoredEvent):
            # The first arrival counts (a store keeps one copy; any order gives the same).
            first = received.get(event.event_id)
            if first is None or item.received_at < first:
                received[event.event_id] = item.received_at
                times[event.event_id] = item.at
    # Each event at its time on the server's clock (its batch's clock offset added).
    at = {key: times.get(key, event.device_time) for key, event in unique.items()}
    ordered = sorted(unique.values(), key=lambda e: (at[e.event_id], e.event_id))

    replay = _Replay()
    for event in ordered:
        replay.apply(event, at[event.event_id])
    replay.position = _newest_position(ordered, received, at)
    return replay.state(len(ordered))


def position_time(device_time: datetime, received_at: datetime | None) -> datetime:
    """When a position was where it says: the phone's time (its clock offset added), but
    never after it reached the server (a phone clock hours ahead would otherwise pin her
    last position all night)."""
    return device_time if received_at is None else min(device_time, received_at)


def _newest_position(
    ordered: list[Event], received: Mapping[UUID, datetime], at: Mapping[UUID, datetime]
) -> tuple[datetime, tuple[float, float], float] | None:
    positions = [e for e in ordered if isinstance(e, PositionEvent)]
    if not positions:
        return None
    newest = max(
        positions,
        key=lambda e: (position_time(at[e.event_id], received.get(e.event_id)), e.event_id),
    )
    when = position_time(at[newest.event_id], received.get(newest.event_id))
    return (when, newest.position, newest.accuracy_metres)


@dataclass
class _Visit:
    progress: VisitProgress = VisitProgress.PLANNED
    departed_at: datetime | None = None
    arrived_at: datetime | None = None
    started_at: datetime | None = None
    completion: VisitCompletedEvent | None = None
    completed_at: datetime | None = None
    could_not_get_in: list[CouldNotGetInReason] = field(default_factory=list)

    def advance(self, progress: VisitProgress) -> None:
        if _RANK[progress] > _RANK[self.progress]:
            self.progress = progress


@dataclass
class _Replay:
    """Applies events in (time, event_id) order (`StoredEvent.at`); `state` freezes the result."""

    started: datetime | None = None
    ended: datetime | None = None
    bag_check: BagCheck | None = None
    bag_at_end: tuple[ItemQuantity, ...] | None = None
    visits: dict[str, _Visit] = field(default_factory=dict)
    breaks: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    backups: list[BackupRequest] = field(default_factory=list)
    position: tuple[datetime, tuple[float, float], float] | None = None

    def visit(self, visit_id: str) -> _Visit:
        return self.visits.setdefault(visit_id, _Visit())

    def apply(self, event: Event, at: datetime) -> None:
        """``at``: when the event happened by the server's clock (`StoredEvent.at`)."""
        if isinstance(event, ShiftStartEvent):
            self.started = self.started or at
            self.bag_check = event.bag_check  # a recount replaces the first count
        elif isinstance(event, DepartedEvent):
            if event.to_visit_id is not None:
                visit = self.visit(event.to_visit_id)
                visit.departed_at = at
                visit.advance(VisitProgress.EN_ROUTE)
        elif isinstance(event, ArrivedEvent):
            visit = self.visit(event.visit_id)
            visit.arrived_at = visit.arrived_at or at
            visit.advance(VisitProgress.ARRIVED)
        elif isinstance(event, VisitStartedEvent):
            visit = self.visit(event.visit_id)
            visit.started_at = visit.started_at or at
            visit.advance(VisitProgress.STARTED)
        elif isinstance(event, VisitCompletedEvent):
            visit = self.visit(event.visit_id)
            visit.completion = event  # the later completion replaces the earlier one
            visit.completed_at = at
            visit.advance(VisitProgress.COMPLETED)
        elif isinstance(event, CouldNotGetInEvent):
            visit = self.visit(event.visit_id)
            visit.could_not_get_in.append(event.reason)
            visit.advance(VisitProgress.COULD_NOT_GET_IN)
        elif isinstance(event, NeedsBackupEvent):
            self.backups.append(
                BackupRequest(event.event_id, at, event.visit_id, event.urgency, event.note)
            )
        elif isinstance(event, BreakEvent):
            if event.phase == "start":
                self.breaks.append((at, None))
            elif self.breaks and self.breaks[-1][1] is None:
                self.breaks[-1] = (self.breaks[-1][0], at)
            else:
                # An end without its start (the start event is not here yet, or was lost).
                self.breaks.append((at, at))
        elif isinstance(event, ShiftEndEvent):
            self.ended = at
            if event.bag_counted is not None:
                self.bag_at_end = tuple(event.bag_counted)
        elif isinstance(event, PositionEvent):
            pass  # the newest by `position_time`, after the replay (`_newest_position`)

    def state(self, count: int) -> ShiftState:
        visits: dict[str, VisitRecord] = {}
        used: dict[str, int] = {}
        flags: list[str] = []
        for visit_id in sorted(self.visits):
            v = self.visits[visit_id]
            done = v.completion
            materials: dict[str, int] = {}
            for line in done.materials_used if done else ():
                materials[line.item_id] = materials.get(line.item_id, 0) + line.quantity
                used[line.item_id] = used.get(line.item_id, 0) + line.quantity
            if CouldNotGetInReason.KEY_SAFE_CODE_WRONG in v.could_not_get_in:
                flags.append(visit_id)
            visits[visit_id] = VisitRecord(
                visit_id=visit_id,
                progress=v.progress,
                departed_at=v.departed_at,
                arrived_at=v.arrived_at,
                started_at=v.started_at,
                completed_at=v.completed_at if done else None,
                tasks_done=tuple(done.tasks_done) if done else (),
                materials_used=materials,
                handover_note=done.handover_note if done else "",
                could_not_get_in=tuple(v.could_not_get_in),
            )
        return ShiftState(
            event_count=count,
            shift_started_at=self.started,
            shift_ended_at=self.ended,
            bag_check=self.bag_check,
            bag_counted_at_end=self.bag_at_end,
            visits=visits,
            breaks=tuple(self.breaks),
            backup_requests=tuple(self.backups),
            last_position=self.position,
            materials_used=dict(sorted(used.items())),
            key_safe_flags=tuple(flags),
        )


def optimizer_visit_updates(
    state: ShiftState, *, nurse_id: str, night_start: datetime
) -> dict[str, dict[str, object]]:
    """What the events say for the live re-plan: per visit, fields for ``Visit.model_copy``.

    Units: ``started_at`` in seconds from ``night_start`` (the optimizer's timeline).
    Completed → ``done``, started → ``started``, on her way or at the door → ``en_route``.
    A visit she could not get into is left out: the planner decides what happens to it.
    For a two-person visit the caller merges both nurses' ``assigned_nurses``.
    """
    updates: dict[str, dict[str, object]] = {}
    for visit_id, record in state.visits.items():
        if record.progress in (VisitProgress.COMPLETED, VisitProgress.STARTED):
            begun = record.started_at or record.arrived_at or record.completed_at
            assert begun is not None  # a completed or started visit has at least that moment
            updates[visit_id] = {
                "state": VisitState.DONE
                if record.progress == VisitProgress.COMPLETED
                else VisitState.STARTED,
                "started_at": max(0, int((begun - night_start).total_seconds())),
                "assigned_nurses": (nurse_id,),
            }
        elif record.progress in (VisitProgress.EN_ROUTE, VisitProgress.ARRIVED):
            updates[visit_id] = {"state": VisitState.EN_ROUTE, "assigned_nurses": (nurse_id,)}
    return updates
