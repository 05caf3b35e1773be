"""Red-team findings of s22's second red team (on the merged tree `integ`) through HTTP on
the test clock; each failed on integ before its fix, or is a strict xfail naming what is left.
Ids are those of the red team's report (R22B-nn)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from tests.api.conftest import AMSTERDAM, NIGHT, World, new_client, planned_body
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import publish
from tests.api.test_phone_clock_offset import (
    REPORT,
    _called_and_phone,
    _event,
    _send,
    _started_seconds,
)
from tests.api.test_planner import reoptimise, seed_night
from tests.api.test_redteam_s20 import _plan
from tests.api.test_redteam_s21b import _phones
from tests.api.test_silent_nurses_on_board import _move


def test_one_batch_with_a_sent_at_ahead_does_not_move_the_rest_of_the_night(
    any_world: World,
) -> None:
    """Her phone's clock is right. At 01:10 it sends a position recorded at 01:09, but the
    batch says ``sent_at`` 03:10 (the clock jumped two hours ahead in between and back, or a
    forged body): that batch alone is taken as a clock 2 h fast, as before R21B-08. Every
    later batch is honest: care begun at 01:15 sent at 01:25 with ``sent_at`` 01:25. On integ
    its larger offset (0 against -2 h) is read as a late delivery and the -2 h stands, for
    this and every later batch of the night: care is taken as begun at 23:15, held at the
    01:05 call, and the month report shows a response of 0 minutes, not 10 (a response made
    to look fast, by one forged body before honest ones)."""
    world = any_world
    org, visit_id, phone = _called_and_phone(world)
    world.clock.set(1, 10)
    now = world.clock()
    _send(
        world,
        phone,
        [
            _event(
                "position",
                now - timedelta(minutes=1),
                position=[6.6, 53.07],
                accuracy_metres=10,
            )
        ],
        sent_at=now + timedelta(hours=2),
    )
    world.clock.set(1, 15)
    began = world.clock()
    world.clock.set(1, 25)
    _send(
        world,
        phone,
        [_event("visit_started", began, visit_id=str(visit_id))],
        sent_at=world.clock(),
    )
    assert _started_seconds(world, visit_id) == 2 * 3600 + 15 * 60
    world.clock.set(7, 30)
    report = world.client.get(REPORT, headers=world.key(org))
    [line] = [v for v in report.json()["visits"] if v["visit_id"] == visit_id]
    assert line["response_minutes"] == 10.0, line


REQUESTS = "/partner/v1/visit-requests"


def _recurring(
    world: World, org: int, client_id: int, first: date, until: date, **extra: Any
) -> dict[str, Any]:
    body = planned_body(client_id, recurrence={"until": until.isoformat()}, **extra)
    body["night"] = first.isoformat()
    answer = world.client.post(REQUESTS, json=body, headers=world.key(org))
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_running_recurring_check_can_be_relinked_to_a_new_first_care(
    any_world: World,
) -> None:
    """R22B-02. A check follows a first care every night from the 23rd to the 29th. On the
    25th the partner replaces the first care (issue 13: "a first care to be cancelled no
    longer needs the check cancelled and resubmitted"): a new first care from the 25th, the
    check relinked to it, the old one cancelled. integ refused the relink for the night of
    the 23rd, already over (the new care cannot be given in the past), so a running check
    could never be relinked; and once relinked, its end could not be amended either. Nights
    from now on are checked: a first care missing on a coming night is still refused."""
    world = any_world
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    last = NIGHT + timedelta(days=6)
    first = _recurring(world, org, client_id, NIGHT, last)
    link = {"request_id": first["id"], "min_minutes": 60, "max_minutes": 120, "nurse": "any"}
    check = _recurring(world, org, client_id, NIGHT, last, after=link)
    today = NIGHT + timedelta(days=2)
    world.clock.now = datetime(today.year, today.month, today.day, 20, 0, tzinfo=AMSTERDAM)
    short = _recurring(world, org, client_id, today, last - timedelta(days=1))
    refused = world.client.patch(
        f"{REQUESTS}/{check['id']}",
        json={"after": {**link, "request_id": short["id"]}},
        headers=world.key(org),
    )
    assert refused.status_code == 422, refused.text
    assert last.isoformat() in refused.text, refused.text
    new = _recurring(world, org, client_id, today, last)
    relinked = world.client.patch(
        f"{REQUESTS}/{check['id']}",
        json={"after": {**link, "request_id": new["id"]}},
        headers=world.key(org),
    )
    assert relinked.status_code == 200, relinked.text
    assert relinked.json()["after"]["request_id"] == new["id"]
    cancelled = world.client.post(f"{REQUESTS}/{first['id']}/cancel", headers=world.key(org))
    assert cancelled.status_code in (200, 204), cancelled.text
    shorter = world.client.patch(
        f"{REQUESTS}/{check['id']}",
        json={"recurrence_until": (last - timedelta(days=1)).isoformat()},
        headers=world.key(org),
    )
    assert shorter.status_code == 200, shorter.text


def test_an_evening_hand_move_is_not_refused_for_phones_off_before_the_night(
    any_world: World,
) -> None:
    """R22B-03. The phones were registered long ago; the planner publishes the night's care
    at 20:00 and at 21:00, two hours before the night starts, moves a visit to another
    nurse by hand. The nurses are off duty, their phones off: integ judged every one of them
    silent three minutes after the publication, so every evening move was 409 nurse-silent
    ("she will not see this on her phone": she will, when she starts), and the evening's
    re-plans took all her care off her as not seen. Silence is judged from the night's
    start: the move is saved, with no warning, and the care stays planned."""
    world = any_world
    world.clock.set(19, 0)
    _phones(world)
    seed_night(world)
    reoptimise(world)
    world.clock.set(20, 0)
    publish(world)
    world.clock.set(21, 0)
    routes = {r["nurse_id"]: r["steps"] for r in _plan(world)["plan"]["routes"]}
    source = next(code for code, steps in routes.items() if any(s.get("visit_id") for s in steps))
    visit = next(s["visit_id"] for s in routes[source] if s.get("visit_id"))
    target = next(code for code in routes if code != source)
    moved = _move(world, {"visit_id": int(visit[1:]), "nurse": target})
    assert moved.status_code == 200, moved.text
    assert moved.json()["warnings"] == [], moved.json()
    board = world.client.get("/nights/2026-11-23/board", headers=world.token("planner"))
    assert not any(n["phone"]["silent"] for n in board.json()["nurses"]), board.text
