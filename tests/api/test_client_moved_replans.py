"""A client moved during a night under way re-plans that night (red team s25, S25-06).

A partner corrects a client's coordinates (a wrong geocode, a client staying elsewhere
tonight) while a visit of hers is open on a nurse's route. The change was stored, but nothing
asked for a re-plan: the night's plan, the nurse's ETAs and the partner's expected start kept
the old place until some other change re-planned the night, and a triage answer or a
partner's promise in between was timed to a house the nurse was not driving to.
"""

from __future__ import annotations

from sqlalchemy import select

from api.db.models import Night
from tests.api.conftest import World, new_client, planned_body
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.test_planner import reoptimise

CALLS = "/partner/v1/visit-requests"


def _replans(world: World) -> int:
    with world.sessions()() as session:
        return session.scalars(select(Night.replan_requested)).one()


def _planned_at_one(world: World, org: int, client_id: int) -> int:
    """Care for ``client_id`` at 02:00-03:00 tonight, planned; the clock at 01:00. Returns
    the night's re-plan count then."""
    made = world.client.post(
        CALLS, json=planned_body(client_id, start="02:00", end="03:00"), headers=world.key(org)
    )
    assert made.status_code == 201, made.text
    reoptimise(world)
    world.clock.set(1, 0)
    return _replans(world)


def _move(world: World, org: int, client_id: int) -> None:
    moved = world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"lat": 53.05, "lon": 6.62}, headers=world.key(org)
    )
    assert moved.status_code == 200, moved.text


def test_moving_a_client_with_open_care_tonight_replans_the_night(world: World) -> None:
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 7)
    before = _planned_at_one(world, org, client_id)
    _move(world, org, client_id)
    assert _replans(world) == before + 1
    settle(world)
    # Only a change of place re-plans: a new name or door note does not.
    renamed = world.client.patch(
        f"/partner/v1/clients/{client_id}",
        json={"access_instructions": "back door"},
        headers=world.key(org),
    )
    assert renamed.status_code == 200, renamed.text
    assert _replans(world) == before + 1


def test_moving_a_client_with_no_care_tonight_replans_nothing(world: World) -> None:
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 8)
    before = _planned_at_one(world, org, new_client(world, org, 9))
    _move(world, org, client_id)
    assert _replans(world) == before


def test_moving_a_client_after_the_night_ended_replans_nothing(world: World) -> None:
    """Review of S25-06: an ended night is history; moving her afterwards (her care of that
    night left open, never reported) asks no re-plan of it."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 10)
    made = world.client.post(
        CALLS, json=planned_body(client_id, start="02:00", end="03:00"), headers=world.key(org)
    )
    assert made.status_code == 201, made.text
    reoptimise(world)
    world.clock.set(11, 0)  # the next morning: the night has ended
    before = _replans(world)
    _move(world, org, client_id)
    assert _replans(world) == before
