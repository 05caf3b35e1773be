"""The live night: an alarm at 03:12 and nurses' reports re-plan the rest of the night."""

from __future__ import annotations

from tests.api.conftest import NIGHT, World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.test_planner import PLAN, reoptimise, seed_night


def _published(world: World) -> None:
    version = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    world.client.post(
        f"{PLAN}/publish", headers={**world.token("planner"), "If-Match": f'"{version}"'}
    )


def _routes(world: World) -> dict[int, dict[str, object]]:
    routes = world.client.get(f"/nights/{NIGHT}/routes", headers=world.token("planner")).json()
    return {r["nurse_id"]: r for r in routes}


def test_alarm_at_0312_changes_plan_and_route_version(any_world: World) -> None:
    """An acute call at 03:12 is planned within a second; that nurse's phone gets a new version."""
    world = any_world
    seed_night(world, visits=15)
    reoptimise(world)
    _published(world)
    before_version = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    before_routes = _routes(world)
    org = world.seeded.home_care[1]
    client_id = new_client(world, org, 9)
    world.clock.set(3, 12)
    response = world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "fall",
            "service_minutes": 25,
            "urgency": "acute",
        },
        headers={**world.key(org), "Idempotency-Key": "alarm-0312"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["live_replan"]["plan_version"] == before_version + 1
    outcome = body["visits"][0]
    assert outcome["planned"] is True, body
    nurse = outcome["nurse"]
    assert nurse in body["live_replan"]["affected_nurses"]
    after_routes = _routes(world)
    nurse_id = world.seeded.nurses[nurse]
    assert after_routes[nurse_id]["version"] == before_routes[nurse_id]["version"] + 1
    assert after_routes[nurse_id]["published_version"] == after_routes[nurse_id]["version"]
    steps = after_routes[nurse_id]["steps"]
    assert outcome["visit_id"] in [s["visit_id"] for s in steps]  # type: ignore[union-attr]
    # Nothing new starts before the call.
    plan = world.client.get(PLAN, headers=world.token("planner")).json()["plan"]
    step = next(
        s for r in plan["routes"] for s in r["steps"] if s["visit_id"] == f"V{outcome['visit_id']}"
    )
    assert step["start"] >= (3 * 3600 + 12 * 60) + 3600  # 03:12 is 4 h 12 min after 23:00


def test_nurse_reports_replan_the_night(world: World) -> None:
    """A nurse reports done and could-not-get-in; each report makes a new plan version."""
    seed_night(world, visits=10)
    reoptimise(world)
    _published(world)
    world.clock.set(0, 40)
    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    route = next(r for r in plan["plan"]["routes"] if r["nurse_id"] == "N1")
    stops = [int(s["visit_id"][1:]) for s in route["steps"] if s["type"] == "visit"]
    assert len(stops) >= 2
    nurse = world.token("nurse-n1", second_factor=True)
    done = world.client.post(
        f"/nights/{NIGHT}/events", json={"kind": "done", "visit_id": stops[0]}, headers=nurse
    )
    assert done.status_code == 201, done.text
    missed = world.client.post(
        f"/nights/{NIGHT}/events",
        json={"kind": "could_not_get_in", "visit_id": stops[1]},
        headers=nurse,
    )
    assert missed.status_code == 201, missed.text
    assert missed.json()["plan_version"] == done.json()["plan_version"] + 1
    late = world.client.post(
        f"/nights/{NIGHT}/events", json={"kind": "delayed", "delay_minutes": 20}, headers=nurse
    )
    assert late.status_code == 201, late.text
    after = world.client.get(PLAN, headers=world.token("planner")).json()
    statuses = {v["id"]: v["status"] for v in after["visits"]}
    assert statuses[stops[0]] == "done" and statuses[stops[1]] == "could_not_get_in"
    planned = {s["visit_id"] for r in after["plan"]["routes"] for s in r["steps"]}
    assert f"V{stops[1]}" not in planned


def test_event_outside_the_night_is_refused(world: World) -> None:
    """Reports before the night has begun are 422, not a re-plan."""
    seed_night(world, visits=3)
    reoptimise(world)
    response = world.client.post(
        f"/nights/{NIGHT}/events",
        json={"kind": "delayed", "delay_minutes": 10},
        headers=world.token("nurse-n2", second_factor=True),
    )
    assert response.status_code == 422


def test_cancelling_an_alarm_replans_the_night(world: World) -> None:
    """A partner cancels an unplanned request mid-night: it leaves the plan at once."""
    seed_night(world, visits=6)
    reoptimise(world)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 5)
    world.clock.set(2, 0)
    made = world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "pain",
            "service_minutes": 15,
            "urgency": "urgent",
        },
        headers=world.key(org),
    ).json()
    visit = made["visits"][0]["visit_id"]
    settle(world)  # the answer was the first one; the worker's search follows
    before = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    assert before >= made["live_replan"]["plan_version"]
    cancelled = world.client.post(
        f"/partner/v1/visit-requests/{made['id']}/cancel", headers=world.key(org)
    )
    assert cancelled.status_code == 200
    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    assert plan["version"] == before + 1
    planned = {s["visit_id"] for r in plan["plan"]["routes"] for s in r["steps"]}
    assert f"V{visit}" not in planned


def test_a_live_replan_of_a_night_without_a_plan_builds_its_first_plan_whole(
    world: World,
) -> None:
    """A call comes in for a night nobody has planned yet, on a loaded machine (here: a live
    budget of a millisecond). The live re-plan must not store a first plan cut short by that
    budget (visits 'no plan in time', never tried): a night without a plan gets the solver's
    first-plan path, complete, and the call is planned."""
    seed_night(world, visits=40)
    world.settings.live_replan_seconds = 0.001
    org = world.seeded.home_care[1]
    client_id = new_client(world, org, 9)
    world.clock.set(0, 30)
    response = world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "fall",
            "service_minutes": 25,
            "urgency": "acute",
        },
        headers={**world.key(org), "Idempotency-Key": "alarm-cold-night"},
    )
    assert response.status_code == 201, response.text
    settle(world)
    body = world.client.get(PLAN, headers=world.token("planner")).json()
    untried = [
        u["visit_id"] for u in body["plan"]["unassigned"] if u["reason"] == "no_plan_in_time"
    ]
    assert untried == []
    assert not body["fallback"]
    outcome = response.json()["visits"][0]
    assert outcome["planned"] is True, response.json()
