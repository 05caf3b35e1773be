"""Red-team findings of s21 (second round, today's merged tree) through HTTP on the test
clock; each failed on integ before its fix (or is a strict xfail naming what is left). Ids
are those of the red team's report (R21B-nn)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from api.db.models import Night, Visit
from tests.api.conftest import NIGHT, World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import fresh, publish, published_night, register_phone
from tests.api.test_burst_answers import searches_held
from tests.api.test_durable_replans import acute
from tests.api.test_planner import reoptimise, seed_night
from tests.api.test_redteam_s20 import CALLS, _far_acute_call, _plan, _quiet_night, _step

ROUTE = "/mobile/v1/me/route"


def _phones(world: World) -> dict[str, dict[str, str]]:
    return {code: register_phone(world, f"nurse-{code.lower()}") for code in world.seeded.nurses}


def _read(world: World, phone: dict[str, str]) -> int:
    """Her phone reads its route as the app does; the status (200, or 404: no route)."""
    answer = world.client.get(ROUTE, headers=fresh(world, phone))
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code


def _unassigned(world: World, visit_id: int) -> dict[str, Any] | None:
    for item in _plan(world)["plan"]["unassigned"]:
        if item["visit_id"] == f"V{visit_id}":
            found: dict[str, Any] = item
            return found
    return None


def test_r21b_01_a_phone_back_on_line_reading_an_empty_route_is_heard_again(
    world: World,
) -> None:
    """A night with no planned care. 01:05 an acute call goes to a nurse whose phone is
    offline; her colleagues' phones read theirs, so at 01:10 the call goes to one of them
    and her route is left empty. From 01:12 her phone is back and reads her (empty) route
    every minute. Silence was judged from access-log rows, one per client shown: a route
    showing no client logs none, so she stayed 'silent' all night and was given nothing new.
    At 01:15 the planner sends her colleagues home; the acute call at 01:20 must be hers,
    not left out for the back-up with three phones reading."""
    org = world.seeded.home_care[0]
    reoptimise(world)
    publish(world)
    phones = _phones(world)
    world.clock.set(1, 0)
    for phone in phones.values():
        _read(world, phone)
    world.clock.set(1, 5)
    first = _far_acute_call(world, org)
    settle(world)
    silent, _step_then = _step(world, first["visits"][0]["visit_id"])
    for minute in (6, 9):
        world.clock.set(1, minute)
        for code, phone in phones.items():
            if code != silent:
                _read(world, phone)
    world.clock.set(1, 10)
    second = world.client.post(CALLS, json=acute(new_client(world, org, 3)), headers=world.key(org))
    assert second.status_code == 201, second.text
    settle(world)
    assert _step(world, first["visits"][0]["visit_id"])[0] != silent
    for minute in (12, 13, 14):
        world.clock.set(1, minute)
        for phone in phones.values():
            _read(world, phone)
    world.clock.set(1, 15)
    for code, nurse_id in world.seeded.nurses.items():
        if code != silent:
            cut = world.client.put(
                f"/nurses/{nurse_id}/shifts",
                json={"night_date": NIGHT.isoformat(), "start": "23:00", "end": "01:15"},
                headers=world.token("planner"),
            )
            assert cut.status_code == 204, cut.text
    settle(world)
    for minute in (16, 17, 18, 19):
        world.clock.set(1, minute)
        for phone in phones.values():
            _read(world, phone)
    world.clock.set(1, 20)
    third = world.client.post(CALLS, json=acute(new_client(world, org, 4)), headers=world.key(org))
    assert third.status_code == 201, third.text
    settle(world)
    visit_id = third.json()["visits"][0]["visit_id"]
    assert _unassigned(world, visit_id) is None, _unassigned(world, visit_id)
    assert _step(world, visit_id)[0] == silent


def test_r21b_02_phones_that_read_late_get_the_night_back(world: World) -> None:
    """The phones were registered long ago; the planner publishes the night's care at
    21:30; no phone reads its route before 23:05, when an acute call comes. Every nurse is
    judged silent, so all planned care is taken off the routes as 'not seen' and barred
    from every nurse (left for the back-up). From 23:06 the three phones read their routes
    every minute: heard again, the care must be theirs again, not left out all night
    waiting for an unrelated re-plan."""
    world.clock.set(21, 0)
    phones = _phones(world)
    seed_night(world)
    reoptimise(world)
    world.clock.set(21, 30)
    publish(world)
    org = world.seeded.home_care[0]
    world.clock.set(23, 5)
    call = world.client.post(CALLS, json=acute(new_client(world, org, 7)), headers=world.key(org))
    assert call.status_code == 201, call.text
    settle(world)
    for minute in range(6, 12):
        world.clock.set(23, minute)
        for phone in phones.values():
            _read(world, phone)
        settle(world)
    plan = _plan(world)["plan"]
    left = [(u["visit_id"], u["reason"]) for u in plan["unassigned"]]
    assert not left, left


def test_r21b_03_care_barred_by_silent_phones_says_so(world: World) -> None:
    """The night of R21B-02 at 23:05, before any phone reads: every nurse is silent, the
    care and the acute call are barred from all three. The planner and the partner read
    'no_capacity: no nurse on shift carries enough of the materials it needs', untrue
    (nothing needs materials): what keeps it out is that no phone picked up its route,
    and the one thing that helps is to phone the nurses (or the back-up)."""
    world.clock.set(21, 0)
    _phones(world)
    seed_night(world)
    reoptimise(world)
    world.clock.set(21, 30)
    publish(world)
    org = world.seeded.home_care[0]
    world.clock.set(23, 5)
    call = world.client.post(CALLS, json=acute(new_client(world, org, 7)), headers=world.key(org))
    assert call.status_code == 201, call.text
    settle(world)
    plan = _plan(world)["plan"]
    assert plan["unassigned"]
    for item in plan["unassigned"]:
        assert item["reason"] == "not_enough_nurses", item
        assert "phone" in item["message"] and "materials" not in item["message"], item
    read = world.client.get(f"{CALLS}/{call.json()['id']}", headers=world.key(org)).json()
    assert read["visits"][0]["not_planned_reason"] == "not_enough_nurses", read


def test_held_a_burst_with_a_two_person_call_and_a_cancel_keeps_every_call(
    world: World,
) -> None:
    """01:05, every nurse idle: five acute calls and one acute two-person call, posted
    while the searched re-plan is owed (first answers only), and the second call is
    cancelled before the search runs. Every call is answered (planned, or with a reason);
    after the search the two-person call is on two routes or unassigned with a reason, the
    cancelled one on none (the invariant fixture checks each visit once per nurse)."""
    org = _quiet_night(world)
    clients = [new_client(world, org, 20 + n) for n in range(6)]
    world.clock.set(1, 5)
    answers: list[dict[str, Any]] = []
    with searches_held(world):
        for n, client_id in enumerate(clients):
            body = acute(client_id)
            if n == 3:
                body["nurses_needed"] = 2
            posted = world.client.post(CALLS, json=body, headers=world.key(org))
            assert posted.status_code == 201, posted.text
            answers.append(posted.json())
        cancelled = world.client.post(f"{CALLS}/{answers[1]['id']}/cancel", headers=world.key(org))
        assert cancelled.status_code in (200, 204), cancelled.text
    for answer in answers:
        visit = answer["visits"][0]
        assert visit["planned"] or visit["not_planned_reason"], visit
    settle(world)
    plan = _plan(world)["plan"]
    gone = f"V{answers[1]['visits'][0]['visit_id']}"
    routed = [s["visit_id"] for r in plan["routes"] for s in r["steps"] if s.get("visit_id")]
    assert gone not in routed
    pair = f"V{answers[3]['visits'][0]['visit_id']}"
    left = {u["visit_id"]: u for u in plan["unassigned"]}
    assert routed.count(pair) == 2 or left[pair]["reason"], (routed, left)
    for n in (0, 2, 4, 5):
        ref = f"V{answers[n]['visits'][0]['visit_id']}"
        assert ref in routed, (ref, left.get(ref))


def _complete(world: World, phone: dict[str, str], visit_id: str, at: str, note: str) -> None:
    body = {
        "events": [
            {
                "type": "visit_completed",
                "event_id": str(uuid.uuid4()),
                "device_time": at,
                "visit_id": visit_id,
                "tasks_done": ["care"],
                "materials_used": [],
                "handover_note": note,
            }
        ]
    }
    sent = world.client.post("/mobile/v1/me/events", json=body, headers=fresh(world, phone))
    assert sent.status_code == 200, sent.text
    assert sent.json()["results"][0]["outcome"] == "accepted", sent.json()


def test_r21b_05_a_handover_note_is_dated_on_the_servers_clock(world: World) -> None:
    """An old client (no ``sent_at``) whose clock is set a year ahead completes a visit at
    23:30. The visit's state took the time as 23:30 (clamped, with a note), but the
    partner's hand-over notes, 'on the server's clock' since the clock offset, showed
    completed_at a year ahead: newest first, that note sat above every later one, and a
    second, correct completion of the visit never replaced it as the latest."""
    published_night(world, visits=6)
    phone = register_phone(world)
    route = world.client.get(ROUTE, headers=phone).json()
    visit_id = next(s["visit_id"] for s in route["steps"] if s["type"] == "visit")
    world.clock.set(23, 30)
    _complete(world, phone, visit_id, "2027-11-23T22:30:00Z", "Sliep goed / slept well.")
    world.clock.set(23, 40)
    _complete(world, phone, visit_id, world.clock().isoformat(), "Gecorrigeerd / corrected.")
    with world.sessions()() as session:
        visit = session.get(Visit, int(visit_id))
        assert visit is not None
        client_id, org = visit.client_id, visit.organisation_id
    notes = world.client.get(
        f"/partner/v1/clients/{client_id}/handover-notes", headers=world.key(org)
    )
    assert notes.status_code == 200, notes.text
    [latest] = [n for n in notes.json() if str(n["visit_id"]) == visit_id]
    assert datetime.fromisoformat(latest["completed_at"]) <= world.clock(), latest
    assert latest["note"].startswith("Gecorrigeerd"), latest


def test_r21b_06_a_call_cannot_be_started_before_it_was_made(world: World) -> None:
    """01:05 an acute call; its nurse's phone reports 'started' at 01:50 (45 minutes: late
    against the 30-minute target) in a batch whose ``sent_at`` says 02:50, an hour ahead
    of the server: the batch's clock offset (-60 min, inside the 36 h believed) moves the
    start to 00:50, before the call was made. The month report then gave the partner a
    response of -15 minutes, 'within target'. No offset (nor device time) can put care
    before the call it answers: the response is never negative."""
    org = world.seeded.home_care[0]
    reoptimise(world)
    publish(world)
    phones = _phones(world)
    world.clock.set(1, 0)
    for phone in phones.values():
        _read(world, phone)
    world.clock.set(1, 5)
    call = _far_acute_call(world, org)
    visit_id = call["visits"][0]["visit_id"]
    settle(world)
    nurse, _step_then = _step(world, visit_id)
    world.clock.set(1, 6)
    _read(world, phones[nurse])
    world.clock.set(1, 50)
    body = {
        "sent_at": "2026-11-24T01:50:00Z",  # 02:50 Amsterdam: an hour ahead
        "events": [
            {
                "type": "visit_started",
                "event_id": str(uuid.uuid4()),
                "device_time": "2026-11-24T00:50:00Z",  # 01:50 Amsterdam, as it happened
                "visit_id": str(visit_id),
            }
        ],
    }
    sent = world.client.post("/mobile/v1/me/events", json=body, headers=fresh(world, phones[nurse]))
    assert sent.status_code == 200, sent.text
    assert sent.json()["results"][0]["outcome"] == "accepted", sent.json()
    settle(world)
    world.clock.set(7, 30)
    report = world.client.get("/partner/v1/reports/2026-11", headers=world.key(org))
    assert report.status_code == 200, report.text
    [line] = [v for v in report.json()["visits"] if v["visit_id"] == visit_id]
    assert line["response_minutes"] is not None and line["response_minutes"] >= 0, line


def silent_night(world: World) -> tuple[int, int, str, dict[str, Any]]:
    """Every phone reads its route at 01:00; an acute call at 01:05 goes to a nurse whose
    phone then stays silent while her colleagues' read theirs (01:06, 01:09); at 01:10 a
    second call re-plans and the first goes to a colleague. The clock stands at 01:11.
    Returns the organisation, the first call's visit id, the silent nurse's code and the
    phones by nurse code."""
    org = world.seeded.home_care[0]
    reoptimise(world)
    publish(world)
    phones = _phones(world)
    world.clock.set(1, 0)
    for phone in phones.values():
        _read(world, phone)
    world.clock.set(1, 5)
    first = _far_acute_call(world, org)
    visit_id = first["visits"][0]["visit_id"]
    settle(world)
    silent, _then = _step(world, visit_id)
    for minute in (6, 9):
        world.clock.set(1, minute)
        for code, phone in phones.items():
            if code != silent:
                _read(world, phone)
    world.clock.set(1, 10)
    second = world.client.post(CALLS, json=acute(new_client(world, org, 3)), headers=world.key(org))
    assert second.status_code == 201, second.text
    settle(world)
    assert _step(world, visit_id)[0] != silent
    world.clock.set(1, 11)
    return org, visit_id, silent, phones


def test_r21b_07_a_planners_pin_to_a_silent_nurse_is_kept(world: World) -> None:
    """The night of R21B-01 to 01:10: the call has left the silent nurse for a colleague.
    At 01:11 the planner, who has phoned her, moves it back to her and pins it ('keep it
    with this nurse in later re-plans'). Her phone is still silent; a call at 01:12
    re-plans the night: the pin barred her as silent, so the pinned call was left out as
    pin_infeasible ('pinned to her, who lacks a skill or bag item'), nobody sent at all.
    A pin is the planner reaching her by other means: it stands (she says so:
    ``silent_nurse_ok``, the board's acknowledgement of a silent nurse)."""
    org, visit_id, silent, phones = silent_night(world)
    version = _plan(world)["version"]
    moved = world.client.post(
        "/nights/2026-11-23/plan/moves",
        json={"visit_id": visit_id, "nurse": silent, "pin": True, "silent_nurse_ok": True},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    assert moved.status_code == 200 and moved.json()["saved"], moved.text
    world.clock.set(1, 12)
    for code, phone in phones.items():
        if code != silent:
            _read(world, phone)
    third = world.client.post(CALLS, json=acute(new_client(world, org, 4)), headers=world.key(org))
    assert third.status_code == 201, third.text
    settle(world)
    assert _unassigned(world, visit_id) is None, _unassigned(world, visit_id)
    assert _step(world, visit_id)[0] == silent


def test_held_a_cancel_racing_a_burst_is_never_answered_as_planned_after(world: World) -> None:
    """Six acute calls accepted together (the night's re-plan lock held, as in
    test_burst_answers); while they wait for their first answers, the partner cancels the
    first. When the lock is released every answer is read, and after the searched re-plan
    the cancelled call is on no route (the invariant fixture checks every other call)."""
    org = _quiet_night(world)
    clients = [new_client(world, org, 30 + n) for n in range(6)]
    world.clock.set(1, 5)
    replanner = world.client.app.state.replanner  # type: ignore[attr-defined]
    with world.sessions()() as session:
        night = session.query(Night).one()
        night_id, before = night.id, night.replan_requested
    answers: list[Any] = [None] * 6

    def post(i: int) -> None:
        answers[i] = world.client.post(CALLS, json=acute(clients[i]), headers=world.key(org))

    cancelled: list[Any] = []
    with searches_held(world):
        with replanner.night_lock(night_id):
            threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for _ in range(1200):  # a bound, not a timing: the six commit, then wait here
                with world.sessions()() as session:
                    found = session.get(Night, night_id)
                    assert found is not None
                    if found.replan_requested >= before + 6:
                        break
                time.sleep(0.05)
            else:
                raise AssertionError("the six calls were not all accepted")
            with world.sessions()() as session:
                first = min(
                    session.scalars(select(Visit.request_id).where(Visit.client_id == clients[0]))
                )
            canceller = threading.Thread(
                target=lambda: cancelled.append(
                    world.client.post(f"{CALLS}/{first}/cancel", headers=world.key(org))
                )
            )
            canceller.start()
        for t in [*threads, canceller]:
            t.join()
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert cancelled[0].status_code == 200, cancelled[0].text
    settle(world)
    read = world.client.get(f"{CALLS}/{first}", headers=world.key(org)).json()
    assert read["status"] == "cancelled", read
    routed = [s.get("visit_id") for r in _plan(world)["plan"]["routes"] for s in r["steps"]]
    assert f"V{read['visits'][0]['visit_id']}" not in routed


def test_r21b_08_a_late_delivered_batch_does_not_make_an_on_time_start_late(
    world: World,
) -> None:
    """01:05 an acute call; her phone (clock right: a position batch at 01:10 measures no
    offset) starts care at 01:20 and sends the batch, sent_at 01:20; the request is held
    in a queue and the same bytes arrive at 01:50. The offset (+30 min) moves the start
    to 01:50: the month report says 45 minutes, late, for a call reached in 15."""
    org = world.seeded.home_care[0]
    reoptimise(world)
    publish(world)
    phones = _phones(world)
    world.clock.set(1, 0)
    for phone in phones.values():
        _read(world, phone)
    world.clock.set(1, 5)
    call = _far_acute_call(world, org)
    visit_id = call["visits"][0]["visit_id"]
    settle(world)
    nurse, _step_then = _step(world, visit_id)
    phone = phones[nurse]
    world.clock.set(1, 10)
    _read(world, phone)
    at = world.clock().astimezone(UTC).isoformat()
    position = {
        "type": "position",
        "event_id": str(uuid.uuid4()),
        "device_time": at,
        "position": [6.6, 53.07],
        "accuracy_metres": 10,
    }
    sent = world.client.post(
        "/mobile/v1/me/events",
        json={"sent_at": at, "events": [position]},
        headers=fresh(world, phone),
    )
    assert sent.status_code == 200, sent.text
    started = "2026-11-24T00:20:00Z"  # 01:20 Amsterdam
    body = {
        "sent_at": "2026-11-24T00:20:30Z",
        "events": [
            {
                "type": "visit_started",
                "event_id": str(uuid.uuid4()),
                "device_time": started,
                "visit_id": str(visit_id),
            }
        ],
    }
    world.clock.set(1, 50)
    sent = world.client.post("/mobile/v1/me/events", json=body, headers=fresh(world, phone))
    assert sent.status_code == 200, sent.text
    settle(world)
    world.clock.set(7, 30)
    report = world.client.get("/partner/v1/reports/2026-11", headers=world.key(org))
    [line] = [v for v in report.json()["visits"] if v["visit_id"] == visit_id]
    assert line["response_minutes"] <= 16, line
