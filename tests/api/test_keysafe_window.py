"""Key-safe rules that cannot be stretched, over HTTP on the simulated clock (issue 10).

The window is anchored to the published plan's ETA as it stood before the nurse's own
reports; it closes 15 minutes after the visit and never later than 15 minutes after the
night, whatever the phone says; every refusal is in the access log, also for an unknown
visit or a caller of the wrong role; a token from before a phone was revoked or replaced
works for no phone. Codes are fictional (``TEST0000``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api.db.models import AccessLogEntry, Client, Night, Visit
from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import (
    FAKE_CODE,
    fresh,
    phone_body,
    publish,
    published_night,
    register_phone,
    set_code,
)
from tests.api.test_planner import PLAN, reoptimise, seed_night

REVEAL = "/mobile/v1/me/keysafe/reveal"
ROUTE = "/mobile/v1/me/route"
EVENTS = "/mobile/v1/me/events"
NURSES = ("nurse-n1", "nurse-n2", "nurse-n3")


def _late_visit_night(world: World) -> tuple[str, str, int]:
    """A published night with one visit asked for between 05:00 and 06:00: its id, the
    nurse (username) it went to, and its client."""
    seed_night(world, visits=6)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, number=41)
    response = world.client.post(
        "/partner/v1/visit-requests",
        json=planned_body(client_id, start="06:00", end="06:30"),
        headers=world.key(org),
    )
    assert response.status_code == 201, response.text
    world.seeded.clients.setdefault(org, []).append(client_id)
    reoptimise(world)
    publish(world)
    with world.sessions()() as session:
        visit = session.scalars(select(Visit).where(Visit.client_id == client_id)).one()
        visit_id = str(visit.id)
    for username in NURSES:
        route = world.client.get(ROUTE, headers=register_phone(world, username)).json()
        if any(s.get("visit_id") == visit_id for s in route.get("steps", [])):
            return visit_id, username, client_id
    raise AssertionError("the 05:00 visit was not planned")


def _step(world: World, phone: dict[str, str], visit_id: str) -> dict[str, Any]:
    route = world.client.get(ROUTE, headers=fresh(world, phone)).json()
    return next(s for s in route["steps"] if s.get("visit_id") == visit_id)


def _send(world: World, phone: dict[str, str], kind: str, visit_id: str, at: datetime) -> None:
    event: dict[str, Any] = {
        "type": kind,
        "event_id": str(uuid.uuid4()),
        "device_time": at.isoformat(),
        "visit_id": visit_id,
    }
    if kind == "visit_completed":
        event.update(tasks_done=[], materials_used=[])
    batch = {"sent_at": at.isoformat(), "events": [event]}
    response = world.client.post(EVENTS, json=batch, headers=fresh(world, phone))
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["outcome"] == "accepted", response.text
    settle(world)  # the batch is answered before its re-plan


def _reveal(world: World, phone: dict[str, str], visit_id: str, **extra: object) -> Any:
    return world.client.post(
        REVEAL, json={"visit_id": visit_id, **extra}, headers=fresh(world, phone)
    )


def _keysafe_rows(world: World) -> list[AccessLogEntry]:
    with world.sessions()() as session:
        rows = session.scalars(
            select(AccessLogEntry)
            .where(AccessLogEntry.event == "keysafe.reveal")
            .order_by(AccessLogEntry.id)
        ).all()
        session.expunge_all()
        return list(rows)


def test_a_visit_marked_started_five_hours_early_is_still_too_early(any_world: World) -> None:
    """Started at ETA - 5 h: her own re-plan moves the visit to "now", yet the reveal is
    too_early until 30 minutes before the published ETA; a recorded arrival with her phone
    at the door opens it."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    eta = datetime.fromisoformat(_step(world, phone, visit_id)["eta"])
    assert eta - timedelta(hours=5) >= datetime.fromisoformat(f"{NIGHT}T23:00:00+01:00")

    world.clock.now = eta - timedelta(hours=5)
    _send(world, phone, "visit_started", visit_id, world.clock.now)
    replanned = datetime.fromisoformat(_step(world, phone, visit_id)["eta"])
    assert replanned < eta - timedelta(hours=4), "her report re-planned the visit to now"

    refused = _reveal(world, phone, visit_id)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "too_early"
    assert datetime.fromisoformat(refused.json()["retry_after"]) == eta - timedelta(minutes=30)
    assert FAKE_CODE not in refused.text

    world.clock.now = eta - timedelta(minutes=31)
    assert _reveal(world, phone, visit_id).json()["reason"] == "too_early"
    world.clock.now = eta - timedelta(minutes=30)
    assert _reveal(world, phone, visit_id).status_code == 200

    # Before the window, at the door: a recorded arrival and a position near the address
    # (being marked started, even at the door, is no arrival). An arrival opens the window
    # at most an hour before the ETA, however early it was sent (red team s17, finding 04).
    world.clock.now = eta - timedelta(hours=2)
    with world.sessions()() as session:
        client = session.get(Client, client_id)
        assert client is not None
        door, far = [client.lon, client.lat], [client.lon + 0.05, client.lat]
    assert _reveal(world, phone, visit_id, position=door).json()["reason"] == "too_early"
    _send(world, phone, "arrived", visit_id, world.clock.now)
    hours_early = _reveal(world, phone, visit_id, position=door).json()
    assert hours_early["reason"] == "too_early"
    assert datetime.fromisoformat(hours_early["retry_after"]) == eta - timedelta(minutes=60)
    world.clock.now = eta - timedelta(minutes=50)
    assert _reveal(world, phone, visit_id, position=far).json()["reason"] == "too_early"
    opened = _reveal(world, phone, visit_id, position=door)
    assert opened.status_code == 200 and opened.json()["code"] == FAKE_CODE


def test_the_window_closes_whatever_the_phone_reports(any_world: World) -> None:
    """A completion dated hours ahead closes the window 15 minutes after it was received;
    a visit never completed closes at the latest 15 minutes after the night's end."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    eta = datetime.fromisoformat(_step(world, phone, visit_id)["eta"])
    with world.sessions()() as session:
        night_end = session.scalars(select(Night.ends_at)).one()

    world.clock.now = eta
    _send(world, phone, "visit_started", visit_id, eta)
    world.clock.now = night_end + timedelta(minutes=10)  # under way, overrunning
    assert _reveal(world, phone, visit_id).status_code == 200
    world.clock.now = night_end + timedelta(minutes=15)
    assert _reveal(world, phone, visit_id).status_code == 200
    world.clock.now = night_end + timedelta(minutes=16)
    late = _reveal(world, phone, visit_id)
    assert (late.status_code, late.json()["reason"]) == (403, "too_late")

    # A completion dated in the future by the phone: received at eta + 10 min, it counts then.
    world.clock.now = eta + timedelta(minutes=10)
    _send(world, phone, "visit_completed", visit_id, eta + timedelta(hours=4))
    world.clock.now = eta + timedelta(minutes=25)
    assert _reveal(world, phone, visit_id).status_code == 200
    world.clock.now = eta + timedelta(minutes=26)
    assert _reveal(world, phone, visit_id).json()["reason"] == "too_late"


def test_every_attempt_is_in_the_access_log(any_world: World) -> None:
    """An unknown visit id, a planner, an admin and a partner's key: refused and logged
    (a stored visit names its client, so its organisation's export holds the attempt); a
    reveal's row names the phone, the visit and the key id."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    eta = datetime.fromisoformat(_step(world, phone, visit_id)["eta"])
    world.clock.now = eta
    before = len(_keysafe_rows(world))

    unknown = _reveal(world, phone, "999999")
    assert (unknown.status_code, unknown.json()["reason"]) == (403, "not_assigned")
    for headers in (
        world.token("planner"),
        world.token("admin", second_factor=True),
        world.key(world.seeded.home_care[0]),
    ):
        response = world.client.post(REVEAL, json={"visit_id": visit_id}, headers=headers)
        assert response.status_code == 403, response.text
    garbled = world.client.post(REVEAL, json={}, headers=world.token("planner"))
    assert garbled.status_code == 403
    malformed = world.client.post(REVEAL, json={"visit_id": "x y"}, headers=fresh(world, phone))
    assert malformed.status_code == 422
    revealed = _reveal(world, phone, visit_id)
    assert revealed.status_code == 200

    rows = _keysafe_rows(world)[before:]
    summary = [(r.role, r.purpose.split()[1:3], r.visit_id, r.client_id) for r in rows]
    assert summary == [
        ("nurse", ["refused", "not_assigned"], "999999", None),
        ("planner", ["refused", "wrong_role"], visit_id, client_id),
        ("admin", ["refused", "wrong_role"], visit_id, client_id),
        ("partner", ["refused", "wrong_role"], visit_id, client_id),
        ("planner", ["refused", "wrong_role"], None, None),
        ("nurse", ["refused", "invalid_request"], None, None),
        ("nurse", ["revealed", revealed.json()["reveal_id"]], visit_id, client_id),
    ]
    assert rows[0].device_id == rows[-1].device_id == phone["X-Device-Id"]
    assert rows[-1].key_id and rows[0].key_id is None
    assert rows[3].api_key_id is not None
    assert all(FAKE_CODE not in (r.purpose or "") for r in rows)


def test_a_token_from_before_a_phone_was_replaced_or_revoked_works_for_no_phone(
    any_world: World,
) -> None:
    """Phone A's token, once she registers phone B, opens neither A nor B (401; the reveal
    is refused as device_revoked and logged); after a planner revokes B, B's token is dead."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone_a = register_phone(world, nurse)
    eta = datetime.fromisoformat(_step(world, phone_a, visit_id)["eta"])
    world.clock.now = eta
    old_token = {"Authorization": fresh(world, phone_a)["Authorization"]}

    world.clock.now = eta + timedelta(minutes=1)
    key_b = world.new_key()
    new_token = world.token(nurse, second_factor=True, key=key_b)
    registered = world.client.post("/mobile/v1/devices", json=phone_body(key_b), headers=new_token)
    assert registered.status_code == 201, registered.text
    phone_b = {**new_token, "X-Device-Id": registered.json()["device_id"]}
    assert world.client.get(ROUTE, headers=phone_b).status_code == 200

    stale_on_b = {**phone_b, **old_token}
    assert world.client.get(ROUTE, headers=stale_on_b).status_code == 401
    assert world.client.get(ROUTE, headers={**phone_a, **old_token}).status_code == 401
    # On B, A's token is bound to A's key: refused before the rules, logged.
    refused = world.client.post(REVEAL, json={"visit_id": visit_id}, headers=stale_on_b)
    assert (refused.status_code, refused.json()["code"]) == (401, "proof_key_mismatch")
    assert _keysafe_rows(world)[-1].purpose.split()[1:3] == ["refused", "proof_key_mismatch"]
    # On A, with A's key: A was replaced, so the rules refuse it as device_revoked, logged.
    refused = world.client.post(
        REVEAL, json={"visit_id": visit_id}, headers={**phone_a, **old_token}
    )
    assert (refused.status_code, refused.json()["reason"]) == (403, "device_revoked")
    assert _keysafe_rows(world)[-1].purpose.split()[1:3] == ["refused", "device_revoked"]
    assert world.client.post(REVEAL, json={"visit_id": visit_id}, headers=phone_b).status_code == (
        200
    )

    world.clock.now = eta + timedelta(minutes=2)
    revoked = world.client.post(
        f"/phones/{phone_b['X-Device-Id']}/revoke", headers=world.token("planner")
    )
    assert revoked.status_code == 200
    assert world.client.get(ROUTE, headers=phone_b).status_code == 401
    again = world.client.post(REVEAL, json={"visit_id": visit_id}, headers=phone_b)
    assert (again.status_code, again.json()["reason"]) == (403, "device_revoked")


def test_started_through_the_planner_route_five_hours_early_is_still_too_early(
    world: World,
) -> None:
    """The same through POST /nights/{date}/events (the nurse's own report there)."""
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    eta = datetime.fromisoformat(_step(world, phone, visit_id)["eta"])
    world.clock.now = eta - timedelta(hours=5)
    started = world.client.post(
        f"/nights/{NIGHT}/events",
        json={"kind": "started", "visit_id": int(visit_id)},
        headers=world.token(nurse, second_factor=True),
    )
    assert started.status_code == 201, started.text
    assert datetime.fromisoformat(_step(world, phone, visit_id)["eta"]) < eta - timedelta(hours=4)
    refused = _reveal(world, phone, visit_id)
    assert (refused.status_code, refused.json()["reason"]) == (403, "too_early")


def test_a_backdated_report_does_not_pick_an_older_plan_as_the_anchor(world: World) -> None:
    """The anchor is the plan as it stood when the server received her first report on the
    visit, not when her phone says it happened: a visit moved later (and published) keeps
    its later window when she marks it started, backdated to before the move."""
    published_night(world, visits=12)
    phone = register_phone(world)
    route = world.client.get(ROUTE, headers=phone).json()
    visits = [s for s in route["steps"] if s["type"] == "visit"]
    moved = visits[-2]  # not the last: moving it last puts its ETA later
    first_eta = datetime.fromisoformat(moved["eta"])
    with world.sessions()() as session:
        visit = session.get(Visit, int(moved["visit_id"]))
        assert visit is not None
        client_id = visit.client_id
    set_code(world, client_id)

    night = datetime.fromisoformat(route["shift"]["start"])
    world.clock.now = night + timedelta(minutes=30)
    version = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    move = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": int(moved["visit_id"]), "nurse": "N1", "position": None},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    assert move.status_code == 200, move.text
    publish(world)
    later_eta = datetime.fromisoformat(_step(world, phone, moved["visit_id"])["eta"])
    assert later_eta > first_eta + timedelta(minutes=30), (first_eta, later_eta)

    # In the old window, not in the new: started, dated back to before the move.
    world.clock.now = first_eta - timedelta(minutes=20)
    _send(world, phone, "visit_started", moved["visit_id"], night + timedelta(minutes=20))
    refused = _reveal(world, phone, moved["visit_id"])
    assert (refused.status_code, refused.json()["reason"]) == (403, "too_early"), refused.text
    world.clock.now = later_eta - timedelta(minutes=25)
    assert _reveal(world, phone, moved["visit_id"]).status_code == 200


def _live_step(world: World, visit_id: str) -> dict[str, Any]:
    """The visit's step in the night's current (live) plan, as the planner sees it."""
    plan = world.client.get(f"/nights/{NIGHT}/plan", headers=world.token("planner")).json()
    return next(
        s for r in plan["plan"]["routes"] for s in r["steps"] if s.get("visit_id") == f"V{visit_id}"
    )


def test_a_held_up_nurse_finds_the_window_where_her_delay_put_the_visit(
    any_world: World,
) -> None:
    """Held up 30 minutes as she is about to leave: the re-plan moves her visit later but
    not her order, so no new route version is published. The window closes 15 minutes after
    the live plan's end (it closed after the first plan's: a nurse locked out, ``too_late``)
    and not later; it opens no earlier than it did."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    step = _step(world, phone, visit_id)
    eta, end = datetime.fromisoformat(step["eta"]), datetime.fromisoformat(step["end"])
    start = datetime.fromisoformat(step["start"])
    world.clock.now = eta - timedelta(minutes=31)
    assert _reveal(world, phone, visit_id).json()["reason"] == "too_early"
    world.clock.now = start - timedelta(seconds=step["leg"]["travel_seconds"], minutes=10)
    event = {
        "type": "delayed",
        "event_id": str(uuid.uuid4()),
        "device_time": world.clock.now.isoformat(),
        "delay_minutes": 30,
    }
    batch = {"sent_at": world.clock.now.isoformat(), "events": [event]}
    answer = world.client.post(EVENTS, json=batch, headers=fresh(world, phone))
    assert answer.json()["results"][0]["outcome"] == "accepted", answer.text
    settle(world)
    assert _step(world, phone, visit_id)["end"] == step["end"]  # her route was not re-sent
    with world.sessions()() as session:
        night_start = session.scalars(select(Night.starts_at)).one()
    live_end = night_start + timedelta(seconds=_live_step(world, visit_id)["end"])
    assert live_end > end + timedelta(minutes=15)
    world.clock.now = live_end + timedelta(minutes=15)
    opened = _reveal(world, phone, visit_id)
    assert opened.status_code == 200, opened.text
    world.clock.now = live_end + timedelta(minutes=16)
    assert _reveal(world, phone, visit_id).json()["reason"] == "too_late"


def test_s25_03_a_nurse_at_the_door_late_gets_the_code(any_world: World) -> None:
    """Red team s25, S25-03: she reached the door 20 minutes after the visit's planned end
    (held up at the visit before, no delay reported: the common case) and her phone records
    the arrival with its position at the address. The window had closed 15 minutes after the
    planned end, so the door stayed shut (``too_late``) until she marked the care started
    from the pavement. A recorded arrival at the door keeps it open 15 minutes from her
    arrival; far from the door it does not, and it never runs past the night's end cap."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    step = _step(world, phone, visit_id)
    end = datetime.fromisoformat(step["end"])
    with world.sessions()() as session:
        client = session.get(Client, client_id)
        assert client is not None
        door, far = [client.lon, client.lat], [client.lon + 0.05, client.lat]
    arrived = end + timedelta(minutes=20)
    world.clock.now = arrived
    assert _reveal(world, phone, visit_id, position=door).json()["reason"] == "too_late"
    _send(world, phone, "arrived", visit_id, arrived)
    assert _reveal(world, phone, visit_id, position=far).json()["reason"] == "too_late"
    opened = _reveal(world, phone, visit_id, position=door)
    assert opened.status_code == 200, opened.text
    world.clock.now = arrived + timedelta(minutes=15)
    assert _reveal(world, phone, visit_id, position=door).status_code == 200
    world.clock.now = arrived + timedelta(minutes=16)
    assert _reveal(world, phone, visit_id, position=door).json()["reason"] == "too_late"


@pytest.mark.parametrize("done_by", ["phone", "planner"])
def test_s25_03_an_arrival_after_the_care_was_done_holds_nothing(
    any_world: World, done_by: str
) -> None:
    """Review of S25-03: an arrival recorded after the visit was done extends nothing, also
    when the visit was reported done through ``POST /nights/{date}/events`` (the planner,
    or the nurse with her second factor) rather than by her phone. Before, only a phone's
    completion was compared, so a done visit's door opened again for 15 minutes after any
    later "arrived" near it."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    end = datetime.fromisoformat(_step(world, phone, visit_id)["end"])
    with world.sessions()() as session:
        client = session.get(Client, client_id)
        assert client is not None
        door = [client.lon, client.lat]
    world.clock.now = end + timedelta(minutes=5)
    if done_by == "phone":
        _send(world, phone, "visit_completed", visit_id, world.clock.now)
    else:
        done = world.client.post(
            f"/nights/{NIGHT}/events",
            json={"kind": "done", "visit_id": int(visit_id), "nurse": nurse[-2:].upper()},
            headers=world.token("planner"),
        )
        assert done.status_code == 201, done.text
        settle(world)
    arrived = end + timedelta(minutes=25)  # the window of the done visit closed
    world.clock.now = arrived
    _send(world, phone, "arrived", visit_id, arrived)
    refused = _reveal(world, phone, visit_id, position=door)
    assert refused.json().get("reason") == "too_late", refused.text
