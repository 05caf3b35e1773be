"""A leg's minutes go with its kilometres (session 28).

The live state puts a nurse on her way to a visit at its door, so a re-plan laid that step
out with no drive left: her phone read "0 min, 3.2 km" for the leg she was driving, the
board drew no travel before the visit, and the route's travel left it out. Her phone also
drew a break taken at a door as taken where she was: "10 min, 0 km", then "0 min, 7.8 km".
Straight lines here (no road network), so a leg is as long on every read of it.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select

from api.db.models import Night, Visit
from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import fresh, published_night, register_phone
from tests.api.test_planner import PLAN

ROUTE = "/mobile/v1/me/route"
BOARD = f"/nights/{NIGHT.isoformat()}/board"


def _plan(world: World) -> dict[str, Any]:
    got = world.client.get(PLAN, headers=world.token("planner"))
    assert got.status_code == 200, got.text
    found: dict[str, Any] = got.json()
    return found


def _under_way(plan: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A nurse and a visit of hers she drives to from another visit, minutes away."""
    for route in plan["plan"]["routes"]:
        steps = route["steps"]
        for previous, step in pairwise(steps):
            if (
                step["type"] == "visit"
                and previous["type"] == "visit"
                and step["travel_seconds"] >= 2 * 60
            ):
                return route["nurse_id"], step
    raise AssertionError("no visit on a route is driven to from another visit")


def _leg(world: World, phone: dict[str, str], visit_id: str) -> dict[str, Any]:
    route = world.client.get(ROUTE, headers=fresh(world, phone)).json()
    step = next(s for s in route["steps"] if s.get("visit_id") == visit_id)
    leg: dict[str, Any] = step["leg"]
    return leg


def test_the_drive_she_is_on_keeps_its_minutes_on_her_phone_and_the_board(
    world: World,
) -> None:
    """Halfway along the drive to her next visit, a colleague's visit is moved onto the end
    of her route: her phone gets the new route, and the leg she is driving still says the
    minutes it did (not 0 beside its kilometres); the route's and the board's travel keep it."""
    published_night(world, visits=12)
    before = _plan(world)
    nurse, step = _under_way(before)
    visit_id = step["visit_id"][1:]
    phone = register_phone(world, f"nurse-{nurse.lower()}")
    leg = _leg(world, phone, visit_id)
    assert leg["travel_seconds"] == step["travel_seconds"] and leg["distance_metres"] > 0
    with world.sessions()() as session:
        starts = session.scalars(select(Night.starts_at)).one()
    now = step["start"] - step["travel_seconds"] // 2
    world.clock.now = starts + timedelta(seconds=now)
    later = next(
        s
        for r in before["plan"]["routes"]
        if r["nurse_id"] != nurse
        for s in r["steps"]
        if s["type"] == "visit" and s["start"] > now + 10 * 60
    )
    moved = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": int(later["visit_id"][1:]), "nurse": nurse},
        headers={**world.token("planner"), "If-Match": f'"{before["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    mine = world.client.get(ROUTE, headers=fresh(world, phone)).json()
    assert any(s.get("visit_id") == later["visit_id"][1:] for s in mine["steps"]), "not re-sent"
    assert _leg(world, phone, visit_id) == leg

    board = world.client.get(BOARD, headers=world.token("planner")).json()
    [drawn] = [r for r in board["routes"] if r["nurse_id"] == nurse]
    [shown] = [s for s in drawn["steps"] if s["visit_id"] == step["visit_id"]]
    assert shown["travel_seconds"] == step["travel_seconds"], shown
    # Every total is what its steps carry, the leg under way among them.
    assert drawn["travel_seconds"] == sum(s["travel_seconds"] for s in drawn["steps"])
    assert mine["summary"]["travel_seconds"] == drawn["travel_seconds"]


def test_a_break_taken_at_the_next_door_has_the_drive_there_on_her_phone(world: World) -> None:
    """N2 is free from 01:55 and her break's slot opens at 03:00; a visit from 03:10 is put
    last on her route: she drives there, takes the break at the door and begins the visit
    after it. On her phone the break's leg is that drive, minutes and kilometres, and the
    visit's leg is none; no leg has minutes without kilometres or the other way round."""
    published_night(world, visits=12)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, number=41)
    asked = world.client.post(
        "/partner/v1/visit-requests",
        json=planned_body(client_id, start="03:10", end="04:30"),
        headers=world.key(org),
    )
    assert asked.status_code == 201, asked.text
    settle(world)
    before = _plan(world)
    with world.sessions()() as session:
        new = f"V{session.scalars(select(Visit.id).where(Visit.client_id == client_id)).one()}"
    moved = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": int(new[1:]), "nurse": "N2"},
        headers={**world.token("planner"), "If-Match": f'"{before["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    [route] = [r for r in _plan(world)["plan"]["routes"] if r["nurse_id"] == "N2"]
    kinds = [(s["type"], s["visit_id"]) for s in route["steps"]]
    at = kinds.index(("visit", new))
    rest, visit = route["steps"][at - 1], route["steps"][at]
    assert rest["type"] == "break" and rest["location"] == visit["location"], route["steps"]
    assert rest["travel_seconds"] > 0 and visit["travel_seconds"] == 0, (rest, visit)

    phone = register_phone(world, "nurse-n2")
    mine = world.client.get(ROUTE, headers=fresh(world, phone)).json()
    shown = {s.get("visit_id"): s for s in mine["steps"]}
    [drive] = [s["leg"] for s in mine["steps"] if s["type"] == "break"]
    assert drive["travel_seconds"] == rest["travel_seconds"] and drive["distance_metres"] > 0
    assert shown[new[1:]]["leg"]["distance_metres"] == 0, shown[new[1:]]["leg"]
    for step in mine["steps"][1:]:
        leg = step["leg"]
        assert (leg["travel_seconds"] > 0) == (leg["distance_metres"] > 0), step
    assert mine["summary"]["travel_seconds"] == route["travel_seconds"]
