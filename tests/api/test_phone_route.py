"""The phone's route over HTTP on a real database: ETag/304, gzip, no code, SSE resume."""

from __future__ import annotations

from datetime import UTC, datetime

from api.db.models import Night, RouteVersion
from tests.api.conftest import World
from tests.api.phone_helpers import FAKE_CODE, publish, published_night, register_phone, set_code
from tests.api.test_planner import PLAN, seed_night

ROUTE = "/mobile/v1/me/route"
CHANGES = "/mobile/v1/me/route/changes"


def _visit_ids(route: dict[str, object]) -> list[str]:
    return [s["visit_id"] for s in route["steps"] if s["type"] == "visit"]  # type: ignore[attr-defined, index]


def test_route_etag_answers_304_and_never_holds_a_code(world: World) -> None:
    """The published route comes with an ETag; the same ETag back gives 304; no code in it."""
    published_night(world, visits=8)
    phone = register_phone(world)
    first = world.client.get(ROUTE, headers=phone)
    assert first.status_code == 200, first.text
    for visit_id in _visit_ids(first.json()):
        with world.sessions()() as session:
            from api.db.models import Visit

            visit = session.get(Visit, int(visit_id))
            assert visit is not None
            client_id = visit.client_id
        set_code(world, client_id)
    route = world.client.get(ROUTE, headers=phone)
    assert route.status_code == 200
    assert FAKE_CODE not in route.text
    assert route.json()["nurse_id"] == "N1" and route.json()["version"] >= 1
    steps = route.json()["steps"]
    assert steps[0]["type"] == "start" and steps[-1]["type"] == "end"
    again = world.client.get(ROUTE, headers={**phone, "If-None-Match": route.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_route_needs_the_registered_phone(world: World) -> None:
    """Without X-Device-Id, or with another nurse's phone, the route is 401."""
    published_night(world, visits=4)
    mine = register_phone(world, "nurse-n1")
    theirs = register_phone(world, "nurse-n2")
    assert world.client.get(ROUTE, headers=world.token("nurse-n1")).status_code == 401
    stolen = {**mine, "X-Device-Id": theirs["X-Device-Id"]}
    response = world.client.get(ROUTE, headers=stolen)
    assert response.status_code == 401
    assert response.json()["code"] == "device_not_registered"


def test_twenty_visit_route_is_under_20_kb_gzipped(world: World) -> None:
    """A route of 20 visits travels gzip-compressed in less than 20 KB."""
    seed_night(world, visits=20)
    nurse_id = world.seeded.nurses["N1"]
    with world.sessions()() as session:
        night = session.query(Night).one()
        from api.db.models import Visit

        visits = session.query(Visit).filter(Visit.night_id == night.id).all()
        assert len(visits) == 20
        steps: list[dict[str, object]] = [
            {"type": "start", "visit_id": None, "arrival": 0, "start": 0, "end": 0}
        ]
        for number, visit in enumerate(visits):
            moment = 600 + number * 1200
            steps.append(
                {
                    "type": "visit",
                    "visit_id": visit.id,
                    "arrival": moment,
                    "start": moment,
                    "end": moment + 900,
                }
            )
        steps.append(
            {"type": "end", "visit_id": None, "arrival": 27000, "start": 27000, "end": 27000}
        )
        session.add(
            RouteVersion(
                night_id=night.id,
                nurse_id=nurse_id,
                version=1,
                plan_version=0,
                steps=steps,
                published_at=datetime(2026, 11, 23, 20, 0, tzinfo=UTC),
            )
        )
        session.commit()
    phone = register_phone(world)
    response = world.client.get(ROUTE, headers={**phone, "Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["visit_count"] == 20
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) < 20 * 1024


def _events(text: str) -> list[int]:
    return [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]


def test_change_stream_resumes_after_last_event_id(world: World) -> None:
    """Each published route version is a notice; Last-Event-ID gives only the later ones."""
    published_night(world, visits=8)
    phone = register_phone(world)
    first = world.client.get(CHANGES, headers=phone)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    seen = _events(first.text)
    assert len(seen) == 1 and "event: route_changed" in first.text
    # The planner moves one of N1's visits to N2: both routes change, the phones are told.
    route = world.client.get(ROUTE, headers=phone).json()
    moved = int(_visit_ids(route)[0])
    version = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    response = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": moved, "nurse": "N2", "position": 0},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    assert response.status_code == 200, response.text
    publish(world)
    everything = _events(world.client.get(CHANGES, headers=phone).text)
    assert everything[0] == seen[0] and len(everything) == 2
    resumed = world.client.get(CHANGES, headers={**phone, "Last-Event-ID": str(seen[0])})
    assert _events(resumed.text) == everything[1:]
    assert f'"visit_ids":["{moved}"]' in resumed.text
    assert '"reason":"visit_removed"' in resumed.text
    # Polling fallback: the route's ETag changed with the new version.
    assert world.client.get(ROUTE, headers=phone).json()["version"] == 2
