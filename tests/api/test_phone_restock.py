"""Materials used on the phone reach the optimizer: an empty bag plans a restock at the base."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Any

from api.repositories import accounts, nights
from api.services.planning import build_problem
from tests.api.conftest import NIGHT, World
from tests.api.invariants import settle
from tests.api.phone_helpers import fresh, published_night, register_phone
from tests.api.test_planner import PLAN

EVENTS = "/mobile/v1/me/events"


def test_gloves_used_up_on_the_phone_plan_a_restock_before_the_next_visit(world: World) -> None:
    """Shift start with 2 pairs of gloves, a visit that used both: the live re-plan sends her
    to the base to restock before her next visit (every care task needs gloves)."""
    published_night(world, visits=8)
    world.clock.set(23, 20)
    phone = register_phone(world, "nurse-n1")
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    first = next(s["visit_id"] for s in route["steps"] if s["type"] == "visit")
    now = world.clock().astimezone(UTC)

    def event(kind: str, minutes_ago: int, **fields: Any) -> dict[str, Any]:
        moment = now - timedelta(minutes=minutes_ago)
        return {
            "type": kind,
            "event_id": str(uuid.uuid4()),
            "device_time": moment.isoformat(),
            **fields,
        }

    batch = [
        event(
            "shift_start",
            15,
            bag_check={"template_version": 1, "counted": [{"item_id": "gloves", "quantity": 2}]},
        ),
        event("visit_started", 10, visit_id=first),
        event(
            "visit_completed",
            1,
            visit_id=first,
            tasks_done=["care"],
            materials_used=[{"item_id": "gloves", "quantity": 2}],
        ),
    ]
    sent = world.client.post(
        EVENTS,
        json={"sent_at": now.isoformat(), "events": batch},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    assert {r["outcome"] for r in sent.json()["results"]} == {"accepted"}
    settle(world)  # the re-plan follows the answer, on the worker

    with world.sessions()() as session:
        region = accounts.get_region(session)
        night = nights.require_night(session, region, NIGHT)
        problem = build_problem(session, region, night).problem
        n1 = next(n for n in problem.nurses if n.id == "N1")
        assert n1.bag_now is not None and n1.bag_now["gloves"] == 0
        assert n1.bag["gloves"] == 40

    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    steps = next(r for r in plan["plan"]["routes"] if r["nurse_id"] == "N1")["steps"]
    kinds = [s["type"] if s["type"] != "visit" else s["visit_id"] for s in steps]
    later = [i for i, k in enumerate(kinds) if k.startswith("V") and k != f"V{first}"]
    # Her bag is empty: either a restock comes before her next visit, or (a short re-plan on
    # a loaded machine may do so) her colleagues take the rest; never a visit without gloves.
    assert plan["plan"]["violations"] == [], plan["plan"]["violations"]
    if later:
        assert "restock" in kinds and kinds.index("restock") < later[0], kinds
