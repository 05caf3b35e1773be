"""JSON ``true`` is no number (red team s25, finding S25-05).

Pydantic's lax mode read ``true`` as ``1`` for an ``int`` field: a partner system that sent
``"service_minutes": true`` (a mapping bug on its side) got a one-minute visit planned, and
``"client_id": true`` named client 1, whatever that is. Counts and ids of the request bodies
now refuse ``true``/``false`` with a 422 naming the field (the schema is unchanged).
"""

from __future__ import annotations

import pytest

from tests.api.conftest import World, new_client, planned_body

CALLS = "/partner/v1/visit-requests"


@pytest.mark.parametrize("field", ["service_minutes", "client_id", "nurses_needed"])
def test_true_is_refused_where_a_number_is_asked(world: World, field: str) -> None:
    org = world.seeded.home_care[0]
    body = planned_body(new_client(world, org)) | {field: True}
    answer = world.client.post(CALLS, json=body, headers=world.key(org))
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [f"body.{field}"]


def test_triage_and_reports_refuse_true_too(world: World) -> None:
    triage = world.client.post(
        "/triage/v1/capacity",
        json={"lat": 52.995, "lon": 6.56, "within_minutes": True},
        headers=world.key(world.seeded.triage[0]),
    )
    assert triage.status_code == 422, triage.text
    assert [e["field"] for e in triage.json()["errors"]] == ["body.within_minutes"]
    report = world.client.post(
        "/nights/2026-11-23/events",
        json={"kind": "delayed", "delay_minutes": True},
        headers=world.token("planner"),
    )
    assert report.status_code == 422, report.text
    assert [e["field"] for e in report.json()["errors"]] == ["body.delay_minutes"]


def test_numbers_still_pass(world: World) -> None:
    org = world.seeded.home_care[0]
    body = planned_body(new_client(world, org)) | {"service_minutes": 20, "nurses_needed": 2}
    answer = world.client.post(CALLS, json=body, headers=world.key(org))
    assert answer.status_code == 201, answer.text
    assert answer.json()["service_minutes"] == 20 and answer.json()["nurses_needed"] == 2


def test_the_planners_urgent_call_refuses_true_for_a_client(world: World) -> None:
    answer = world.client.post(
        "/nights/2026-11-23/board/urgent-calls/quote",
        json={"client_id": True, "care_task": "fall"},
        headers=world.token("planner"),
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["body.client_id"]
