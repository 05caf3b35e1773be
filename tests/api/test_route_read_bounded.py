"""Phones under load: a route read does the same work at 23:30 and at 06:30 (positions pile
up all night; the shift state needs only the newest), and its access-log rows are written
in one statement."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from api.db.models import Night
from api.db.phone_models import PhoneEvent
from api.offline_events import derive_state
from api.repositories.phone import SqlEventStore
from api.services.live import REPLAN_WORKER
from tests.api.conftest import World
from tests.api.phone_helpers import fresh, published_night, register_phone

ROUTE = "/mobile/v1/me/route"
EVENTS = "/mobile/v1/me/events"


@contextmanager
def statements(world: World) -> Iterator[list[str]]:
    """The SQL statements the app runs meanwhile for requests (on its real engine); the
    re-plan worker's own poll is left out: it runs on its own clock, and counting it made
    the comparison depend on whether a poll fell inside the window."""
    engine = world.sessions().kw["bind"]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name != REPLAN_WORKER:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _positions(world: World, phone: dict[str, str], count: int, rng: random.Random) -> None:
    now = world.clock()
    events = [
        {
            "type": "position",
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "device_time": (now - timedelta(seconds=rng.randint(0, 1800))).isoformat(),
            "position": [6.56 + rng.random() / 100, 52.99],
            "accuracy_metres": 10,
        }
        for _ in range(count)
    ]
    response = world.client.post(
        EVENTS, json={"sent_at": now.isoformat(), "events": events}, headers=phone
    )
    assert response.status_code == 200, response.text
    assert {r["outcome"] for r in response.json()["results"]} == {"accepted"}


def test_a_route_read_does_not_grow_with_the_night(any_world: World) -> None:
    world = any_world
    rng = random.Random(4)
    published_night(world)
    phone = register_phone(world)
    world.clock.set(23, 40)
    phone = fresh(world, phone)

    with statements(world) as first_read:
        first = world.client.get(ROUTE, headers=phone)
    assert first.status_code == 200
    inserts = [s for s in first_read if s.lstrip().upper().startswith("INSERT")]
    # One statement for every client shown, and one for the proof's one-time id (RFC 9449).
    assert len(inserts) == 2, inserts
    assert sum("access_log" in s for s in inserts) == 1
    assert sum("dpop_used_proofs" in s for s in inserts) == 1

    _positions(world, phone, 5, rng)
    with statements(world) as early:
        assert world.client.get(ROUTE, headers=phone).status_code == 200
    for _ in range(6):
        _positions(world, phone, 40, rng)
    with statements(world) as late:
        assert world.client.get(ROUTE, headers=phone).status_code == 200
    assert len(late) == len(early)

    with world.sessions()() as session:
        store = SqlEventStore(session, _night_id(world))
        nurse_id = world.seeded.nurses["N1"]
        kept = store.for_shift(str(nurse_id), str(_night_id(world)))
        assert [e.event.type for e in kept].count("position") == 1
        everything = [
            e
            for e in session.query(PhoneEvent).filter(PhoneEvent.nurse_id == nurse_id).all()
            if e.type == "position"
        ]
        assert len(everything) == 245
        newest = max(everything, key=lambda e: (e.device_time, e.event_id))
        state = derive_state(kept)
        assert state.last_position is not None
        assert state.last_position[1] == tuple(newest.payload["position"])


def _night_id(world: World) -> int:
    with world.sessions()() as session:
        night = session.query(Night).one()
        return night.id


def _poll(world: World, phone: dict[str, str], etag: str) -> Any:
    return world.client.get(ROUTE, headers={**phone, "If-None-Match": etag})


def test_an_unchanged_poll_reads_no_events_and_a_changed_route_is_never_stale(
    any_world: World,
) -> None:
    """A phone polling an unchanged route is answered 304 without loading her events again
    (the route comes from the cache, keyed by everything it is built from); every change
    the route shows (a client's access instructions, her own progress on a visit, the key
    safe) makes the next poll a 200 that shows it, never a stale 304."""
    world = any_world
    published_night(world)
    phone = register_phone(world)
    world.clock.set(23, 40)
    phone = fresh(world, phone)
    first = world.client.get(ROUTE, headers=phone)
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    with statements(world) as polled:
        assert _poll(world, phone, etag).status_code == 304
    loads_events = [s for s in polled if "phone_events" in s and "count(" not in s.lower()]
    assert not loads_events, "an unchanged poll loads her events again"

    visit_step = next(s for s in first.json()["steps"] if s["type"] == "visit")
    visit_id = visit_step["visit_id"]
    client_id = next(
        cid for ids in world.seeded.clients.values() for cid in ids if _shows(world, cid, visit_id)
    )
    org = next(org for org, ids in world.seeded.clients.items() if client_id in ids)

    # 1. The partner changes the client's access instructions.
    changed = world.client.patch(
        f"/partner/v1/clients/{client_id}",
        json={"access_instructions": "back door, ring twice"},
        headers=world.key(org),
    )
    assert changed.status_code == 200, changed.text
    second = _poll(world, phone, etag)
    assert second.status_code == 200, "a stale 304 after the client changed"
    step = next(s for s in second.json()["steps"] if s.get("visit_id") == visit_id)
    assert step["access"]["instructions"] == "back door, ring twice"
    etag = second.headers["ETag"]
    assert _poll(world, phone, etag).status_code == 304

    # 2. She starts the visit: her progress shows on the next poll.
    stamp = world.clock().isoformat()
    started = world.client.post(
        EVENTS,
        json={
            "sent_at": stamp,
            "events": [
                {
                    "type": "visit_started",
                    "event_id": str(uuid.uuid4()),
                    "device_time": stamp,
                    "visit_id": visit_id,
                }
            ],
        },
        headers=phone,
    )
    assert started.status_code == 200, started.text
    third = _poll(world, phone, etag)
    assert third.status_code == 200, "a stale 304 after her own event"
    step = next(s for s in third.json()["steps"] if s.get("visit_id") == visit_id)
    assert step["progress"] != visit_step["progress"], step["progress"]


def _shows(world: World, client_id: int, visit_id: str) -> bool:
    from api.db.models import Visit

    with world.sessions()() as session:
        visit = session.get(Visit, int(visit_id))
        return visit is not None and visit.client_id == client_id


def test_a_batch_of_positions_asks_once_and_still_knows_its_repeats(any_world: World) -> None:
    """A batch of positions (the phones' usual upload) is stored in one statement, not a
    question and an INSERT per event, and without reading her route versions or
    replaying her shift; sent again, every event is a duplicate, and an id repeated inside
    one batch is stored once."""
    world = any_world
    published_night(world)
    phone = register_phone(world)
    world.clock.set(23, 40)
    phone = fresh(world, phone)
    now = world.clock()
    events = [
        {
            "type": "position",
            "event_id": str(uuid.uuid4()),
            "device_time": (now - timedelta(seconds=10 * n)).isoformat(),
            "position": [6.56, 52.99 + n / 1000],
            "accuracy_metres": 10,
        }
        for n in range(5)
    ]
    body = {"sent_at": now.isoformat(), "events": [*events, events[0]]}
    with statements(world) as stored:
        first = world.client.post(EVENTS, json=body, headers=phone)
    assert first.status_code == 200, first.text
    outcomes = [r["outcome"] for r in first.json()["results"]]
    assert outcomes == ["accepted"] * 5 + ["duplicate"], outcomes
    reads = [s for s in stored if s.lstrip().upper().startswith("SELECT")]
    assert len([s for s in reads if "phone_events" in s]) <= 2, reads
    assert not [s for s in reads if "route_versions.steps" in s and "published_at" not in s]
    stores = [s for s in stored if s.lstrip().upper().startswith("INSERT INTO PHONE_EVENTS")]
    assert len(stores) == 1, stores  # the batch's events in one statement
    again = world.client.post(EVENTS, json=body, headers=phone)
    assert [r["outcome"] for r in again.json()["results"]] == ["duplicate"] * 6


def test_the_caller_is_read_in_one_statement(any_world: World) -> None:
    """A phone request reads its caller (the token's user, her nurse row, her phones' latest
    revocation and the phone it names) in one statement, first; the proof's one-time id
    follows."""
    world = any_world
    published_night(world)
    phone = register_phone(world)
    world.clock.set(23, 40)
    phone = fresh(world, phone)
    etag = world.client.get(ROUTE, headers=phone).headers["ETag"]
    with statements(world) as polled:
        assert _poll(world, phone, etag).status_code == 304
    tables = ("users", "phone_devices", "nurses ")
    caller = [s for s in polled if any(f"FROM {t}" in s or f"JOIN {t}" in s for t in tables)]
    assert len(caller) == 1, caller
    assert "max(phone_devices.revoked_at)" in caller[0]
    assert polled.index(caller[0]) == 0
    # Then the proof's record (after the setting that lets it skip the disk's flush).
    assert any("dpop_used_proofs" in s for s in polled[1:3]), polled[:3]


def test_tonights_routes_are_built_before_the_first_read(any_world: World) -> None:
    """After a restart in the night every phone reconnects at once; each first read built
    its route while the others waited (`--start together` in the load bench). The service
    builds tonight's published routes as it starts: the first read of each is a hit."""
    from api.services import phone as phone_service
    from mobile_contract.http import route_etag

    world = any_world
    published_night(world)
    world.clock.set(23, 40)
    phone_service._ROUTE_CACHE.clear()  # as a process that just started
    with world.sessions()() as session:
        built = phone_service.warm_routes(session, world.clock(), etag_of=route_etag)
    assert built == 3  # every nurse on shift has a published route
    phone = fresh(world, register_phone(world))
    warmed = {key: id(entry) for key, entry in phone_service._ROUTE_CACHE.items()}
    assert world.client.get(ROUTE, headers=phone).status_code == 200
    # A hit serves the warmed entry; a build would have put a new one in the cache. (The
    # first read of new content also logs the clients shown and asks whether her phone had
    # been silent: work per new content, not a build.)
    assert {key: id(entry) for key, entry in phone_service._ROUTE_CACHE.items()} == warmed
