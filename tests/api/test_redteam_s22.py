"""Red-team findings of s22 through HTTP on the test clock; each failed on main before its
fix (or is a strict xfail naming what is left). Ids are those of the red team's report
(R22-nn)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from mobile_contract.dpop_client import PhoneKey
from tests.api.conftest import NIGHT, World
from tests.api.test_planner import PLAN, reoptimise, seed_night
from tests.api.test_redteam_s18_service import _planned_night, _report

LOG = "/access-log"
REVEAL = "/mobile/v1/me/keysafe/reveal"


def _raw_post(
    world: World, path: str, body: object, headers: list[tuple[bytes, bytes]]
) -> httpx.Response:
    """POST with header bytes as sent (the test client re-encodes them as UTF-8; a server
    gets the caller's bytes, which Starlette reads as Latin-1)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=world.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post(path, json=body, headers=headers)

    return anyio.run(send)


def _export(world: World, officer: str) -> list[dict[str, Any]]:
    answer = world.client.get(LOG, headers=world.token(officer, second_factor=True))
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def test_r22_01_a_partner_cannot_write_into_another_organisations_access_log(
    world: World,
) -> None:
    """R02's kind by another door. Organisation B's key asks for key-safe codes (a caller
    of the wrong role) 10 times, with a made-up phone id; B's partner login, signed in with a
    DPoP key, sends its bound token 10 times without a proof. Each refusal named no client,
    so each row went into *every* organisation's export: A's privacy officer paged through
    B's probing, with text B chose in the device column. An attempt naming no client
    belongs to the organisation that acted (B's export), as R02 decided."""
    b = world.seeded.home_care[1]
    before_a = len(_export(world, "privacy1"))
    before_b = len(_export(world, "privacy2"))
    for number in range(10):
        got = world.client.post(
            REVEAL,
            json={"visit_id": f"x{number}", "reason": "arrived"},
            headers={**world.key(b), "X-Device-Id": f"=probe{number}"},
        )
        assert got.status_code == 403, got.text
    # A token bound to a key this test client does not hold: sent without a proof.
    bound = world.token("partner2", key=PhoneKey.generate(clock=lambda: world.clock().timestamp()))
    for _ in range(10):
        got = world.client.get("/partner/v1/clients", headers=bound)
        assert got.status_code == 401, got.text
    after_a = _export(world, "privacy1")
    after_b = _export(world, "privacy2")
    assert len(after_a) == before_a, [(r["purpose"], r["device_id"]) for r in after_a[before_a:]][
        :3
    ]
    assert len(after_b) == before_b + 20
    assert {r["acting_organisation_id"] for r in after_b[before_b:]} == {b}


@pytest.mark.parametrize("version", ["\u00b2", '"\u00b9"', 'W/"\u00b3"'])
def test_r22_02_an_if_match_of_a_digit_int_cannot_read_is_428_not_500(
    world: World, version: str
) -> None:
    """A planner's edit with ``If-Match: "²"`` (a superscript two, as a keyboard layout or a
    copy from a document gives it): ``str.isdigit`` says digit, ``int()`` refuses it, and
    every change of a plan (move, publish, re-optimise, urgent call) answered 500. The kind:
    text taken for a number by ``isdigit`` (If-Match, Content-Length, phones' visit ids).
    A version that is no plan version is 428 naming If-Match, as for any other."""
    seed_night(world, visits=4)
    reoptimise(world)
    world.clock.set(1, 0)
    raw = version.encode("latin-1")
    planner = world.token("planner")["Authorization"].encode()
    changes: list[tuple[str, dict[str, Any] | None]] = [
        (f"{PLAN}/moves", {"visit_id": 1, "nurse": "N1", "position": 0, "dry_run": True}),
        (f"{PLAN}/publish", None),
        (f"{PLAN}/reoptimise", {"time_limit_seconds": 0.5}),
        (
            f"/nights/{NIGHT.isoformat()}/board/urgent-calls",
            {
                "client_id": 1,
                "urgency": "acute",
                "care_task": "fall",
                "service_minutes": 20,
                "nurse": "N1",
            },
        ),
    ]
    for path, body in changes:
        answer = _raw_post(world, path, body, [(b"authorization", planner), (b"if-match", raw)])
        assert answer.status_code == 428, (path, answer.status_code, answer.text[:200])
        assert "If-Match" in answer.json()["detail"]


def _closed_november(world: World) -> tuple[int, dict[str, Any]]:
    """November's only night (the 23rd, organisation A's care) has ended; at noon on the
    25th A reads its report: A and that report."""
    from datetime import datetime

    from tests.api.conftest import AMSTERDAM, new_client

    a = world.seeded.home_care[0]
    _planned_night(world, NIGHT.isoformat(), a, new_client(world, a))
    world.clock.now = datetime(2026, 11, 25, 12, 0, tzinfo=AMSTERDAM)
    return a, _report(world, a)


def test_r22_03_an_organisation_joining_later_does_not_change_a_closed_months_shares(
    world: World,
) -> None:
    """November's only night ended on the 24th; organisation A reads its report on the
    25th. That afternoon the admin adds a third home-care organisation. A's share of the
    closed month fell from a half to a third, and the newcomer was billed for a night
    before it existed: the report says every figure it shows is final."""
    a, before = _closed_november(world)
    made = world.client.post(
        "/admin/organisations",
        json={"name": "Thuiszorg Nieuw (test)", "kind": "home_care"},
        headers=world.token("admin"),
    )
    assert made.status_code == 201, made.text
    after = _report(world, a)
    assert after["total_cost_eur"] == before["total_cost_eur"]
    assert after["organisation"] == before["organisation"]
    listed = world.client.get("/admin/organisations", headers=world.token("admin")).json()
    assert [o["member_since"] for o in listed if o["id"] == made.json()["id"]] == [
        "2026-11-25T11:00:00Z"  # the service's clock, not the wall clock
    ]


def test_r22_03_a_partner_joining_from_a_given_moment_shares_the_nights_from_then(
    world: World,
) -> None:
    """The rule's other half: an organisation the agreement makes a partner from the 1st
    (``member_since``) shares the fixed part of the month's night, so A's share falls from
    a half to a third and the shares still sum to the total."""
    a, before = _closed_november(world)
    made = world.client.post(
        "/admin/organisations",
        json={
            "name": "Thuiszorg Vanaf (test)",
            "kind": "home_care",
            "member_since": "2026-11-01T00:00:00+01:00",
        },
        headers=world.token("admin"),
    )
    assert made.status_code == 201, made.text
    after = _report(world, a)
    assert after["total_cost_eur"] == before["total_cost_eur"]
    key = world.client.post(
        f"/admin/organisations/{made.json()['id']}/api-keys", headers=world.token("admin")
    )
    assert key.status_code == 201, key.text
    shares = [
        _report(world, org)["organisation"]["cost_share_eur"]  # type: ignore[index]
        for org in world.seeded.home_care
    ]
    newcomer = world.client.get(
        "/partner/v1/reports/2026-11", headers={"X-API-Key": key.json()["key"]}
    ).json()["organisation"]["cost_share_eur"]
    assert shares[0] < before["organisation"]["cost_share_eur"]  # type: ignore[index]
    assert newcomer > 0
    assert round(sum(shares) + newcomer, 2) == after["total_cost_eur"]


def _route_reads(world: World) -> list[dict[str, Any]]:
    """Every 'nurse route' row of both organisations' exports."""
    rows = _export(world, "privacy1") + _export(world, "privacy2")
    return sorted((r for r in rows if r["purpose"] == "nurse route"), key=lambda r: r["id"])


def test_r22_04_a_replacement_phone_reading_her_route_is_access_logged(world: World) -> None:
    """N1's phone reads her route at 23:10: one row per client shown. At 23:20 she (or
    whoever holds her password and second factor) registers another phone, which revokes
    the first, and reads the same route. The rows were kept once per nurse and route
    content, not per phone, so the new phone's read of every client's name, address and
    access instructions left no trace, and no route row names the phone that read it.
    Each phone's first read of a route content is logged, naming the phone."""
    from tests.api.phone_helpers import fresh, published_night, register_phone

    published_night(world)
    world.clock.set(23, 10)
    first = register_phone(world, "nurse-n1")
    assert world.client.get("/mobile/v1/me/route", headers=fresh(world, first)).status_code == 200
    read_first = _route_reads(world)
    assert read_first and {r["device_id"] for r in read_first} == {first["X-Device-Id"]}
    world.clock.set(23, 20)
    second = register_phone(world, "nurse-n1")
    again = world.client.get("/mobile/v1/me/route", headers=fresh(world, second))
    assert again.status_code == 200, again.text
    read_second = [r for r in _route_reads(world) if r["id"] > read_first[-1]["id"]]
    assert {r["device_id"] for r in read_second} == {second["X-Device-Id"]}
    assert sorted(r["client_id"] for r in read_second) == sorted(r["client_id"] for r in read_first)


def test_r22_05_a_phone_gets_no_clients_data_hours_after_the_night(world: World) -> None:
    """The night ends at 07:00 (the key safes close at 07:15). Her phone still read the
    whole route at 11:59, five hours later: every client's name, address, door notes and
    access instructions, to a phone in a sleeping nurse's bag (data minimisation: she has
    no need of them once the night is over). Until an hour after the night's end (to
    finish her reports) she gets the route; after it, none."""
    from tests.api.phone_helpers import fresh, published_night, register_phone

    published_night(world)
    world.clock.set(23, 10)
    phone = register_phone(world, "nurse-n1")
    route = "/mobile/v1/me/route"
    assert world.client.get(route, headers=fresh(world, phone)).status_code == 200
    world.clock.set(7, 45)
    assert world.client.get(route, headers=fresh(world, phone)).status_code == 200
    for hour, minute in ((8, 1), (11, 59)):
        world.clock.set(hour, minute)
        answer = world.client.get(route, headers=fresh(world, phone))
        assert answer.status_code == 404, (hour, minute, answer.text[:200])


@pytest.mark.parametrize("if_match", [None, '"7"', '"x"'])
def test_r22_06_a_refused_reoptimise_opens_no_night(world: World, if_match: str | None) -> None:
    """A planner's re-optimise of a night nobody opened (a mistyped date, 2031 for 2026),
    refused 428 (no or unreadable If-Match) or 409 (a version it is not at), still opened
    the night and committed it: the board then read 2031's night as if it were planned for,
    and each typo left a night behind. A refused change changes nothing."""
    headers = world.token("planner")
    if if_match is not None:
        headers["If-Match"] = if_match
    typo = "/nights/2031-11-23"
    answer = world.client.post(
        f"{typo}/plan/reoptimise", json={"time_limit_seconds": 0.5}, headers=headers
    )
    assert answer.status_code in (409, 428), answer.text
    board = world.client.get(f"{typo}/board", headers=world.token("planner"))
    assert board.status_code == 404, board.text[:200]


def _client_rows(world: World, client_id: int, after_id: int) -> list[dict[str, Any]]:
    rows = _export(world, "privacy1") + _export(world, "privacy2")
    return [r for r in rows if r["client_id"] == client_id and r["id"] > after_id]


def test_r22_07_a_nurses_note_at_a_visit_is_logged_written_and_read(world: World) -> None:
    """At 23:40 N1's phone asks for back-up at a visit with a note on the client ("fell,
    bleeding"), and reports another client's door would not open, with a note. A hand-over
    note is a logged write of the client's data, and its reading by the partner a read;
    these notes about a client were written with no row, and the planner's read of the
    back-up note (`GET /nights/{date}/phones`) left none either (NEN 7513)."""
    import uuid

    from tests.api.phone_helpers import fresh, published_night, register_phone

    published_night(world)
    world.clock.set(23, 30)
    phone = register_phone(world, "nurse-n1")
    route = world.client.get("/mobile/v1/me/route", headers=fresh(world, phone)).json()
    steps = [s for s in route["steps"] if s["type"] == "visit"]
    assert len(steps) >= 2, route
    helped, locked = steps[0], steps[1]
    helped_client = _visit_client(world, int(helped["visit_id"]))
    locked_client = _visit_client(world, int(locked["visit_id"]))
    last = max(r["id"] for r in _export(world, "privacy1") + _export(world, "privacy2"))
    world.clock.set(23, 40)
    at = world.clock().isoformat()
    events = [
        {
            "type": "needs_backup",
            "event_id": str(uuid.uuid4()),
            "device_time": at,
            "visit_id": helped["visit_id"],
            "urgency": "now",
            "note": "Fell in the hallway (test note)",
        },
        {
            "type": "could_not_get_in",
            "event_id": str(uuid.uuid4()),
            "device_time": at,
            "visit_id": locked["visit_id"],
            "reason": "no_answer",
            "note": "Neighbour says away (test note)",
        },
    ]
    sent = world.client.post(
        "/mobile/v1/me/events",
        json={"sent_at": at, "events": events},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    assert [r["outcome"] for r in sent.json()["results"]] == ["accepted", "accepted"], sent.text
    for client_id in (helped_client, locked_client):
        rows = _client_rows(world, client_id, last)
        assert ("write", "nurse's note") in {(r["event"], r["purpose"]) for r in rows}, rows
    last = max(r["id"] for r in _export(world, "privacy1") + _export(world, "privacy2"))
    phones = world.client.get(f"/nights/{NIGHT.isoformat()}/phones", headers=world.token("planner"))
    assert phones.status_code == 200
    assert any(b["note"] for p in phones.json() for b in p["backup_requests"]), phones.text
    read = _client_rows(world, helped_client, last)
    assert [(r["event"], r["purpose"]) for r in read] == [("read", "planner phones")], read


def _visit_client(world: World, visit_id: int) -> int:
    from api.db.models import Visit

    with world.sessions()() as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        return visit.client_id
