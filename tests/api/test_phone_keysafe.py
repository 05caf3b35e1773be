"""Key-safe codes over HTTP on a real database: who may see a code, when, and what is logged.

The code is fictional (``TEST0000``); it must never appear in a log record or an error body.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from api.db.models import AccessLogEntry, Client, Visit
from api.db.phone_models import KeySafeRecord
from tests.api.conftest import World
from tests.api.phone_helpers import (
    FAKE_CODE,
    fresh,
    published_night,
    register_phone,
    set_code,
)

REVEAL = "/mobile/v1/me/keysafe/reveal"
ROUTE = "/mobile/v1/me/route"


def _first_visit(world: World, phone: dict[str, str]) -> tuple[str, datetime, datetime, int]:
    """N1's first visit: id, ETA, planned end, client id."""
    route = world.client.get(ROUTE, headers=phone).json()
    step = next(s for s in route["steps"] if s["type"] == "visit")
    with world.sessions()() as session:
        visit = session.get(Visit, int(step["visit_id"]))
        assert visit is not None
        client_id = visit.client_id
    eta = datetime.fromisoformat(step["eta"])
    end = datetime.fromisoformat(step["end"])
    return step["visit_id"], eta, end, client_id


def _reveal_rows(world: World, client_id: int) -> list[str]:
    with world.sessions()() as session:
        rows = session.scalars(
            select(AccessLogEntry.purpose)
            .where(AccessLogEntry.client_id == client_id, AccessLogEntry.event == "keysafe.reveal")
            .order_by(AccessLogEntry.id)
        )
        return list(rows)


def test_reveal_rules_refuse_with_the_reason_and_log_everything(
    any_world: World, captured_logs: pytest.LogCaptureFixture
) -> None:
    """Another nurse, too early, too late, too far, a revoked phone: refused and logged;
    the assigned nurse in her window gets the code, not cached; the code is never logged."""
    world = any_world
    published_night(world, visits=8)
    phone = register_phone(world, "nurse-n1")
    other = register_phone(world, "nurse-n2")
    visit_id, eta, end, client_id = _first_visit(world, phone)
    set_code(world, client_id)
    bodies: list[str] = []

    def reveal(headers: dict[str, str], **extra: object) -> tuple[int, dict[str, object]]:
        headers = fresh(world, headers)
        response = world.client.post(REVEAL, json={"visit_id": visit_id, **extra}, headers=headers)
        assert response.headers["Cache-Control"] == "no-store"
        if response.status_code != 200:
            bodies.append(response.text)
        return response.status_code, response.json()

    world.clock.now = eta - timedelta(minutes=45)
    status, body = reveal(phone)
    assert (status, body["reason"]) == (403, "too_early")
    assert datetime.fromisoformat(str(body["retry_after"])) == eta - timedelta(minutes=30)

    world.clock.now = eta - timedelta(minutes=10)
    status, body = reveal(other)
    assert (status, body["reason"]) == (403, "not_assigned")

    status, body = reveal(phone)
    assert status == 200, body
    assert body["code"] == FAKE_CODE and body["visit_id"] == visit_id

    settings = world.client.app.state.settings
    world.client.app.state.settings = settings.model_copy(update={"keysafe_max_distance_m": 200})
    status, body = reveal(phone)
    assert (status, body["reason"]) == (403, "position_required")
    status, body = reveal(phone, position=[6.0, 52.0])
    assert (status, body["reason"]) == (403, "too_far")
    with world.sessions()() as session:
        client = session.get(Client, client_id)
        assert client is not None
        near = [client.lon, client.lat]
    status, body = reveal(phone, position=near, accuracy_metres=10)
    assert status == 200 and body["code"] == FAKE_CODE
    world.client.app.state.settings = settings

    world.clock.now = end + timedelta(minutes=16)
    status, body = reveal(phone)
    assert (status, body["reason"]) == (403, "too_late")

    world.clock.now = eta
    revoked = world.client.post(
        f"/phones/{phone['X-Device-Id']}/revoke", headers=world.token("planner")
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    status, body = reveal(phone)
    assert (status, body["reason"]) == (403, "device_revoked")
    assert world.client.get(ROUTE, headers=fresh(world, phone)).status_code == 401

    rows = _reveal_rows(world, client_id)
    outcomes = [" ".join(row.split()[1:3]) for row in rows]
    assert outcomes == [
        "refused too_early",
        "refused not_assigned",
        "revealed " + rows[2].split()[2],
        "refused position_required",
        "refused too_far",
        "revealed " + rows[5].split()[2],
        "refused too_late",
        "refused device_revoked",
    ]
    assert all(FAKE_CODE not in body for body in bodies)
    assert captured_logs.records, "the test night was logged at DEBUG"
    assert FAKE_CODE not in captured_logs.text
    for record in captured_logs.records:
        assert FAKE_CODE not in record.getMessage()
        assert FAKE_CODE not in repr(record.args)


def test_partner_sets_a_code_but_never_reads_it(
    world: World, captured_logs: pytest.LogCaptureFixture
) -> None:
    """PUT is write-only and encrypted at rest; GET says only whether one is on file."""
    published_night(world, visits=4)
    org = world.seeded.home_care[0]
    client_id = world.seeded.clients[org][0]
    set_code(world, client_id)
    status = world.client.get(f"/partner/v1/clients/{client_id}/keysafe", headers=world.key(org))
    assert status.status_code == 200
    assert status.json()["code_on_file"] is True and FAKE_CODE not in status.text
    with world.sessions()() as session:
        record = session.get(KeySafeRecord, client_id)
        assert record is not None and FAKE_CODE.encode() not in record.ciphertext
    bad = world.client.put(
        f"/partner/v1/clients/{client_id}/keysafe",
        json={"code": "TEST0000 !"},
        headers=world.key(org),
    )
    assert bad.status_code == 422 and "TEST0000" not in bad.text
    other = world.seeded.home_care[1]
    foreign = world.client.put(
        f"/partner/v1/clients/{client_id}/keysafe", json={"code": "0000"}, headers=world.key(other)
    )
    assert foreign.status_code == 404
    assert FAKE_CODE not in captured_logs.text


def test_could_not_get_in_flags_the_code_to_the_organisation(
    world: World, captured_logs: pytest.LogCaptureFixture
) -> None:
    """A 'key_safe_code_wrong' event flags the client's code; the partner sees the flag; the
    code, revealed once, is in no log record of the night (captured at DEBUG)."""
    published_night(world, visits=6)
    phone = register_phone(world)
    visit_id, eta, _end, client_id = _first_visit(world, phone)
    set_code(world, client_id)
    world.clock.now = eta
    phone = fresh(world, phone)
    reveal = world.client.post(REVEAL, json={"visit_id": visit_id}, headers=phone)
    assert reveal.json()["code"] == FAKE_CODE
    batch = {
        "sent_at": eta.isoformat(),
        "events": [
            {
                "type": "could_not_get_in",
                "event_id": "00000000-0000-4000-8000-000000000001",
                "device_time": eta.isoformat(),
                "visit_id": visit_id,
                "reason": "key_safe_code_wrong",
            }
        ],
    }
    response = world.client.post("/mobile/v1/me/events", json=batch, headers=phone)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["outcome"] == "accepted"
    org = next(org for org, ids in world.seeded.clients.items() if client_id in ids)
    status = world.client.get(f"/partner/v1/clients/{client_id}/keysafe", headers=world.key(org))
    assert status.json()["flagged_could_not_get_in"] is True
    with world.sessions()() as session:
        assert session.get(Visit, int(visit_id)).status == "could_not_get_in"  # type: ignore[union-attr]

    assert captured_logs.records
    assert FAKE_CODE not in captured_logs.text
