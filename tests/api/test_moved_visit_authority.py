"""A visit the planner moved to a colleague is hers no more once she could know (F13): she
marked done, hours later, a visit moved away from her; what she did while her phone was
offline (it still showed the old route) stays history and is kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.api.conftest import NIGHT, World
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import fresh, publish, published_night, register_phone
from tests.api.test_planner import PLAN

EVENTS = "/mobile/v1/me/events"


def _move_to_n2(world: World) -> int:
    """Move N1's last visit to N2 and publish; the visit's id."""
    planner = world.token("planner")
    plan = world.client.get(PLAN, headers=planner).json()
    route = next(r for r in plan["plan"]["routes"] if r["nurse_id"] == "N1")
    visit = int([s for s in route["steps"] if s["type"] == "visit"][-1]["visit_id"][1:])
    moved = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": visit, "nurse": "N2"},
        headers={**planner, "If-Match": f'"{plan["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    publish(world)
    return visit


def _batch(world: World, phone: dict[str, str], events: list[dict[str, object]]) -> list[str]:
    sent = world.client.post(
        EVENTS,
        json={"sent_at": world.clock().astimezone(UTC).isoformat(), "events": events},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    return [r["reason"] or r["outcome"] for r in sent.json()["results"]]


def _done(visit: int, at: datetime) -> dict[str, object]:
    return {
        "type": "visit_completed",
        "event_id": str(uuid.uuid4()),
        "device_time": at.astimezone(UTC).isoformat(),
        "visit_id": str(visit),
        "tasks_done": [],
        "materials_used": [],
    }


def _position(at: datetime) -> dict[str, object]:
    return {
        "type": "position",
        "event_id": str(uuid.uuid4()),
        "device_time": at.astimezone(UTC).isoformat(),
        "position": [6.56, 52.99],
        "accuracy_metres": 10,
    }


def test_a_nurse_cannot_report_a_visit_moved_to_a_colleague_hours_ago(world: World) -> None:
    published_night(world, visits=10)
    world.clock.set(23, 20)
    visit = _move_to_n2(world)
    world.clock.set(2, 0)
    done = world.client.post(
        f"/nights/{NIGHT}/events",
        json={"kind": "done", "visit_id": visit},
        headers=world.token("nurse-n1", second_factor=True),
    )
    assert done.status_code == 403, done.text


def test_her_phone_heard_from_after_the_move_cannot_report_it(world: World) -> None:
    published_night(world, visits=10)
    world.clock.set(23, 10)
    phone = register_phone(world, "nurse-n1")
    world.clock.set(23, 20)
    visit = _move_to_n2(world)
    world.clock.set(23, 40)
    assert _batch(world, phone, [_position(world.clock())]) == ["accepted"]
    world.clock.set(2, 0)
    assert _batch(world, phone, [_done(visit, world.clock())]) == ["not_your_visit"]
    settle(world)


def test_what_she_did_while_offline_after_the_move_is_kept(world: World) -> None:
    published_night(world, visits=10)
    world.clock.set(23, 10)
    phone = register_phone(world, "nurse-n1")
    world.clock.set(23, 20)
    visit = _move_to_n2(world)
    did_it = world.clock.set(23, 50)  # offline: her phone still showed the old route
    world.clock.set(2, 0)
    assert _batch(world, phone, [_done(visit, did_it)]) == ["accepted"]
    settle(world)
