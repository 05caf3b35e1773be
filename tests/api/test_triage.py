"""Triage capacity answers: yes with nurse and ETA, or no with a reason."""

from __future__ import annotations

from tests.api.conftest import World
from tests.api.test_planner import reoptimise, seed_night

ASK = "/triage/v1/capacity"
NEAR = {"lat": 52.995, "lon": 6.56}


def test_yes_with_nurse_and_eta(world: World) -> None:
    """At 01:30 with a light night, a nurse can be near the centre within 30 minutes."""
    seed_night(world, visits=6)
    reoptimise(world)
    world.clock.set(1, 30)
    headers = world.key(world.seeded.triage[0])
    answer = world.client.post(ASK, json={**NEAR, "within_minutes": 30}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["available"] is True, body
    assert body["nurse"] in {"N1", "N2", "N3"}
    assert 0 <= body["eta_minutes"] <= 30


def test_no_with_reason(world: World) -> None:
    """Too far for the time asked: no, with the soonest ETA so the caller sends the back-up."""
    seed_night(world, visits=6)
    reoptimise(world)
    world.clock.set(1, 30)
    headers = world.key(world.seeded.triage[0])
    far = {"lat": 53.3, "lon": 6.9, "within_minutes": 5}  # inside the area (60 km), not 5 min
    body = world.client.post(ASK, json=far, headers=headers).json()
    assert body["available"] is False
    assert body["reason"] in {"not_in_time", "no_capacity"}
    assert body["message"]


def test_outside_night_hours(world: World) -> None:
    """At 21:00 the night team is not on: no, outside_night_hours."""
    headers = world.key(world.seeded.triage[0])
    body = world.client.post(ASK, json=NEAR, headers=headers).json()
    assert body == {
        **body,
        "available": False,
        "reason": "outside_night_hours",
    }


def test_home_care_key_cannot_ask(world: World) -> None:
    """A home-care partner's key is not a triage key: 403."""
    response = world.client.post(ASK, json=NEAR, headers=world.key(world.seeded.home_care[0]))
    assert response.status_code == 403
