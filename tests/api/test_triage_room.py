"""Triage says yes when a nurse can be there in time by leaving planned care for later or
for the back-up (brief s23-triage, issue 11: with 2 nurses on 10 simulated nights triage
said no to 16 of 35 acute calls; `nearest_free` reached 91 % of them). And the yes holds:
the partner's call right after is planned no later than said, and the search after it keeps
the call in time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.api.conftest import World, new_client, planned_body
from tests.api.test_durable_replans import acute
from tests.api.test_planner import reoptimise

ASK = "/triage/v1/capacity"
CALLS = "/partner/v1/visit-requests"
PLAN = "/nights/2026-11-23/plan"


def _plan(world: World) -> dict[str, Any]:
    found: dict[str, Any] = world.client.get(PLAN, headers=world.token("planner")).json()
    return found


def _start(world: World, visit_id: int) -> int | None:
    for route in _plan(world)["plan"]["routes"]:
        for step in route["steps"]:
            if step.get("visit_id") == f"V{visit_id}":
                start: int = step["start"]
                return start
    return None


def test_an_acute_call_is_answered_yes_when_planned_care_can_wait(world: World) -> None:
    """Each of the three nurses has 30 minutes of care about 10 km north at 01:15-01:20 (a
    hard window: medication, no tolerance rule). At 00:58 an acute call comes in near the
    base. The call first makes that care late; after it, she is there near 02:00. The old
    answer only inserted, so triage said not_in_time, though one nurse could be there in
    minutes with her planned visit left for later or the back-up (its omission costs
    3 * 10**8, an acute call's 10**9). Now: yes, and the partner's call right after is
    planned with that nurse no later than said, and still in time after the search."""
    org = world.seeded.home_care[0]
    for number in range(3):
        client_id = new_client(world, org, 10 + number)
        far = {"lat": 53.07 + number * 0.002, "lon": 6.60}
        moved = world.client.patch(
            f"/partner/v1/clients/{client_id}", json=far, headers=world.key(org)
        )
        assert moved.status_code == 200, moved.text
        body = planned_body(client_id, start="01:15", end="01:20", service_minutes=30)
        posted = world.client.post(CALLS, json=body, headers=world.key(org))
        assert posted.status_code == 201, posted.text
    reoptimise(world)
    assert not _plan(world)["plan"]["unassigned"]
    called = world.clock.set(0, 58)
    client_id = new_client(world, org, 1)
    where = {"lat": 52.991, "lon": 6.561}
    ask = {**where, "within_minutes": 30, "urgency": "acute", "service_minutes": 20}
    said = world.client.post(ASK, json=ask, headers=world.key(world.seeded.triage[0])).json()
    assert said["available"], said
    assert said["eta_minutes"] <= 30, said
    answer = world.client.post(CALLS, json=acute(client_id), headers=world.key(org))
    assert answer.status_code == 201, answer.text
    [visit] = answer.json()["visits"]
    assert visit["planned"], visit
    assert visit["nurse"] == said["nurse"], (visit, said)
    assert datetime.fromisoformat(visit["expected_start"]) <= datetime.fromisoformat(said["eta"])
    world.client.app.state.replanner.wait_idle(120)
    start = _start(world, visit["visit_id"])
    assert start is not None
    night_start = called.replace(hour=23, minute=0) - timedelta(days=1)
    assert night_start + timedelta(seconds=start) <= called + timedelta(minutes=30), start
