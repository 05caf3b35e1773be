"""Offline-first events: resent, reordered or late batches give exactly the same state."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from api.offline_events import (
    InMemoryEventStore,
    apply_batch,
    derive_state,
    optimizer_visit_updates,
)
from mobile_contract.events import (
    Event,
    EventBatch,
    EventOutcome,
    RejectReason,
    parse_batch,
)
from mobile_contract.route import VisitProgress
from optimizer.model import Visit, VisitState

START = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
# After every drawn device time (they span 4 hours): a batch is sent after its events.
RECEIVED = START + timedelta(hours=5)
EVENT: TypeAdapter[Event] = TypeAdapter(Event)
VISITS = {f"V{n:03d}" for n in range(1, 13)}


def _uuid(n: int) -> UUID:
    return UUID(int=(0x4 << 76) | n)


def _check(visit_id: str) -> RejectReason | None:
    return None if visit_id in VISITS else RejectReason.UNKNOWN_VISIT


def _apply(store: InMemoryEventStore, events: list[Event]) -> list[EventOutcome]:
    results = apply_batch(
        store,
        list(enumerate(events)),
        nurse_id="N1",
        device_id="D1",
        shift_id="S1",
        received_at=RECEIVED,
        check_visit=_check,
    )
    return [r.outcome for r in results]


def two_hours_offline() -> list[Event]:
    """50 events of a nurse offline from 22:00 to about midnight: shift start, 9 visits, a break.

    Visit V003: could not get in (key safe code wrong), back-up asked. Visit V009 is
    completed twice (a correction): the later completion counts.
    """
    raw: list[dict[str, Any]] = []
    clock = START

    def add(kind: str, **fields: Any) -> None:
        nonlocal clock
        clock += timedelta(minutes=2, seconds=len(raw))
        raw.append(
            {"type": kind, "event_id": str(_uuid(len(raw) + 1)), "device_time": clock, **fields}
        )

    add(
        "shift_start",
        bag_check={
            "template_version": 1,
            "counted": [
                {"item_id": "gloves", "quantity": 40},
                {"item_id": "needles", "quantity": 8},
            ],
        },
    )
    for n in range(1, 10):
        visit = f"V{n:03d}"
        add("departed", to_visit_id=visit)
        add("arrived", visit_id=visit)
        if n <= 7:
            add("position", position=[6.57 + n / 1000, 52.99], accuracy_metres=20.0)
        if n == 3:
            add("could_not_get_in", visit_id=visit, reason="key_safe_code_wrong", note="")
            add("needs_backup", visit_id=visit, urgency="soon", note="")
            continue
        add("visit_started", visit_id=visit)
        add(
            "visit_completed",
            visit_id=visit,
            tasks_done=["check"],
            materials_used=[{"item_id": "gloves", "quantity": 2}],
            handover_note="Testnotitie / test note",
        )
        if n == 5:
            add("break", phase="start")
            add("break", phase="end")
    add(
        "visit_completed",
        visit_id="V009",
        tasks_done=["check", "insulin"],
        materials_used=[
            {"item_id": "gloves", "quantity": 2},
            {"item_id": "needles", "quantity": 1},
        ],
        handover_note="Gecorrigeerd / corrected",
    )
    add("position", position=[6.5712, 52.9981], accuracy_metres=12.0)
    add("position", position=[6.5713, 52.9982], accuracy_metres=8.0)
    add("shift_end", bag_counted=None)
    return [EVENT.validate_python(e) for e in raw]


def test_the_night_has_fifty_events() -> None:
    """The scenario is the one the issue names: 50 events."""
    assert len(two_hours_offline()) == 50


def test_fifty_events_twice_and_out_of_order_give_exactly_the_right_state() -> None:
    """Batches sent shuffled, then all again: every event stored once, the state exact."""
    events = two_hours_offline()
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    batches = [shuffled[i : i + 8] for i in range(0, 50, 8)]
    store = InMemoryEventStore()
    first = [o for batch in reversed(batches) for o in _apply(store, batch)]
    again = [o for batch in batches for o in _apply(store, batch)]
    assert first == [EventOutcome.ACCEPTED] * 50
    assert again == [EventOutcome.DUPLICATE] * 50
    assert len(store.events) == 50

    state = derive_state(store.for_shift("N1", "S1"))
    assert state == derive_state(events)
    assert state.event_count == 50
    assert state.shift_started_at == events[0].device_time
    assert state.shift_ended_at == events[-1].device_time
    progress = {v: r.progress for v, r in state.visits.items()}
    assert progress == {
        f"V{n:03d}": VisitProgress.COULD_NOT_GET_IN if n == 3 else VisitProgress.COMPLETED
        for n in range(1, 10)
    }
    # 7 visits x 2 gloves, V009 counted once with its correction (2 gloves, 1 needle).
    assert state.materials_used == {"gloves": 16, "needles": 1}
    assert state.visits["V009"].tasks_done == ("check", "insulin")
    assert state.visits["V009"].handover_note == "Gecorrigeerd / corrected"
    assert state.key_safe_flags == ("V003",)
    assert [b.visit_id for b in state.backup_requests] == ["V003"]
    assert len(state.breaks) == 1 and not state.on_break
    assert state.last_position is not None and state.last_position[2] == 8.0


def test_reused_event_id_with_other_content_is_rejected() -> None:
    """A different event under a stored id is rejected (id_reused), the stored one kept."""
    events = two_hours_offline()
    store = InMemoryEventStore()
    _apply(store, events[:5])
    impostor = events[1].model_copy(update={"device_time": RECEIVED})
    results = apply_batch(
        store,
        [(0, impostor)],
        nurse_id="N1",
        device_id="D1",
        shift_id="S1",
        received_at=RECEIVED,
        check_visit=_check,
    )
    assert results[0].outcome == EventOutcome.REJECTED
    assert results[0].reason == RejectReason.ID_REUSED
    assert store.events[events[1].event_id].event == events[1]


def test_same_id_from_another_nurse_is_rejected() -> None:
    """Another nurse cannot claim or overwrite a stored event by sending its id."""
    events = two_hours_offline()
    store = InMemoryEventStore()
    _apply(store, events[:3])
    results = apply_batch(
        store,
        [(0, events[2])],
        nurse_id="N2",
        device_id="D2",
        shift_id="S2",
        received_at=RECEIVED,
        check_visit=_check,
    )
    assert results[0].reason == RejectReason.ID_REUSED


def test_unknown_visit_is_rejected_alone() -> None:
    """An event on a visit the check refuses is rejected; the rest of the batch is stored."""
    events = two_hours_offline()[:3]
    stray = EVENT.validate_python(
        {"type": "arrived", "event_id": str(_uuid(999)), "device_time": START, "visit_id": "V999"}
    )
    outcomes = _apply(InMemoryEventStore(), [*events, stray])
    assert outcomes == [EventOutcome.ACCEPTED] * 3 + [EventOutcome.REJECTED]


def test_a_malformed_event_does_not_block_the_batch() -> None:
    """parse_batch rejects the unreadable event by index; the readable ones are applied."""
    batch = EventBatch(sent_at=RECEIVED, events=two_hours_offline()[:2])
    body = batch.model_dump(mode="json")
    body["events"].insert(1, {"type": "arrived", "event_id": str(_uuid(77)), "visit_id": "V001"})
    parsed = parse_batch(json.dumps(body))
    assert [r.index for r in parsed.rejected] == [1]
    assert parsed.rejected[0].event_id == _uuid(77)
    assert "device_time" in parsed.rejected[0].message
    results = apply_batch(
        InMemoryEventStore(),
        parsed.events,
        nurse_id="N1",
        device_id="D1",
        shift_id="S1",
        received_at=RECEIVED,
        check_visit=_check,
    )
    assert [r.index for r in results] == [0, 2]


def test_late_arrival_does_not_undo_completion() -> None:
    """An `arrived` stamped after `visit_completed` (clock skew) leaves the visit completed."""
    events = two_hours_offline()
    completed = next(e for e in events if e.type == "visit_completed")
    late = EVENT.validate_python(
        {
            "type": "arrived",
            "event_id": str(_uuid(500)),
            "device_time": completed.device_time + timedelta(minutes=1),
            "visit_id": "V001",
        }
    )
    state = derive_state([*events, late])
    assert state.visits["V001"].progress == VisitProgress.COMPLETED


# --------------------------------------------------------------------------- property


@st.composite
def event_sets(draw: st.DrawFn) -> list[Event]:
    """Up to 40 events of any type on up to 4 visits, at random moments, unique ids."""
    count = draw(st.integers(1, 40))
    raw: list[dict[str, Any]] = []
    for n in range(count):
        visit = draw(st.sampled_from(["V001", "V002", "V003", "V004"]))
        at = START + timedelta(seconds=draw(st.integers(0, 4 * 3600)))
        kind = draw(
            st.sampled_from(
                [
                    "shift_start",
                    "departed",
                    "arrived",
                    "visit_started",
                    "visit_completed",
                    "could_not_get_in",
                    "needs_backup",
                    "break",
                    "shift_end",
                    "position",
                ]
            )
        )
        fields: dict[str, Any] = {
            "shift_start": {"bag_check": {"template_version": 1, "counted": []}},
            "departed": {"to_visit_id": visit},
            "arrived": {"visit_id": visit},
            "visit_started": {"visit_id": visit},
            "visit_completed": {
                "visit_id": visit,
                "tasks_done": [],
                "materials_used": [{"item_id": "gloves", "quantity": draw(st.integers(0, 3))}],
            },
            "could_not_get_in": {"visit_id": visit, "reason": "no_answer"},
            "needs_backup": {"visit_id": visit, "urgency": "now"},
            "break": {"phase": draw(st.sampled_from(["start", "end"]))},
            "shift_end": {},
            "position": {"position": [6.5, 53.0], "accuracy_metres": n},
        }[kind]
        raw.append({"type": kind, "event_id": str(_uuid(n + 1)), "device_time": at, **fields})
    return [EVENT.validate_python(e) for e in raw]


@settings(max_examples=60, deadline=None)
@given(events=event_sets(), data=st.data())
def test_any_order_and_any_repeats_give_the_same_state(events: list[Event], data: Any) -> None:
    """Shuffled, with repeats, split into any batches: the same stored set, the same state."""
    sent = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sent)), max_size=5)))
    store = InMemoryEventStore()
    for start, end in zip([0, *cuts], [*cuts, len(sent)], strict=True):
        if start < end:
            _apply(store, sent[start:end])
    assert set(store.events) == {e.event_id for e in events}
    assert derive_state(store.for_shift("N1", "S1")) == derive_state(events)
    assert derive_state(store.for_shift("N1", "S1")).event_count == len(events)


def test_events_feed_the_live_replan() -> None:
    """Completed visits become done with their start in night seconds; V003 is left out."""
    state = derive_state(two_hours_offline())
    updates = optimizer_visit_updates(state, nurse_id="N1", night_start=START)
    assert "V003" not in updates
    first = state.visits["V001"].started_at
    assert first is not None
    assert updates["V001"] == {
        "state": VisitState.DONE,
        "started_at": int((first - START).total_seconds()),
        "assigned_nurses": ("N1",),
    }
    visit = Visit(id="V001", client_ref="c1", location=1, service_seconds=600, window=None)
    replanned = Visit.model_validate({**visit.model_dump(), **updates["V001"]})
    assert replanned.is_locked
