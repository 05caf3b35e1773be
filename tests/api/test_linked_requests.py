"""Linked requests (issue 13): "check 60-90 min after" another request, through the API."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World, new_client, planned_body
from tests.api.invariants import settle
from tests.api.test_planner import PLAN, reoptimise

REQUESTS = "/partner/v1/visit-requests"


def _submit(world: World, org: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = world.client.post(REQUESTS, json=body, headers=world.key(org))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_check_after_the_injection_is_planned_inside_its_gap(world: World) -> None:
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    injection = _submit(world, org, planned_body(client_id, start="23:30", end="00:30"))
    after = {"request_id": injection["id"], "min_minutes": 60, "max_minutes": 90}
    check = _submit(world, org, planned_body(client_id, start="23:30", end="03:00", after=after))
    assert check["after"] == {**after, "nurse": "any"}
    reoptimise(world)
    night = world.client.get(PLAN, headers=world.token("planner")).json()
    visits = {v["request_id"]: v for v in night["visits"]}
    first, second = visits[injection["id"]], visits[check["id"]]
    assert second["after"] == {
        "visit_id": first["id"],
        "request_id": injection["id"],
        "min_minutes": 60,
        "max_minutes": 90,
        "nurse": "any",
    }
    assert first["after"] is None
    starts = {
        step["visit_id"]: step["start"]
        for route in night["plan"]["routes"]
        for step in route["steps"]
        if step["type"] == "visit"
    }
    ref_first, ref_second = f"V{first['id']}", f"V{second['id']}"
    assert 60 * 60 <= starts[ref_second] - starts[ref_first] <= 90 * 60
    # The partner reads the link back with its request.
    read = world.client.get(f"{REQUESTS}/{check['id']}", headers=world.key(org)).json()
    assert read["after"]["request_id"] == injection["id"]


def test_a_link_to_an_unknown_or_foreign_request_is_refused_naming_the_field(
    world: World,
) -> None:
    mine, theirs = world.seeded.home_care
    client_id = new_client(world, mine)
    foreign = _submit(world, theirs, planned_body(new_client(world, theirs)))
    for request_id in (999_999, foreign["id"]):
        body = planned_body(
            client_id, after={"request_id": request_id, "min_minutes": 60, "max_minutes": 90}
        )
        refused = world.client.post(REQUESTS, json=body, headers=world.key(mine))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "body.after.request_id"


def test_a_bad_link_is_refused_before_anything_is_stored(world: World) -> None:
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    first = _submit(world, org, planned_body(client_id))
    for after, extra in (
        ({"request_id": first["id"], "min_minutes": 90, "max_minutes": 60}, {}),
        # Longer than the night. (Two-person care may be linked since session 22.)
        ({"request_id": first["id"], "min_minutes": 700, "max_minutes": 720}, {}),
    ):
        body = planned_body(client_id, after=after, **extra)
        refused = world.client.post(REQUESTS, json=body, headers=world.key(org))
        assert refused.status_code == 422, refused.text
        assert "Traceback" not in refused.text
    listed = world.client.get(REQUESTS, headers=world.key(org)).json()
    assert [r["id"] for r in listed] == [first["id"]]


def test_the_phone_route_shows_the_link_both_ways(world: World) -> None:
    """Same nurse for both: her route shows the check follows the injection, and back."""
    from tests.api.phone_helpers import publish, register_phone

    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    injection = _submit(world, org, planned_body(client_id, start="23:30", end="00:30"))
    after = {"request_id": injection["id"], "min_minutes": 60, "max_minutes": 90, "nurse": "same"}
    check = _submit(world, org, planned_body(client_id, start="23:30", end="03:00", after=after))
    reoptimise(world)
    publish(world)
    night = world.client.get(PLAN, headers=world.token("planner")).json()
    ids = {v["request_id"]: v["id"] for v in night["visits"]}
    first, second = ids[injection["id"]], ids[check["id"]]
    [nurse] = [r["nurse_id"] for r in night["plan"]["routes"] if f"V{first}" in str(r["steps"])]
    phone = register_phone(world, f"nurse-{nurse.lower()}")
    route = world.client.get("/mobile/v1/me/route", headers=phone)
    assert route.status_code == 200, route.text
    steps = {s["visit_id"]: s for s in route.json()["steps"] if s["type"] == "visit"}
    assert steps[str(first)]["linked"] == [
        {"visit_id": str(second), "relation": "before", "min_minutes": 60, "max_minutes": 90}
    ]
    assert steps[str(second)]["linked"] == [
        {"visit_id": str(first), "relation": "after", "min_minutes": 60, "max_minutes": 90}
    ]


def test_a_request_linked_after_hers_reaches_her_phone_at_once(world: World) -> None:
    """A partner links a new request after one of her visits: the next poll of her
    unchanged route is not a stale 304 (the cached route is keyed by the links too); it
    equals the route built afresh."""
    from api.services import phone as phone_service
    from tests.api.phone_helpers import publish, register_phone

    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    injection = _submit(world, org, planned_body(client_id, start="23:30", end="00:30"))
    reoptimise(world)
    publish(world)
    night = world.client.get(PLAN, headers=world.token("planner")).json()
    first = next(v["id"] for v in night["visits"] if v["request_id"] == injection["id"])
    [nurse] = [r["nurse_id"] for r in night["plan"]["routes"] if f"V{first}" in str(r["steps"])]
    phone = register_phone(world, f"nurse-{nurse.lower()}")
    before = world.client.get("/mobile/v1/me/route", headers=phone)
    assert before.status_code == 200, before.text

    after = {"request_id": injection["id"], "min_minutes": 60, "max_minutes": 90}
    _submit(world, org, planned_body(client_id, start="23:30", end="03:00", after=after))
    # The partner is answered with the quick insertion and the worker's search follows:
    # polled before the search's plan was stored, the poll and the fresh read below would
    # show two different plans.
    settle(world)
    polled = world.client.get(
        "/mobile/v1/me/route", headers={**phone, "If-None-Match": before.headers["ETag"]}
    )
    phone_service._ROUTE_CACHE.clear()
    fresh = world.client.get("/mobile/v1/me/route", headers=phone)
    assert fresh.status_code == 200, fresh.text
    if fresh.headers["ETag"] != before.headers["ETag"]:
        assert polled.status_code == 200, "a stale 304: the route changed"
        assert polled.headers["ETag"] == fresh.headers["ETag"]
    else:
        assert polled.status_code == 304


def test_the_planners_board_shows_the_link(world: World) -> None:
    """The board's visit carries what it follows tonight, the gap and the nurse rule; the
    visit it follows carries none."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    injection = _submit(world, org, planned_body(client_id, start="23:30", end="00:30"))
    after = {"request_id": injection["id"], "min_minutes": 60, "max_minutes": 90, "nurse": "same"}
    check = _submit(world, org, planned_body(client_id, start="23:30", end="03:00", after=after))
    reoptimise(world)
    night = world.client.get(PLAN, headers=world.token("planner")).json()
    ids = {v["request_id"]: v["id"] for v in night["visits"]}
    board = world.client.get(PLAN.replace("/plan", "/board"), headers=world.token("planner"))
    assert board.status_code == 200, board.text
    visits = {v["id"]: v for v in board.json()["visits"]}
    first, second = f"V{ids[injection['id']]}", f"V{ids[check['id']]}"
    assert visits[second]["after"] == {
        "visit": first,
        "min_minutes": 60,
        "max_minutes": 90,
        "nurse": "same",
    }
    assert visits[first]["after"] is None
