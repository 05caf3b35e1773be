"""One path for every change to a visit: one state machine, one authorisation rule, one
validation of device times, whichever door the change comes in through (phone events, the
night's events, partners' amend and cancel)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from api.db.models import Visit
from tests.api.conftest import NIGHT, World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import FAKE_CODE, fresh, published_night, register_phone, set_code
from tests.api.test_planner import PLAN

EVENTS = f"/nights/{NIGHT}/events"
PHONE_EVENTS = "/mobile/v1/me/events"


def _plan(world: World) -> dict[str, Any]:
    response = world.client.get(PLAN, headers=world.token("planner"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _stops(world: World, nurse: str) -> list[int]:
    """The visits on ``nurse``'s route in the current plan, in order (database ids)."""
    route = next(r for r in _plan(world)["plan"]["routes"] if r["nurse_id"] == nurse)
    return [int(s["visit_id"][1:]) for s in route["steps"] if s["type"] == "visit"]


def _accounted(world: World) -> None:
    """Every visit of the night that is not cancelled is in a route or in ``unassigned``."""
    body = _plan(world)
    planned = {s["visit_id"] for r in body["plan"]["routes"] for s in r["steps"] if s["visit_id"]}
    left_out = {u["visit_id"] for u in body["plan"]["unassigned"]}
    for visit in body["visits"]:
        if visit["status"] != "cancelled":
            ref = f"V{visit['id']}"
            assert ref in planned or ref in left_out, (visit, left_out)


def _phone_event(kind: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": str(uuid.uuid4()), "device_time": at, **fields}


def _acute(world: World, number: int) -> Any:
    org = world.seeded.home_care[1]
    client_id = new_client(world, org, number)
    return world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "fall",
            "service_minutes": 20,
            "urgency": "acute",
        },
        headers=world.key(org),
    )


def test_a_nurse_reporting_a_colleagues_visit_gets_403(world: World) -> None:
    """N1 may not mark N2's visit could-not-get-in; the visit stays open and planned."""
    published_night(world, visits=10)
    world.clock.set(0, 40)
    theirs = _stops(world, "N2")[0]
    response = world.client.post(
        EVENTS,
        json={"kind": "could_not_get_in", "visit_id": theirs},
        headers=world.token("nurse-n1", second_factor=True),
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert theirs in _stops(world, "N2")
    # Naming a colleague as the reporter is refused as well.
    named = world.client.post(
        EVENTS,
        json={"kind": "delayed", "delay_minutes": 10, "nurse": "N2"},
        headers=world.token("nurse-n1", second_factor=True),
    )
    assert named.status_code == 403, named.text
    # Her phone says the same, per event, before anything about the visit's state.
    phone = register_phone(world)
    event = _phone_event(
        "could_not_get_in", world.clock().isoformat(), visit_id=str(theirs), reason="no_answer"
    )
    batch = world.client.post(
        PHONE_EVENTS,
        json={"sent_at": world.clock().isoformat(), "events": [event]},
        headers=fresh(world, phone),
    )
    assert batch.status_code == 200, batch.text
    settle(world)  # the batch is answered before its re-plan
    [result] = batch.json()["results"]
    assert (result["outcome"], result["reason"]) == ("rejected", "not_your_visit"), result
    with world.sessions()() as session:
        visit = session.get(Visit, theirs)
        assert visit is not None and visit.status == "open"
    _accounted(world)


def test_a_planner_may_report_any_visit_and_it_stays_accounted_for(any_world: World) -> None:
    """A visit nobody could get into leaves the routes for ``unassigned``, with its reason."""
    world = any_world
    published_night(world, visits=10)
    world.clock.set(0, 40)
    visit_id = _stops(world, "N2")[0]
    response = world.client.post(
        EVENTS,
        json={"kind": "could_not_get_in", "visit_id": visit_id, "nurse": "N2"},
        headers=world.token("planner"),
    )
    assert response.status_code == 201, response.text
    plan = _plan(world)["plan"]
    left = {u["visit_id"]: u["reason"] for u in plan["unassigned"]}
    assert left.get(f"V{visit_id}") == "could_not_get_in", left
    assert plan["summary"]["visits_unassigned"] == len(plan["unassigned"])
    _accounted(world)


def test_a_started_visit_cannot_become_could_not_get_in(any_world: World) -> None:
    """Started, then could-not-get-in: 409 naming the visit and both states, on every path."""
    world = any_world
    published_night(world, visits=8)
    world.clock.set(0, 40)
    visit_id = _stops(world, "N1")[0]
    nurse = world.token("nurse-n1", second_factor=True)
    started = world.client.post(
        EVENTS, json={"kind": "started", "visit_id": visit_id}, headers=nurse
    )
    assert started.status_code == 201, started.text
    refused = world.client.post(
        EVENTS, json={"kind": "could_not_get_in", "visit_id": visit_id}, headers=nurse
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["visit_id"] == visit_id
    assert (problem["from_status"], problem["to_status"]) == ("started", "could_not_get_in")
    # The phone says the same, per event.
    phone = register_phone(world)
    event = _phone_event(
        "could_not_get_in",
        world.clock().isoformat(),
        visit_id=str(visit_id),
        reason="no_answer",
    )
    batch = world.client.post(
        PHONE_EVENTS,
        json={"sent_at": world.clock().isoformat(), "events": [event]},
        headers=fresh(world, phone),
    )
    assert batch.status_code == 200, batch.text
    settle(world)  # the batch is answered before its re-plan
    [result] = batch.json()["results"]
    assert (result["outcome"], result["reason"]) == ("rejected", "visit_state"), result
    with world.sessions()() as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None and visit.status == "started"
    _accounted(world)


def test_a_cancelled_request_keeps_its_started_visit(world: World) -> None:
    """A partner cancels a request whose visit has begun: the begun visit stays started."""
    published_night(world, visits=0)
    world.clock.set(2, 0)
    made = _acute(world, 5)
    assert made.status_code == 201, made.text
    body = made.json()
    visit_id = body["visits"][0]["visit_id"]
    nurse = body["visits"][0]["nurse"]
    assert nurse is not None, body
    world.clock.set(2, 20)
    started = world.client.post(
        EVENTS,
        json={"kind": "started", "visit_id": visit_id, "nurse": nurse},
        headers=world.token("planner"),
    )
    assert started.status_code == 201, started.text
    org = world.seeded.home_care[1]
    cancelled = world.client.post(
        f"/partner/v1/visit-requests/{body['id']}/cancel", headers=world.key(org)
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["visits"][0]["status"] == "started"
    _accounted(world)


def test_a_phone_completion_dated_next_morning_does_not_stop_acute_calls(
    any_world: World,
) -> None:
    """A completion stamped 09:00 the next morning is clamped with a reason; an acute call
    posted afterwards is still planned (201)."""
    world = any_world
    published_night(world, visits=8)
    world.clock.set(1, 0)
    phone = register_phone(world)
    visit_id = str(_stops(world, "N1")[0])
    morning = world.clock().replace(hour=9).isoformat()
    event = _phone_event(
        "visit_completed", morning, visit_id=visit_id, tasks_done=[], materials_used=[]
    )
    batch = world.client.post(
        PHONE_EVENTS, json={"sent_at": morning, "events": [event]}, headers=phone
    )
    assert batch.status_code == 200, batch.text
    settle(world)  # the batch is answered before its re-plan
    [result] = batch.json()["results"]
    assert result["outcome"] == "accepted"
    assert "device_time" in result["message"], result
    with world.sessions()() as session:
        visit = session.get(Visit, int(visit_id))
        assert visit is not None and visit.status == "done"
        assert visit.started_at is not None and visit.started_at <= 2 * 3600
    world.clock.set(1, 10)
    made = _acute(world, 7)
    assert made.status_code == 201, made.text
    assert made.json()["visits"][0]["planned"] is True, made.json()
    _accounted(world)


def test_care_given_on_a_visit_cancelled_meanwhile_is_kept(world: World) -> None:
    """Offline, she did a visit its partner cancelled meanwhile: her report is believed, the
    visit is done and in her route (nothing she gave is lost)."""
    published_night(world, visits=8)
    world.clock.set(1, 0)
    phone = register_phone(world)
    visit_id = _stops(world, "N1")[0]
    visit = next(v for v in _plan(world)["visits"] if v["id"] == visit_id)
    cancelled = world.client.post(
        f"/partner/v1/visit-requests/{visit['request_id']}/cancel",
        headers=world.key(visit["organisation_id"]),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert next(v for v in _plan(world)["visits"] if v["id"] == visit_id)["status"] == "cancelled"
    world.clock.set(1, 30)
    began, ended = world.clock.set(0, 50).isoformat(), world.clock.set(1, 5).isoformat()
    world.clock.set(1, 30)
    events = [
        _phone_event("visit_started", began, visit_id=str(visit_id)),
        _phone_event(
            "visit_completed", ended, visit_id=str(visit_id), tasks_done=[], materials_used=[]
        ),
    ]
    batch = world.client.post(
        PHONE_EVENTS,
        json={"sent_at": world.clock().isoformat(), "events": events},
        headers=fresh(world, phone),
    )
    assert batch.status_code == 200, batch.text
    settle(world)  # the batch is answered before its re-plan
    assert [r["outcome"] for r in batch.json()["results"]] == ["accepted", "accepted"]
    assert next(v for v in _plan(world)["visits"] if v["id"] == visit_id)["status"] == "done"
    assert visit_id in _stops(world, "N1")
    _accounted(world)


def test_a_planner_sends_a_nurse_again_to_a_visit_nobody_got_into(world: World) -> None:
    """Moving a could-not-get-in visit onto a route re-opens it for a second attempt."""
    published_night(world, visits=8)
    world.clock.set(0, 40)
    visit_id = _stops(world, "N2")[0]
    missed = world.client.post(
        EVENTS,
        json={"kind": "could_not_get_in", "visit_id": visit_id, "nurse": "N2"},
        headers=world.token("planner"),
    )
    assert missed.status_code == 201, missed.text
    version = _plan(world)["version"]
    moved = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": visit_id, "nurse": "N1", "position": 0},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["saved"] is True
    body = _plan(world)
    assert next(v for v in body["visits"] if v["id"] == visit_id)["status"] == "open"
    assert visit_id in _stops(world, "N1")
    assert f"V{visit_id}" not in {u["visit_id"] for u in body["plan"]["unassigned"]}
    _accounted(world)


def test_a_completion_dated_ahead_does_not_hold_the_key_safe_window_open(
    any_world: World,
) -> None:
    """Completed 'at 09:00 tomorrow' by a phone's wrong clock: the code closes 15 minutes
    after the server's moment of completion, not the phone's."""
    world = any_world
    published_night(world, visits=8)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    step = next(s for s in route["steps"] if s["type"] == "visit")
    visit_id = step["visit_id"]
    with world.sessions()() as session:
        visit = session.get(Visit, int(visit_id))
        assert visit is not None
        client_id = visit.client_id
    set_code(world, client_id)
    eta = datetime.fromisoformat(step["eta"])
    world.clock.now = eta + timedelta(minutes=5)
    morning = (world.clock.now + timedelta(hours=8)).isoformat()
    events = [
        _phone_event("visit_started", world.clock.now.isoformat(), visit_id=visit_id),
        _phone_event(
            "visit_completed", morning, visit_id=visit_id, tasks_done=[], materials_used=[]
        ),
    ]
    batch = world.client.post(
        PHONE_EVENTS,
        json={"sent_at": world.clock.now.isoformat(), "events": events},
        headers=fresh(world, phone),
    )
    assert batch.status_code == 200, batch.text
    settle(world)  # the batch is answered before its re-plan
    world.clock.now = eta + timedelta(minutes=25)
    reveal = world.client.post(
        "/mobile/v1/me/keysafe/reveal", json={"visit_id": visit_id}, headers=fresh(world, phone)
    )
    assert reveal.status_code == 403, reveal.text
    assert reveal.json()["reason"] == "too_late"
    assert FAKE_CODE not in reveal.text


def test_a_started_two_person_visit_stays_on_both_routes(world: World) -> None:
    """One of the two nurses reports a two-person visit started: after the re-plan it is
    still on both nurses' routes (her colleague is on her way or already there)."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 3)
    made = world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "planned",
            "client_id": client_id,
            "care_task": "transfer",
            "service_minutes": 20,
            "nurses_needed": 2,
            "night": NIGHT.isoformat(),
            "window": {"start": "23:30", "end": "01:00"},
        },
        headers=world.key(org),
    )
    assert made.status_code == 201, made.text
    visit_id = made.json()["visits"][0]["visit_id"]
    published_night(world, visits=4)
    plan = _plan(world)["plan"]
    crew = [r["nurse_id"] for r in plan["routes"] if f"V{visit_id}" in _refs(r)]
    assert len(crew) == 2, plan["unassigned"]
    world.clock.set(0, 50)
    started = world.client.post(
        EVENTS,
        json={"kind": "started", "visit_id": visit_id, "nurse": crew[0]},
        headers=world.token("planner"),
    )
    assert started.status_code == 201, started.text
    plan = _plan(world)["plan"]
    assert [r["nurse_id"] for r in plan["routes"] if f"V{visit_id}" in _refs(r)] == crew
    _accounted(world)


def _refs(route: dict[str, Any]) -> set[str]:
    return {s["visit_id"] for s in route["steps"] if s["visit_id"]}
