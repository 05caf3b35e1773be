"""A batch of phone events is stored in one statement (`SqlEventStore.insert_all_if_absent`)
with the outcomes of storing them one by one (`InMemoryEventStore`, the reference): new ones
accepted, repeats in the batch or from earlier uploads duplicates, an id reused for other
content or by another nurse rejected, each event stored once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import func, select

from api.db.models import Night
from api.db.phone_models import PhoneEvent
from api.offline_events import InMemoryEventStore, apply_batch
from api.repositories.phone import SqlEventStore
from mobile_contract.events import Event, EventOutcome, RejectReason
from tests.api.conftest import World
from tests.api.phone_helpers import published_night, register_phone
from tests.api.test_route_read_bounded import statements

EVENT: TypeAdapter[Event] = TypeAdapter(Event)
RECEIVED = datetime(2026, 11, 29, 23, 40, tzinfo=UTC)


def _position(event_id: str, n: int) -> Event:
    return EVENT.validate_python(
        {
            "type": "position",
            "event_id": event_id,
            "device_time": (RECEIVED - timedelta(seconds=n)).isoformat(),
            "position": [6.56, 52.99 + n / 1000],
            "accuracy_metres": 10,
        }
    )


def _outcomes(store: Any, batch: list[tuple[str, Event]]) -> list[tuple[EventOutcome, Any]]:
    outcomes: list[tuple[EventOutcome, Any]] = []
    for nurse in dict.fromkeys(nurse for nurse, _ in batch):
        mine = [(i, e) for i, (who, e) in enumerate(batch) if who == nurse]
        results = apply_batch(
            store,
            mine,
            nurse_id=nurse,
            device_id="bench-phone",
            shift_id=store_shift(store),
            received_at=RECEIVED,
            check_visit=lambda _visit: RejectReason.UNKNOWN_VISIT,
        )
        outcomes += [(r.outcome, r.reason) for r in results]
    return outcomes


def store_shift(store: Any) -> str:
    return str(getattr(store, "_night_id", "S1"))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_one_statement_stores_a_batch_as_one_by_one_would(any_world: World, data: Any) -> None:
    """Any uploads by two nurses of events whose ids repeat within and across batches, some
    with other content: the same outcomes as the reference, one INSERT per nurse's batch,
    each id stored once."""
    world = any_world
    if not getattr(world, "_event_store_ready", False):
        published_night(world, visits=3)
        register_phone(world)
        world._event_store_ready = True  # type: ignore[attr-defined]
    with world.sessions()() as session:
        night_id = session.scalars(select(Night.id)).one()
    nurses = [str(n) for n in sorted(world.seeded.nurses.values())[:2]]
    ids = [str(uuid.uuid4()) for _ in range(4)]
    # Uploads: each a list of (nurse, event id, content number); ids repeat across and within.
    upload = st.lists(
        st.tuples(st.sampled_from(nurses), st.sampled_from(ids), st.integers(0, 1)),
        min_size=1,
        max_size=8,
    )
    uploads = data.draw(st.lists(upload, min_size=1, max_size=3))
    reference, memory = InMemoryEventStore(), []
    with world.sessions()() as session:
        store = SqlEventStore(session, night_id)
        for sent in uploads:
            batch = [(nurse, _position(event_id, n)) for nurse, event_id, n in sent]
            memory.append(_outcomes(reference, batch))
            with statements(world) as seen:
                got = _outcomes(store, batch)
            session.commit()
            assert got == memory[-1], (sent, got, memory[-1])
            inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT")]
            assert len(inserts) == len({nurse for nurse, _ in batch}), inserts
        stored = session.scalar(
            select(func.count()).select_from(PhoneEvent).where(PhoneEvent.event_id.in_(ids))
        )
        assert stored == len(reference.events)
