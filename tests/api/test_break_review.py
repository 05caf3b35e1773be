"""Review of "breaks keep their place" (s27): a break begun stays begun across every
re-plan of the night, whatever the phone or the stored plan says of it."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from itertools import pairwise
from typing import Any

from tests.api.conftest import World
from tests.api.invariants import settle
from tests.api.phone_helpers import fresh, published_night, register_phone
from tests.api.test_break_kept import (
    EVENTS,
    MINUTE,
    _at,
    _break,
    _check_kept,
    _plan,
    _steps,
    before_version,
    join,
)
from tests.api.test_planner import reoptimise


def _visits_during(plan: dict[str, Any], nurse: str, now: int, until: int) -> list[Any]:
    return [
        s
        for s in _steps(plan, nurse)
        if s["type"] == "visit" and now <= s["start"] < until - MINUTE
    ]


def test_a_break_begun_before_a_replan_stays_begun_when_a_colleague_joins(
    world: World,
) -> None:
    """N1 is 5 minutes into her break (the plan she was told has it; her phone is silent)
    when a re-plan stores routes without it (taken, it is no step); 5 minutes later N0
    joins and the slots are cut again, N1's later. N1 must stay on her break: no visit
    before it ends, no second break owed."""
    published_night(world, visits=30)
    before = _plan(world)
    rest = _break(before, "N1")
    assert rest is not None
    _at(world, rest[0] + 5 * MINUTE)
    reoptimise(world, before_version(world))
    assert _break(_plan(world), "N1") is None  # taken: the stored plan has no step for it
    now = rest[0] + 10 * MINUTE
    _at(world, now)
    join(world, "N0")
    after = _plan(world)
    assert not _visits_during(after, "N1", now, rest[1]), (rest, _steps(after, "N1"))
    again = _break(after, "N1")
    assert again is None or again[0] <= now, ("owed a second break", rest, again)


def _report_break(
    world: World, phone: dict[str, str], phase: str, *, ago: int = 0, sent: bool = True
) -> None:
    """Her phone sends a break ``phase`` it recorded ``ago`` seconds before now (with the
    batch's ``sent_at`` unless ``sent`` is false, as an old client sends it)."""
    now = world.clock().astimezone(UTC)
    event = {
        "type": "break",
        "event_id": str(uuid.uuid4()),
        "device_time": (now - timedelta(seconds=ago)).isoformat(),
        "phase": phase,
    }
    body: dict[str, Any] = {"events": [event]}
    if sent:
        body["sent_at"] = now.isoformat()
    answer = world.client.post(EVENTS, json=body, headers=fresh(world, phone))
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["outcome"] == "accepted", answer.text


def _busy_moment(plan: dict[str, Any], nurse: str) -> int:
    """A moment after 00:00 when ``nurse`` ends a visit and the plan has her next one
    within 10 minutes (so a nurse taken as free keeps it)."""
    visits = [s for s in _steps(plan, nurse) if s["type"] == "visit"]
    moment: int = next(
        a["end"]
        for a, b in pairwise(visits)
        if a["end"] >= 3600 and b["start"] - a["end"] <= 10 * MINUTE
    )
    return moment


def test_a_break_resumed_after_an_interruption_keeps_her_on_it(world: World) -> None:
    """N2's phone: break begun, ended 2 minutes later (a phone call), begun again a
    minute after. 2 minutes on, she is on her break (the phone says so): the re-plan
    gives her no visit before it ends and no second break ahead."""
    published_night(world, visits=30)
    before = _plan(world)
    begun = _busy_moment(before, "N2")
    phone = register_phone(world, "nurse-n2")
    _at(world, begun)
    _report_break(world, phone, "start")
    _at(world, begun + 2 * MINUTE)
    _report_break(world, phone, "end")
    _at(world, begun + 3 * MINUTE)
    _report_break(world, phone, "start")
    _at(world, begun + 5 * MINUTE)
    reoptimise(world, before_version(world))
    after = _plan(world)
    now = ((begun + 5 * MINUTE) // MINUTE) * MINUTE
    _check_kept(before, after, "N2", (begun + 3 * MINUTE, begun + 33 * MINUTE), now)


def test_her_phone_shows_no_second_break_after_she_took_hers_early(world: World) -> None:
    """N2's phone reports her break at 01:00, two hours before her slot; once re-planned,
    the route her phone shows must not still hold the 03:00 break (she would take a
    second one, the service counting on her for visits then)."""
    published_night(world, visits=30)
    before = _plan(world)
    rest = _break(before, "N2")
    assert rest is not None and rest[0] > 2 * 3600 + 30 * MINUTE
    phone = register_phone(world, "nurse-n2")
    _at(world, 2 * 3600)
    _report_break(world, phone, "start")
    settle(world)
    reoptimise(world, before_version(world))
    settle(world)
    assert _break(_plan(world), "N2") is None  # the plan: taken
    shown = world.client.get("/mobile/v1/me/route", headers=fresh(world, phone))
    assert shown.status_code == 200, shown.text
    ahead = [s for s in shown.json()["steps"] if s["type"] == "break"]
    assert not ahead, ("her phone still shows a break to take", ahead)


def test_a_break_begun_by_a_phone_clock_before_the_night_does_not_free_her(
    world: World,
) -> None:
    """N2's phone (an old client: no ``sent_at``, so no clock offset) reports a break begun
    at 22:00 by its clock, hours slow, just as she ends a visit after midnight; she is on
    her break (the phone says so, no end reported). Taken as begun at 23:00, it was over
    by 23:30 and she kept her next visit minutes away."""
    published_night(world, visits=30)
    before = _plan(world)
    begun = _busy_moment(before, "N2")
    phone = register_phone(world, "nurse-n2")
    _at(world, begun)
    _report_break(world, phone, "start", ago=begun + 3600, sent=False)
    _at(world, begun + 2 * MINUTE)
    reoptimise(world, before_version(world))
    after = _plan(world)
    now = ((begun + 2 * MINUTE) // MINUTE) * MINUTE
    assert not _visits_during(after, "N2", now, begun + 25 * MINUTE), _steps(after, "N2")


def _report(world: World, phone: dict[str, str], kind: str, **fields: Any) -> None:
    now = world.clock().astimezone(UTC)
    event = {"type": kind, "event_id": str(uuid.uuid4()), "device_time": now.isoformat()}
    body = {"sent_at": now.isoformat(), "events": [{**event, **fields}]}
    answer = world.client.post(EVENTS, json=body, headers=fresh(world, phone))
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["outcome"] == "accepted", answer.text


def test_a_nurse_whose_phone_shows_her_working_through_her_break_still_has_it(
    world: World,
) -> None:
    """N2's phone reports what she does, never a break: at her planned break she begins
    her next visit instead (running late). Her phone is not silent, so she is not taken to
    follow the plan's break: it is still hers to take, later, not counted as taken."""
    published_night(world, visits=30)
    before = _plan(world)
    rest = _break(before, "N2")
    assert rest is not None
    phone = register_phone(world, "nurse-n2")
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    planned = [s for s in _steps(before, "N2") if s["type"] == "visit"]
    after_break = next(s for s in planned if s["start"] >= rest[1])
    shown = [s for s in route["steps"] if s["type"] == "visit"]
    visit_id = shown[planned.index(after_break)]["visit_id"]
    _at(world, rest[0] + 2 * MINUTE)
    _report(world, phone, "arrived", visit_id=visit_id)
    _report(world, phone, "visit_started", visit_id=visit_id)
    now = rest[0] + 5 * MINUTE
    _at(world, now)
    reoptimise(world, before_version(world))
    after = _plan(world)
    again = _break(after, "N2")
    assert again is not None and again[0] >= (now // MINUTE) * MINUTE, (
        "her break counted as taken while she worked",
        rest,
        _steps(after, "N2"),
    )
