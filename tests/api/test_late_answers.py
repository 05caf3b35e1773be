"""A call the night team can only reach late says so in the partner's answer, through HTTP on
the simulated clock: ``late`` and ``expected_lateness_minutes`` on each visit's outcome, in
the 201 of the call and when the request is read again after the searched re-plan.

Before: an acute call planned 40 minutes past its 30-minute target came back as ``planned``
with an expected start and nothing else; the partner had to do the arithmetic herself.
"""

from __future__ import annotations

import math

from tests.api.conftest import World
from tests.api.conftest import new_client as register_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import published_night
from tests.api.test_planner import PLAN

REQUESTS = "/partner/v1/visit-requests"


def _acute(client_id: int) -> dict[str, object]:
    return {
        "kind": "unplanned",
        "client_id": client_id,
        "care_task": "fall",
        "service_minutes": 45,
        "urgency": "acute",
    }


def _lateness_in(plan: dict[str, object]) -> dict[int, int]:
    """Visit id -> seconds late, from the planner's view of the plan."""
    late: dict[int, int] = {}
    for route in plan["routes"]:  # type: ignore[index]
        for step in route["steps"]:
            if step["type"] == "visit" and step.get("visit_id"):
                visit_id = int(step["visit_id"][1:])
                late[visit_id] = max(late.get(visit_id, 0), step.get("lateness_seconds", 0))
    return late


def test_acute_calls_planned_late_say_so(world: World) -> None:
    """More acute calls at 03:10 than the team can reach in 30 minutes: the ones planned
    late are flagged with their expected lateness, the others are not."""
    published_night(world, visits=6)
    world.clock.set(3, 10)
    org = world.seeded.home_care[0]
    answers = []
    for number in range(8):
        client_id = register_client(world, org, 40 + number)
        call = world.client.post(REQUESTS, json=_acute(client_id), headers=world.key(org))
        assert call.status_code == 201, call.text
        answers.append(call.json())
    first = [a["visits"][0] for a in answers]
    assert any(o["late"] for o in first), first
    for outcome in first:
        assert outcome["late"] == (outcome["expected_lateness_minutes"] is not None), outcome
        assert not outcome["late"] or outcome["planned"], outcome
    settle(world)
    plan = world.client.get(PLAN, headers=world.token("planner")).json()["plan"]
    late_in_plan = _lateness_in(plan)
    seen_late = 0
    for answer in answers:
        outcome = world.client.get(f"{REQUESTS}/{answer['id']}", headers=world.key(org)).json()[
            "visits"
        ][0]
        seconds = late_in_plan.get(outcome["visit_id"], 0) if outcome["planned"] else 0
        assert outcome["late"] is (seconds > 0), (outcome, seconds)
        expected = math.ceil(seconds / 60) if seconds else None
        assert outcome["expected_lateness_minutes"] == expected, (outcome, seconds)
        seen_late += outcome["late"]
    assert seen_late, "eight 45-minute acute calls at once: some are reached late"
