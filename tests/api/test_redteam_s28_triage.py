"""Red team s28 of triage's answer against the partner's first answer (`replan._first_answer`,
shared since session 27): the call a partner then posts differs from the one triage was
asked about in what it takes from the night bag. Fictional clients and places."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.api.conftest import World, new_client
from tests.api.phone_helpers import fresh, published_night, register_phone

ASK = "/triage/v1/capacity"
EVENTS = "/mobile/v1/me/events"


def _empty_gloves(world: World, username: str) -> None:
    """Her phone's shift-start bag check: no gloves left (every care task but a fall needs
    them, `phone.CARE_TASK_MATERIALS`)."""
    phone = register_phone(world, username)
    now = world.clock().astimezone(UTC)
    event = {
        "type": "shift_start",
        "event_id": str(uuid.uuid4()),
        "device_time": (now - timedelta(minutes=1)).isoformat(),
        "bag_check": {"template_version": 1, "counted": [{"item_id": "gloves", "quantity": 0}]},
    }
    sent = world.client.post(
        EVENTS,
        json={"sent_at": now.isoformat(), "events": [event]},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    assert {r["outcome"] for r in sent.json()["results"]} == {"accepted"}


def test_redteam_s28_triage_counts_the_bag_the_call_then_needs(world: World) -> None:
    """Every nurse's bag check says no gloves left. Triage says yes to an acute
    medication call (nurse, ETA); the home-care partner posts it right after, and it takes
    gloves. Triage's question had no care task and counted nothing from the bag: it said
    N2 in 0 minutes, and the service's first answer sent N3 (N2 needed the base first)."""
    published_night(world, visits=8)
    world.clock.set(0, 40)
    for username in ("nurse-n1", "nurse-n2", "nurse-n3"):
        _empty_gloves(world, username)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 1)
    where = {"lat": 52.991, "lon": 6.561}
    ask = {**where, "within_minutes": 60, "urgency": "acute", "service_minutes": 20}
    ask["care_task"] = "medication"
    said = world.client.post(ASK, json=ask, headers=world.key(world.seeded.triage[0])).json()
    assert said["available"], said
    call = {
        "kind": "unplanned",
        "client_id": client_id,
        "care_task": "medication",
        "service_minutes": 20,
        "urgency": "acute",
    }
    answer = world.client.post("/partner/v1/visit-requests", json=call, headers=world.key(org))
    assert answer.status_code == 201, answer.text
    [visit] = answer.json()["visits"]
    assert visit["nurse"] == said["nurse"], (visit, said)
    expected = datetime.fromisoformat(visit["expected_start"])
    assert expected <= datetime.fromisoformat(said["eta"]), (visit, said)
