"""Red-team findings of s20 through HTTP on the test clock; each failed on main before its
fix (or is a strict xfail naming what is left). Ids are those of the red team's report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import fresh, publish, register_phone
from tests.api.test_durable_replans import acute
from tests.api.test_planner import PLAN, reoptimise

CALLS = "/partner/v1/visit-requests"
#: About 9 km north of the test clients (inside the region's area): a 10-minute drive or more.
FAR = {"lat": 53.07, "lon": 6.60}


def _plan(world: World) -> dict[str, Any]:
    found: dict[str, Any] = world.client.get(PLAN, headers=world.token("planner")).json()
    return found


def _step(world: World, visit_id: int) -> tuple[str, dict[str, Any]]:
    for route in _plan(world)["plan"]["routes"]:
        for step in route["steps"]:
            if step.get("visit_id") == f"V{visit_id}":
                return route["nurse_id"], step
    raise AssertionError(f"V{visit_id} is in no route")


def _quiet_night(world: World) -> int:
    """One planned visit at 23:30 (for the first organisation), planned: by 01:05 every
    nurse is idle. Returns the organisation."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 1)
    body = planned_body(client_id, start="23:30", end="23:45")
    assert world.client.post(CALLS, json=body, headers=world.key(org)).status_code == 201
    reoptimise(world)
    return org


def _far_acute_call(world: World, org: int, number: int = 2) -> dict[str, Any]:
    client_id = new_client(world, org, number)
    moved = world.client.patch(f"/partner/v1/clients/{client_id}", json=FAR, headers=world.key(org))
    assert moved.status_code == 200, moved.text
    answer = world.client.post(CALLS, json=acute(client_id), headers=world.key(org))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_r01_an_idle_nurse_cannot_reach_a_call_before_it_was_made(world: World) -> None:
    """01:05, every nurse idle; an acute call 10+ minutes' drive away. The first answer
    has her leave now. The worker's searched plan that follows lays the current plan out
    again from the night's start (`planning.current_plan`), where she could have left
    long before the call: it arrives before the call was made and starts at the call's
    very second, so the live state takes the call as *begun* by her at 01:05 (locked on
    her route, 'done' at 01:25) and the partner reads expected_start = the call time."""
    org = _quiet_night(world)
    world.clock.set(1, 5)
    called = 2 * 3600 + 5 * 60  # 01:05 in seconds from 23:00
    answer = _far_acute_call(world, org)
    [visit] = answer["visits"]
    first = _step(world, visit["visit_id"])[1]
    assert first["travel_seconds"] > 0 and first["arrival"] - first["travel_seconds"] >= called
    settle(world)
    _nurse, step = _step(world, visit["visit_id"])
    assert step["arrival"] - step["travel_seconds"] >= called, step
    read = world.client.get(f"{CALLS}/{answer['id']}", headers=world.key(org)).json()
    expected = datetime.fromisoformat(read["visits"][0]["expected_start"])
    assert expected > world.clock(), (read, visit)  # not "there the moment you called"


def test_r02_a_partner_cannot_flood_another_organisations_access_log(world: World) -> None:
    """Organisation B's key asks for clients and visit requests that do not exist, 40
    times. Each refusal named no client, so each row went into *every* organisation's
    export: A's privacy officer had to page through B's probing (no limit, no rate) to find
    the accesses to her own clients. The attempts are B's own doing: they belong in B's
    export (where B's officer sees them), not in A's."""
    b = world.seeded.home_care[1]
    officer_a = world.token("privacy1", second_factor=True)
    officer_b = world.token("privacy2", second_factor=True)
    before_a = len(world.client.get("/access-log", headers=officer_a).json())
    before_b = len(world.client.get("/access-log", headers=officer_b).json())
    for number in range(20):
        missing = 900_000 + number
        got = world.client.get(f"/partner/v1/clients/{missing}", headers=world.key(b))
        assert got.status_code == 404
        got = world.client.get(f"{CALLS}/{missing}", headers=world.key(b))
        assert got.status_code == 404
    after_a = world.client.get("/access-log", headers=officer_a).json()
    after_b = world.client.get("/access-log", headers=officer_b).json()
    assert len(after_a) == before_a, [r["purpose"] for r in after_a[before_a:]][:3]
    assert len(after_b) == before_b + 40
    assert {r["acting_organisation_id"] for r in after_b[before_b:]} == {b}


def test_r03_a_call_its_nurse_was_driving_to_goes_to_a_colleague_when_she_is_sent_home(
    world: World,
) -> None:
    """01:05 an acute call; the first answer sends a nurse, who is on her way at 01:10 when
    the planner sends her home ill (her shift now ends at 01:10). En route, the call could
    only be hers: the re-plan left it out as 'outside_shifts: ask the back-up partner',
    and the partner read that, while both colleagues were idle until 07:00."""
    org = _quiet_night(world)
    world.clock.set(1, 5)
    answer = _far_acute_call(world, org)
    settle(world)
    nurse, _step_before = _step(world, answer["visits"][0]["visit_id"])
    world.clock.set(1, 10)
    sent_home = world.client.put(
        f"/nurses/{world.seeded.nurses[nurse]}/shifts",
        json={"night_date": NIGHT.isoformat(), "start": "23:00", "end": "01:10"},
        headers=world.token("planner"),
    )
    assert sent_home.status_code == 204, sent_home.text
    settle(world)
    read = world.client.get(f"{CALLS}/{answer['id']}", headers=world.key(org)).json()
    [visit] = read["visits"]
    assert visit["planned"] and visit["nurse"] not in (None, nurse), visit


def test_r04_a_phone_clock_running_slow_does_not_make_a_late_call_look_on_time(
    world: World,
) -> None:
    """Her phone's clock is 40 minutes slow (inside the night and never ahead, so every
    time is believed). An acute call at 01:05; she starts care at 01:25 by the server's
    clock, 00:45 by her phone, which also says so in the batch's ``sent_at``. The visit is
    stored as begun 20 minutes *before* the call: the month report gives the organisation
    a response of -20 minutes, within target; the live re-plans count her free 40 minutes
    early. ``sent_at`` is there "so the server can see how far the phone's clock is off"."""
    org = _quiet_night(world)
    publish(world)
    world.clock.set(1, 5)
    answer = _far_acute_call(world, org)
    settle(world)
    visit_id = answer["visits"][0]["visit_id"]
    nurse, _step_now = _step(world, visit_id)
    phone = register_phone(world, f"nurse-n{nurse[1:]}")
    slow = timedelta(minutes=40)
    world.clock.set(1, 25)
    phone_now = (world.clock() - slow).astimezone(UTC).isoformat()
    event = {
        "type": "visit_started",
        "event_id": str(uuid.uuid4()),
        "device_time": phone_now,
        "visit_id": str(visit_id),
    }
    sent = world.client.post(
        "/mobile/v1/me/events",
        json={"sent_at": phone_now, "events": [event]},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["results"][0]["outcome"] == "accepted", sent.text
    settle(world)
    world.clock.now = world.clock.set(7, 30)
    report = world.client.get("/partner/v1/reports/2026-11", headers=world.key(org))
    assert report.status_code == 200, report.text
    [line] = [v for v in report.json()["visits"] if v["visit_id"] == visit_id]
    assert line["response_minutes"] >= 15, line


def test_r05_triage_sees_a_visit_reported_done_as_the_plan_does(world: World) -> None:
    """A nurse reports her 23:30 visit started at 23:40 and done at 23:45 (15 minutes of
    care: it began by 23:30, as the re-plans believe, `planning._plausible_start`). Triage,
    asked at 23:45 for a call at that address, built the night without the clock and took
    her as busy until 23:55: it promised a colleague from the base, the partner's call
    right after went to her. A triage answer must be the plan's (issue 11: same nurse, no
    later): with a tighter margin, the same gap says 'send the back-up' for a call the
    team takes in time."""
    org = _quiet_night(world)
    [(nurse, visit)] = [
        (route["nurse_id"], int(step["visit_id"][1:]))
        for route in _plan(world)["plan"]["routes"]
        for step in route["steps"]
        if step["type"] == "visit"
    ]
    for hour, minute, kind in ((23, 40, "started"), (23, 45, "done")):
        world.clock.set(hour, minute)
        reported = world.client.post(
            f"/nights/{NIGHT}/events",
            json={"kind": kind, "visit_id": visit, "nurse": nurse},
            headers=world.token("planner"),
        )
        assert reported.status_code == 201, reported.text
    settle(world)
    client_id = new_client(world, org, 1 + 4)
    where = {"lat": 52.991, "lon": 6.561}  # new_client's first address, where she is
    moved = world.client.patch(
        f"/partner/v1/clients/{client_id}", json=where, headers=world.key(org)
    )
    assert moved.status_code == 200, moved.text
    ask = {**where, "within_minutes": 30, "urgency": "acute", "service_minutes": 20}
    said = world.client.post(
        "/triage/v1/capacity", json=ask, headers=world.key(world.seeded.triage[0])
    ).json()
    assert said["available"], said
    answer = world.client.post(CALLS, json=acute(client_id), headers=world.key(org))
    assert answer.status_code == 201, answer.text
    [outcome] = answer.json()["visits"]
    assert outcome["nurse"] == said["nurse"], (outcome, said)
    assert datetime.fromisoformat(outcome["expected_start"]) <= datetime.fromisoformat(said["eta"])


def test_r06_a_call_moved_by_the_planner_is_not_laid_out_in_the_past(world: World) -> None:
    """01:05 an acute call; at 01:06 the planner drags it onto another nurse's route (first
    stop). The move laid her route out on the night without the clock, from 23:00: the call
    started at 01:05, the moment it came, a minute before the move. Stored and sent to her
    phone like that, the live state took the call as begun at 01:05 and, from 01:25, done:
    nobody is sent, and the plan says it was seen to."""
    org = _quiet_night(world)
    world.clock.set(1, 5)
    answer = _far_acute_call(world, org)
    visit_id = answer["visits"][0]["visit_id"]
    settle(world)
    nurse, _before = _step(world, visit_id)
    other = next(n for n in ("N1", "N2", "N3") if n != nurse)
    world.clock.set(1, 6)
    version = _plan(world)["version"]
    moved = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": visit_id, "nurse": other, "position": 0},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    assert moved.status_code == 200, moved.text
    moment = 2 * 3600 + 6 * 60  # 01:06 in seconds from 23:00
    _nurse, step = _step(world, visit_id)
    assert step["arrival"] - step["travel_seconds"] >= moment, step
    world.clock.set(1, 40)  # after the call would have 'ended' had it begun at 01:05
    settle_at = _far_acute_call(world, org, number=3)  # any change re-plans the night
    assert settle_at["visits"][0]["planned"]
    settle(world)
    read = world.client.get(f"{CALLS}/{answer['id']}", headers=world.key(org)).json()
    expected = datetime.fromisoformat(read["visits"][0]["expected_start"])
    assert expected > world.clock() - timedelta(minutes=34), read  # not begun at 01:05
