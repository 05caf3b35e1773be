"""The access-log export pages with a cursor and a ``Link`` header and never truncates; a
nurse's hand-over note is logged as a write of that client's data."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from api.db.models import AccessLogEntry, Visit
from tests.api.conftest import World, new_client
from tests.api.phone_helpers import fresh, published_night, register_phone

ROWS = 10_050


def _next(link: str | None) -> str | None:
    if not link:
        return None
    found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert found, link
    return found.group(1)


def _fill(world: World, org: int, client_id: int, rows: int) -> None:
    """``rows`` real rows for the organisation's client (one statement; the log is append-only
    so only inserts)."""
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with world.sessions()() as session:
        session.execute(
            insert(AccessLogEntry),
            [
                {
                    "at": start + timedelta(seconds=n),
                    "event": "read",
                    "client_id": client_id,
                    "client_organisation_id": org,
                    "actor": "test",
                    "role": "planner",
                    "purpose": f"bulk {n}",
                }
                for n in range(rows)
            ],
        )
        session.commit()


def test_more_than_ten_thousand_rows_are_all_reachable_through_the_pages(
    any_world: World,
) -> None:
    world = any_world
    org, other = world.seeded.home_care
    client_id = new_client(world, org)  # one "create" row
    _fill(world, org, client_id, ROWS)
    _fill(world, other, new_client(world, other, 2), 30)  # another organisation's: never shown
    officer = world.token("privacy1", second_factor=True)

    url: str | None = "/access-log?limit=4000"
    seen: list[int] = []
    pages = 0
    while url is not None:
        response = world.client.get(url, headers=officer)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page) <= 4000
        seen.extend(row["id"] for row in page)
        url = _next(response.headers.get("link"))
        pages += 1
    assert pages == 3
    with world.sessions()() as session:
        expected = list(
            session.scalars(
                select(AccessLogEntry.id)
                .where(AccessLogEntry.client_organisation_id == org)
                .order_by(AccessLogEntry.id)
            )
        )
    assert len(expected) == ROWS + 1
    assert seen == expected  # every row once, in order, none of the other organisation's

    # The default page is not the whole log: the header says there is more.
    first = world.client.get("/access-log", headers=officer)
    assert len(first.json()) == 1000 and _next(first.headers.get("link"))
    # CSV pages the same way and keeps the filters in the next link.
    exported = world.client.get(
        "/access-log", params={"format": "csv", "limit": 10_000}, headers=officer
    )
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(table) == 10_000
    following = _next(exported.headers.get("link"))
    assert following is not None and "format=csv" in following
    rest = world.client.get(following, headers=officer)
    assert len(list(csv.DictReader(io.StringIO(rest.text)))) == ROWS + 1 - 10_000
    assert rest.headers.get("link") is None
    too_many = world.client.get("/access-log?limit=10001", headers=officer)
    assert too_many.status_code == 422


def test_a_handover_note_is_logged_as_a_write_of_the_clients_data(world: World) -> None:
    published_night(world, visits=6)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    visit_id = next(s["visit_id"] for s in route["steps"] if s["type"] == "visit")
    world.clock.set(23, 30)
    phone = fresh(world, phone)

    def completed(note: str) -> dict[str, object]:
        return {
            "type": "visit_completed",
            "event_id": str(uuid.uuid4()),
            "device_time": world.clock().isoformat(),
            "visit_id": visit_id,
            "tasks_done": ["care"],
            "materials_used": [],
            "handover_note": note,
        }

    response = world.client.post(
        "/mobile/v1/me/events",
        json={"sent_at": world.clock().isoformat(), "events": [completed("Slept well.")]},
        headers=phone,
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["outcome"] == "accepted"
    with world.sessions()() as session:
        client_id = session.get(Visit, int(visit_id)).client_id  # type: ignore[union-attr]
        writes = list(
            session.scalars(
                select(AccessLogEntry).where(
                    AccessLogEntry.event == "write", AccessLogEntry.client_id == client_id
                )
            )
        )
    assert len(writes) == 1
    assert writes[0].purpose == "hand-over note" and writes[0].role == "nurse"
    assert writes[0].user_id == world.seeded.users["nurse-n1"][0]
