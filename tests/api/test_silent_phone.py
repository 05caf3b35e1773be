"""A call given to a nurse whose phone does not pick it up goes to a colleague whose phone
does (issue 11's simulated nights: late acute calls behind a phone offline for an hour).
Through HTTP on the test clock, phones reading their routes as the app does."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import fresh, publish, register_phone
from tests.api.test_durable_replans import acute
from tests.api.test_redteam_s20 import CALLS, _far_acute_call, _quiet_night, _step

ROUTE = "/mobile/v1/me/route"


def _phones(world: World) -> dict[str, dict[str, str]]:
    """Every nurse's registered phone, by nurse code."""
    return {code: register_phone(world, f"nurse-{code.lower()}") for code in world.seeded.nurses}


def _read(world: World, phone: dict[str, str]) -> dict[str, Any]:
    answer = world.client.get(ROUTE, headers=fresh(world, phone))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _shows(route: dict[str, Any], visit_id: int) -> bool:
    return any(s.get("visit_id") == str(visit_id) for s in route.get("steps", []))


def _acute_call_at_0105_with_every_phone_reading(
    world: World,
) -> tuple[int, dict[str, dict[str, str]], dict[str, Any]]:
    """A quiet published night, every nurse's phone reading its route at 01:00, and a far
    acute call at 01:05, re-planned: its organisation, the phones by nurse code, the answer."""
    org = _quiet_night(world)
    publish(world)
    phones = _phones(world)
    world.clock.set(1, 0)
    for phone in phones.values():
        _read(world, phone)
    world.clock.set(1, 5)
    answer = _far_acute_call(world, org)
    settle(world)
    return org, phones, answer


def test_a_call_her_phone_never_picks_up_goes_to_a_nurse_whose_phone_does(
    world: World,
) -> None:
    """01:05 an acute call; the first answer gives it to the nurse who can be there first.
    Her phone is offline (it read its route at 01:00, then nothing); her colleagues' phones
    read theirs at 01:06 and 01:09. At 01:10 a second call re-plans the night. Taken as
    following her route, she was 'on her way' since 01:05: the call stayed hers until her
    phone came back, an hour later in the simulated night. Now the service sees her phone
    has not picked up a call given to her five minutes ago: the call goes to a colleague
    whose phone reads it, and the partner is told that nurse."""
    org, phones, answer = _acute_call_at_0105_with_every_phone_reading(world)
    visit_id = answer["visits"][0]["visit_id"]
    silent, _first = _step(world, visit_id)
    for minute in (6, 9):
        world.clock.set(1, minute)
        for code, phone in phones.items():
            if code != silent:
                _read(world, phone)
    world.clock.set(1, 10)
    second = world.client.post(CALLS, json=acute(new_client(world, org, 3)), headers=world.key(org))
    assert second.status_code == 201, second.text
    settle(world)
    nurse, step = _step(world, visit_id)
    assert nurse != silent, (nurse, step)
    read = world.client.get(f"{CALLS}/{answer['id']}", headers=world.key(org)).json()
    assert read["visits"][0]["nurse"] == nurse, read
    assert _shows(_read(world, phones[nurse]), visit_id)


def test_a_phone_that_reads_the_call_keeps_it(world: World) -> None:
    """The same night with her phone online: it reads the call at 01:06, so at 01:10 she is
    on her way to it and it stays hers (a colleague is not sent instead)."""
    org, phones, answer = _acute_call_at_0105_with_every_phone_reading(world)
    visit_id = answer["visits"][0]["visit_id"]
    first, _step_then = _step(world, visit_id)
    world.clock.set(1, 6)
    for phone in phones.values():
        _read(world, phone)
    world.clock.set(1, 10)
    second = world.client.post(CALLS, json=acute(new_client(world, org, 3)), headers=world.key(org))
    assert second.status_code == 201, second.text
    settle(world)
    assert _step(world, visit_id)[0] == first
