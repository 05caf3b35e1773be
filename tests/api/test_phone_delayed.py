"""A nurse's phone reports a delay: the rest of her night is re-planned from when she is free."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

from sqlalchemy import select

from api.db.models import NightEvent
from api.repositories import accounts, nights
from tests.api.conftest import NIGHT, World
from tests.api.invariants import settle
from tests.api.phone_helpers import fresh, published_night, register_phone
from tests.api.test_planner import PLAN

EVENTS = "/mobile/v1/me/events"


def test_delayed_event_replans_her_night_from_when_she_is_free(world: World) -> None:
    """``delayed`` with 60 minutes: a new plan version where none of her visits starts
    before she is free again, and the planner sees the delay as a night event."""
    published_night(world, visits=8)
    world.clock.set(23, 20)
    phone = register_phone(world, "nurse-n1")
    before = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    now = world.clock().astimezone(UTC)
    event = {
        "type": "delayed",
        "event_id": str(uuid.uuid4()),
        "device_time": now.isoformat(),
        "delay_minutes": 60,
    }
    sent = world.client.post(
        EVENTS,
        json={"sent_at": now.isoformat(), "events": [event]},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["results"][0]["outcome"] == "accepted"
    settle(world)  # the re-plan follows the answer, on the worker

    after = world.client.get(PLAN, headers=world.token("planner")).json()
    assert after["version"] == before + 1
    with world.sessions()() as session:
        night = nights.require_night(session, accounts.get_region(session), NIGHT)
        free = nights.seconds_since_start(night, world.clock() + timedelta(minutes=60))
        kinds = session.scalars(select(NightEvent.kind).where(NightEvent.night_id == night.id))
        assert "delayed" in set(kinds)
    steps = next(r for r in after["plan"]["routes"] if r["nurse_id"] == "N1")["steps"]
    visits = [s for s in steps if s["type"] == "visit"]
    assert visits and all(s["start"] >= free for s in visits), (free, visits)

    again = world.client.post(
        EVENTS,
        json={"sent_at": now.isoformat(), "events": [event]},
        headers=fresh(world, phone),
    )
    assert again.json()["results"][0]["outcome"] == "duplicate"
    assert (
        world.client.get(PLAN, headers=world.token("planner")).json()["version"] == after["version"]
    )
