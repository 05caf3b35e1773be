"""A visit the planner moved out of the plan stays out until she puts it back (F07): the
next live re-plan used to put it straight back on a route."""

from __future__ import annotations

from tests.api.conftest import World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import published_night
from tests.api.test_planner import PLAN

MOVES = f"{PLAN}/moves"


def _plan(world: World) -> dict[str, object]:
    found: dict[str, object] = world.client.get(PLAN, headers=world.token("planner")).json()
    return found


def _move(world: World, visit: int, nurse: str | None) -> dict[str, object]:
    version = _plan(world)["version"]
    moved = world.client.post(
        MOVES,
        json={"visit_id": visit, "nurse": nurse},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    assert moved.status_code == 200, moved.text
    found: dict[str, object] = moved.json()
    return found


def _placed(plan: dict[str, object]) -> set[str]:
    routes = plan["plan"]["routes"]  # type: ignore[index]
    return {s["visit_id"] for r in routes for s in r["steps"] if s["visit_id"]}


def _later_visit(world: World) -> tuple[str, int]:
    plan = _plan(world)
    return next(
        (r["nurse_id"], int(s["visit_id"][1:]))
        for r in plan["plan"]["routes"]  # type: ignore[index]
        for s in r["steps"]
        if s["type"] == "visit" and s["start"] > 2 * 3600
    )


def _acute_call(world: World) -> None:
    org = world.seeded.home_care[1]
    client_id = new_client(world, org, 7)
    made = world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "fall",
            "service_minutes": 15,
            "urgency": "urgent",
        },
        headers=world.key(org),
    )
    assert made.status_code == 201, made.text
    settle(world)


def test_a_visit_moved_out_of_the_plan_stays_out_through_live_replans(world: World) -> None:
    published_night(world, visits=10)
    world.clock.set(0, 30)
    _nurse, visit = _later_visit(world)
    moved = _move(world, visit, None)
    assert moved["saved"] is True
    _acute_call(world)  # a live re-plan of the night
    after = _plan(world)
    assert f"V{visit}" not in _placed(after)
    held = [u for u in after["plan"]["unassigned"] if u["visit_id"] == f"V{visit}"]  # type: ignore[index]
    assert [u["reason"] for u in held] == ["held_by_planner"]


def test_a_held_visit_moved_onto_a_route_is_planned_again(world: World) -> None:
    published_night(world, visits=10)
    world.clock.set(0, 30)
    nurse, visit = _later_visit(world)
    _move(world, visit, None)
    _move(world, visit, nurse)
    _acute_call(world)
    assert f"V{visit}" in _placed(_plan(world))
