"""The live night's invariant, for any test to assert: every accepted visit of a planned
night is in the current plan's routes or in its ``unassigned`` list (with a reason), and in
exactly one of them, exactly once per nurse it needs; a visit nobody could get into is in
``unassigned`` (reason ``could_not_get_in``), never dropped.

Use it after a test that changes a night (the database is the truth, read directly):

    from tests.api.invariants import assert_visits_placed
    assert_visits_placed(world.sessions())            # every night with a plan
    assert_visits_placed(url)                          # a database URL (a served process)

or for every test of a module that uses ``world`` or ``any_world``, import the autouse
fixture into the module:

    from tests.api.invariants import visits_placed_after_each_test  # noqa: F401

A night with a re-plan still owed (``replan_requested > replan_done``) fails with that
said; `wait_until_settled` polls a served process's database until nothing is owed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.db.engine import make_engine, make_session_factory
from api.db.models import Night, PlanVersion, Visit

__all__ = [
    "assert_visits_placed",
    "pending_nights",
    "settle",
    "visit_problems",
    "visits_placed_after_each_test",
    "wait_until_settled",
]

Sessions = sessionmaker[Session] | str


def _factory(sessions: Sessions) -> sessionmaker[Session]:
    if isinstance(sessions, str):
        return make_session_factory(make_engine(sessions))
    return sessions


def visit_problems(session: Session, night: Night) -> list[str]:
    """What breaks the invariant in ``night`` (empty: it holds). Nights without a plan
    have nothing placed yet and hold trivially."""
    if night.plan_version == 0:
        return []
    if night.replan_requested > night.replan_done:
        return [f"night {night.night_date}: a re-plan is still owed"]
    stored = session.scalars(
        select(PlanVersion).where(
            PlanVersion.night_id == night.id, PlanVersion.version == night.plan_version
        )
    ).one()
    in_routes: Counter[str] = Counter()
    for route in stored.plan["routes"]:
        for step in route["steps"]:
            if step["type"] == "visit" and step.get("visit_id"):
                in_routes[step["visit_id"]] += 1
    unassigned = Counter(u["visit_id"] for u in stored.plan["unassigned"])
    reasons = {
        u["visit_id"]: (u.get("reason"), u.get("message")) for u in stored.plan["unassigned"]
    }
    problems = []
    visits = session.scalars(
        select(Visit).where(
            Visit.night_id == night.id, Visit.status.in_(("open", "could_not_get_in"))
        )
    )
    for visit in visits:
        ref = f"V{visit.id}"
        routed, left = in_routes[ref], unassigned[ref]
        if visit.status == "could_not_get_in":
            # Nobody got in: no longer planned, but in ``unassigned`` with its reason.
            if routed or left != 1 or not all(reasons[ref]):
                problems.append(f"{ref}: could not get in, but not unassigned once with a reason")
            continue
        if routed and left:
            problems.append(f"{ref}: both in a route and unassigned")
        elif routed and routed != visit.nurses_needed:
            problems.append(f"{ref}: in {routed} routes, needs {visit.nurses_needed} nurse(s)")
        elif left > 1:
            problems.append(f"{ref}: unassigned {left} times")
        elif not routed and not left:
            problems.append(f"{ref}: accepted but neither in the routes nor unassigned")
        elif left and not all(reasons[ref]):
            problems.append(f"{ref}: unassigned without a reason")
    return [f"night {night.night_date}: {p}" for p in problems]


def pending_nights(sessions: Sessions) -> list[Night]:
    """The nights with a re-plan still owed."""
    with _factory(sessions)() as session:
        return list(
            session.scalars(select(Night).where(Night.replan_requested > Night.replan_done))
        )


def assert_visits_placed(sessions: Sessions) -> None:
    """Assert the invariant for every night of the database."""
    with _factory(sessions)() as session:
        problems = [
            p for night in session.scalars(select(Night)) for p in visit_problems(session, night)
        ]
    assert not problems, "\n".join(problems)


def wait_until_settled(sessions: Sessions, *, timeout: float = 120.0) -> None:
    """Poll until no night owes a re-plan (a served process drains them); then return.

    The timeout only bounds a hung test; nothing is asserted about how long it took.
    """
    factory = _factory(sessions)
    deadline = time.monotonic() + timeout
    while pending_nights(factory):
        assert time.monotonic() < deadline, "re-plans still owed: the worker did not drain them"
        time.sleep(0.2)


def settle(world: Any) -> None:
    """Wait until the in-process app's re-plan worker has drained what is owed (a phone's
    events are answered before their re-plan is made)."""
    assert world.client.app.state.replanner.wait_idle(120), "re-plans still owed"


@pytest.fixture(autouse=True)
def visits_placed_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test with a ``world`` or ``any_world``: nothing owed, every visit placed."""
    # Asked for before the test, so the world is torn down after this check.
    world = next(
        (request.getfixturevalue(n) for n in ("world", "any_world") if n in request.fixturenames),
        None,
    )
    yield
    if world is not None:
        wait_until_settled(world.sessions())
        assert_visits_placed(world.sessions())
