"""Red-team findings of s17, each a test through HTTP on the simulated clock."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import World, new_client
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import published_night

REQUESTS = "/partner/v1/visit-requests"


def _raw(body: dict[str, object]) -> dict[str, object]:
    """A JSON body sent as the bytes a partner's system sends (ASCII escapes kept)."""
    return {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize("field", ["display_name", "address", "access_instructions"])
def test_a_lone_surrogate_in_a_clients_text_is_422_naming_the_field(
    world: World, field: str
) -> None:
    """JSON "\\ud800" decodes to text no database encoding can store: refused naming the
    field, never a 500 from the driver's UnicodeEncodeError."""
    org = world.seeded.home_care[0]
    body: dict[str, object] = {
        "display_name": "Test client",
        "address": "Teststraat 1",
        "lat": 52.99,
        "lon": 6.56,
        field: "a \ud800 b",
    }
    raw = _raw(body)
    response = world.client.post(
        "/partner/v1/clients",
        content=raw["content"],
        headers={**raw["headers"], **world.key(org)},  # type: ignore[dict-item]
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_lone_surrogate_in_a_sign_in_is_422_not_500(world: World, field: str) -> None:
    """The unauthenticated sign-in is where anyone can send it."""
    body = {"username": "planner", "password": "x", field: "x\udfff"}
    raw = _raw(body)
    response = world.client.post("/auth/token", **raw)  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == f"body.{field}"


def test_an_acute_call_nobody_is_skilled_for_is_answered_with_that_reason(
    any_world: World,
) -> None:
    """The partner's answer is the plan the search makes when the quick insertion cannot
    place the call: not a stored "first answer" saying no_capacity for a call no nurse on
    shift has the skill for (the search says no_skilled_nurse a second later)."""
    world = any_world
    published_night(world, visits=10)
    world.clock.set(3, 10)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 61)
    response = world.client.post(
        REQUESTS,
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "transfer",
            "service_minutes": 20,
            "urgency": "acute",
            "required_skills": ["transfer"],
        },
        headers=world.key(org),
    )
    assert response.status_code == 201, response.text
    outcome = response.json()["visits"][0]
    assert outcome["planned"] is False
    assert outcome["not_planned_reason"] == "no_skilled_nurse", outcome
