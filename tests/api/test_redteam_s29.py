"""Red team s29 of session 28's changes: the memoized stored plan (21a8a7d), the drive under
way (acad3a3), the break's place on the phone (6cdc8fb), the break kept in the paths planned
without the live state (a0a9c7e, a5c93a2), triage's care task (717336d). Fictional night."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World
from tests.api.test_break_kept import _at, _plan
from tests.api.test_planner import reoptimise, seed_night

MINUTE = 60


def test_a_nights_first_plan_made_mid_night_plans_nothing_before_now(world: World) -> None:
    """No plan yet at 01:25 (the planner plans the night late, or the night's first call
    comes then): the night's first plan (a5c93a2's path: no plan to follow, so no live
    state) laid the routes out from the shift's start, so the nurses' phones read visits
    due at 00:15 and 01:05, over an hour ago, and the visits whose windows had closed were
    planned as if the night were still to come. No open visit starts before now."""
    seed_night(world, visits=12)
    now = 2 * 3600 + 25 * MINUTE
    _at(world, now)
    reoptimise(world)
    plan: dict[str, Any] = _plan(world)
    past = [
        (route["nurse_id"], step["visit_id"], step["start"])
        for route in plan["routes"]
        for step in route["steps"]
        if step["type"] == "visit" and step["start"] < now
    ]
    assert not past, ("planned before now", now, past)
    assert plan["routes"], plan
    closed = {u["visit_id"]: u["reason"] for u in plan["unassigned"]}
    assert "window_passed" in closed.values(), plan["unassigned"]
