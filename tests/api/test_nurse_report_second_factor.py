"""A nurse's report through `POST /nights/{date}/events` needs her second factor (red team
s25, finding S25-07).

Her phone reports with a token signed in with her TOTP code and bound to the registered
phone's key. The planner's events route took a nurse token signed in with the password
alone: whoever learnt a night nurse's password (shared on the ward, phished) could mark her
open visits done (care taken out of the plan, the client never visited) or hold her up four
hours, with no phone and no second factor. Found live on the demo.
"""

from __future__ import annotations

from sqlalchemy import select

from api.db.models import AccessLogEntry
from tests.api.conftest import NIGHT, World
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.test_planner import PLAN, reoptimise, seed_night

EVENTS = f"/nights/{NIGHT}/events"


def _first_open_stop(world: World, nurse: str) -> int:
    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    route = next(r for r in plan["plan"]["routes"] if r["nurse_id"] == nurse)
    return next(int(s["visit_id"][1:]) for s in route["steps"] if s["type"] == "visit")


def test_a_password_only_nurse_token_reports_nothing(world: World) -> None:
    seed_night(world, visits=10)
    reoptimise(world)
    world.clock.set(0, 40)
    stop = _first_open_stop(world, "N1")
    password_only = world.token("nurse-n1", second_factor=False)
    for body in ({"kind": "done", "visit_id": stop}, {"kind": "delayed", "delay_minutes": 240}):
        refused = world.client.post(EVENTS, json=body, headers=password_only)
        assert refused.status_code == 403, refused.text
        assert "second factor" in refused.json()["detail"]
    statuses = {
        v["id"]: v["status"]
        for v in world.client.get(PLAN, headers=world.token("planner")).json()["visits"]
    }
    assert statuses[stop] == "open"
    # Each refusal is a row for the privacy officer, as at a phone's registration (review).
    with world.sessions()() as session:
        rows = list(
            session.scalars(select(AccessLogEntry).where(AccessLogEntry.event == "report.refused"))
        )
    assert len(rows) == 2
    assert all(r.role == "nurse" and "second_factor_required" in r.purpose for r in rows)
    done = world.client.post(
        EVENTS,
        json={"kind": "done", "visit_id": stop},
        headers=world.token("nurse-n1", second_factor=True),
    )
    assert done.status_code == 201, done.text
