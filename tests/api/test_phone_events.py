"""Offline first over HTTP: a phone two hours offline sends 50 events twice, out of order."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select

from api.db.models import NightEvent, Visit
from api.db.phone_models import PhoneEvent
from api.nightbag import bag_status
from api.offline_events import derive_state
from api.repositories.phone import DEFAULT_BAG
from mobile_contract.bag import BagTemplate
from mobile_contract.events import Event
from tests.api.conftest import NIGHT, World
from tests.api.invariants import settle
from tests.api.phone_helpers import fresh, published_night, register_phone
from tests.api.test_planner import PLAN

EVENTS = "/mobile/v1/me/events"


def _night_of_events(visit_ids: list[str], start: datetime) -> list[dict[str, Any]]:
    """50 events of two hours: shift start with the bag check, each visit done, a break,
    positions in between."""
    rng = random.Random(5)
    moment = start
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        nonlocal moment
        moment += timedelta(seconds=rng.randint(60, 120))
        events.append(
            {
                "type": kind,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "device_time": moment.isoformat(),
                **fields,
            }
        )

    add(
        "shift_start",
        bag_check={
            "template_version": 1,
            "counted": [
                {"item_id": "gloves", "quantity": 30},
                {"item_id": "catheter_set", "quantity": 1},
            ],
        },
    )
    for visit_id in visit_ids:
        add("departed", to_visit_id=visit_id)
        add("arrived", visit_id=visit_id)
        add("visit_started", visit_id=visit_id)
        add(
            "visit_completed",
            visit_id=visit_id,
            tasks_done=["care"],
            materials_used=[{"item_id": "gloves", "quantity": 2}],
            handover_note="Slept well.",
        )
    add("break", phase="start")
    add("break", phase="end")
    while len(events) < 50:
        add("position", position=[6.56, 52.99], accuracy_metres=15)
    return events


def test_fifty_events_twice_out_of_order_give_exactly_the_right_state(any_world: World) -> None:
    """Batches shuffled and then resent: each event stored once, visits done once, the bag
    counted down once, the same state as replaying the events in order."""
    world = any_world
    published_night(world, visits=10)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    visit_ids = [s["visit_id"] for s in route["steps"] if s["type"] == "visit"][:3]
    assert visit_ids
    world.clock.set(23, 0)
    events = _night_of_events(visit_ids, world.clock())
    assert len(events) == 50
    world.clock.set(1, 10)  # two hours later the phone has signal again
    phone = fresh(world, phone)
    plan_before = world.client.get(PLAN, headers=world.token("planner")).json()["version"]

    shuffled = events[:]
    random.Random(11).shuffle(shuffled)
    first: list[dict[str, Any]] = []
    for begin in range(0, 50, 7):
        batch = shuffled[begin : begin + 7]
        response = world.client.post(
            EVENTS, json={"sent_at": world.clock().isoformat(), "events": batch}, headers=phone
        )
        assert response.status_code == 200, response.text
        first.extend(response.json()["results"])
    assert [r["outcome"] for r in first] == ["accepted"] * 50
    settle(world)  # the re-plan follows the answer, on the worker
    plan_after = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    assert plan_after > plan_before, "completed visits drive the live re-plan"

    again = world.client.post(
        EVENTS,
        json={"sent_at": world.clock().isoformat(), "events": events[::-1]},
        headers=phone,
    )
    assert again.status_code == 200, again.text
    assert {r["outcome"] for r in again.json()["results"]} == {"duplicate"}
    assert [r["index"] for r in again.json()["results"]] == list(range(50))

    with world.sessions()() as session:
        stored = session.scalar(select(func.count()).select_from(PhoneEvent))
        assert stored == 50
        statuses = {
            v.id: v.status
            for v in session.scalars(select(Visit).where(Visit.id.in_([int(v) for v in visit_ids])))
        }
        assert set(statuses.values()) == {"done"}
        done_events = session.scalar(
            select(func.count()).select_from(NightEvent).where(NightEvent.kind == "done")
        )
        assert done_events == len(visit_ids)

    parsed = [TypeAdapter(Event).validate_python(e) for e in events]
    template = BagTemplate(team_id="region-1", version=1, items=list(DEFAULT_BAG))
    expected = bag_status(template, derive_state(parsed))
    bag = world.client.get("/mobile/v1/me/bag", headers=phone)
    assert bag.status_code == 200
    assert bag.json()["contents"] == [c.model_dump() for c in expected.contents]
    gloves = next(c for c in bag.json()["contents"] if c["item_id"] == "gloves")
    assert gloves["quantity"] == 30 - 2 * len(visit_ids)
    restock = world.client.get("/mobile/v1/me/bag/restock", headers=phone).json()
    assert any(
        line["item_id"] == "catheter_set" and line["below_minimum"] for line in restock["lines"]
    )
    reports = world.client.get(f"/nights/{NIGHT}/phones", headers=world.token("planner"))
    assert reports.status_code == 200, reports.text
    mine = next(r for r in reports.json() if r["nurse"] == "N1")
    assert [s["item_id"] for s in mine["bag_shortages"]] == [c.item_id for c in expected.shortages]
    assert "catheter_set" in [s["item_id"] for s in mine["bag_shortages"]]
    with world.sessions()() as session:
        first_client = session.get(Visit, int(visit_ids[0])).client_id  # type: ignore[union-attr]
    org = next(o for o, ids in world.seeded.clients.items() if first_client in ids)
    notes = world.client.get(
        f"/partner/v1/clients/{first_client}/handover-notes", headers=world.key(org)
    )
    assert notes.status_code == 200, notes.text
    assert [(n["visit_id"], n["note"]) for n in notes.json()] == [
        (int(visit_ids[0]), "Slept well.")
    ]
    after = world.client.get("/mobile/v1/me/route", headers=phone).json()
    progress = {s["visit_id"]: s["progress"] for s in after["steps"] if s["type"] == "visit"}
    assert all(progress.get(v, "completed") == "completed" for v in visit_ids)


def test_one_bad_event_is_rejected_alone(world: World) -> None:
    """A malformed event and a visit that is not hers are rejected; the rest are accepted."""
    published_night(world, visits=4)
    phone = register_phone(world)
    now = world.clock().isoformat()
    good = {"type": "break", "event_id": str(uuid.uuid4()), "device_time": now, "phase": "start"}
    bad = {"type": "break", "event_id": str(uuid.uuid4()), "device_time": "yesterday"}
    unknown = {
        "type": "arrived",
        "event_id": str(uuid.uuid4()),
        "device_time": now,
        "visit_id": "999999",
    }
    response = world.client.post(
        EVENTS, json={"sent_at": now, "events": [good, bad, unknown]}, headers=phone
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["accepted", "rejected", "rejected"]
    assert [r["reason"] for r in results[1:]] == ["invalid", "unknown_visit"]
    assert "yesterday" not in response.text


def test_a_phone_clock_far_off_does_not_break_the_upload(world: World) -> None:
    """A completion stamped years off is stored; the visit's start stays inside the night."""
    published_night(world, visits=4)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    visit_id = next(s["visit_id"] for s in route["steps"] if s["type"] == "visit")
    event = {
        "type": "visit_completed",
        "event_id": str(uuid.uuid4()),
        "device_time": "2001-01-01T00:00:00Z",
        "visit_id": visit_id,
        "tasks_done": [],
        "materials_used": [],
    }
    response = world.client.post(
        EVENTS, json={"sent_at": "2001-01-01T00:00:00Z", "events": [event]}, headers=phone
    )
    assert response.status_code == 200, response.text
    with world.sessions()() as session:
        visit = session.get(Visit, int(visit_id))
        assert visit is not None and visit.status == "done" and visit.started_at == 0
