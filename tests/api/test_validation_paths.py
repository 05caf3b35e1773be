"""A 422 names the field as the partner sent it (`body.window.start`, as docs/service.md
promises) and what is wrong with it; malformed JSON is `body`, not a character index."""

from __future__ import annotations

import pytest

from tests.api.conftest import NIGHT, World, new_client, planned_body

REQUESTS = "/partner/v1/visit-requests"


def _refused(world: World, body: object) -> list[dict[str, str]]:
    org = world.seeded.home_care[0]
    response = world.client.post(REQUESTS, json=body, headers=world.key(org))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors


def test_a_window_ending_before_it_starts_says_so(world: World) -> None:
    """03:00-02:30 was "not inside the night" (field `window`): both are inside the night."""
    client_id = new_client(world, world.seeded.home_care[0], 4)
    errors = _refused(world, planned_body(client_id, "03:00", "02:30"))
    assert [e["field"] for e in errors] == ["body.window.end"]
    assert "before the window's start 03:00" in errors[0]["message"]
    assert "outside" not in errors[0]["message"]


@pytest.mark.parametrize(
    ("start", "end", "fields"),
    [
        ("21:00", "23:30", ["body.window.start"]),
        ("06:30", "08:00", ["body.window.end"]),
        ("20:00", "09:00", ["body.window.start", "body.window.end"]),
    ],
)
def test_a_window_outside_the_night_names_its_end(
    world: World, start: str, end: str, fields: list[str]
) -> None:
    client_id = new_client(world, world.seeded.home_care[0], 5)
    errors = _refused(world, planned_body(client_id, start, end))
    assert [e["field"] for e in errors] == fields
    assert all("outside the night (23:00-07:00)" in e["message"] for e in errors)


def test_a_schema_error_is_named_without_the_union_tag(world: World) -> None:
    """pydantic's path was `body.planned.window.start`: `planned` is the value of `kind`."""
    client_id = new_client(world, world.seeded.home_care[0], 6)
    assert [e["field"] for e in _refused(world, planned_body(client_id, "25:00"))] == [
        "body.window.start"
    ]
    missing = {**planned_body(client_id), "window": {"start": "01:00"}}
    assert [e["field"] for e in _refused(world, missing)] == ["body.window.end"]
    call = {
        "kind": "unplanned",
        "client_id": client_id,
        "care_task": "fall",
        "service_minutes": 20,
        "urgency": "now!",
    }
    assert [e["field"] for e in _refused(world, call)] == ["body.urgency"]


def test_refusals_after_validation_name_body_fields_too(world: World) -> None:
    client_id = new_client(world, world.seeded.home_care[0], 7)
    past = {**planned_body(client_id), "night": (NIGHT.replace(day=NIGHT.day - 2)).isoformat()}
    assert [e["field"] for e in _refused(world, past)] == ["body.night"]
    world.clock.set(3, 0)
    future = {
        "kind": "unplanned",
        "client_id": client_id,
        "care_task": "fall",
        "service_minutes": 20,
        "urgency": "acute",
        "call_time": "2026-11-24T05:00:00+01:00",
    }
    assert [e["field"] for e in _refused(world, future)] == ["body.call_time"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"kind": "planned",', "not valid JSON at character 19"),
        (b"", "a JSON body is required"),
        # Red team s25 (R-D): bodies the parser fails on otherwise were a bare 400 "There
        # was an error parsing the body", naming no field.
        (b'{"kind": "\xff"}', "not valid JSON: the body is not UTF-8"),
        (b"[" * 100_000, "not valid JSON: nested too deeply"),
        (b'{"kind": ' + b"9" * 5000 + b"}", "not valid JSON: a number with too many digits"),
    ],
    ids=["cut short", "empty", "not utf-8", "nested", "long number"],
)
def test_malformed_json_is_the_body_not_a_character(
    world: World, content: bytes, message: str
) -> None:
    """Invalid JSON was reported as field `body[19]` ("JSON decode error")."""
    org = world.seeded.home_care[0]
    response = world.client.post(
        REQUESTS,
        content=content,
        headers={**world.key(org), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["body"]
    assert errors[0]["message"].startswith(message)
    assert '"kind"' not in response.text  # the input is never echoed
