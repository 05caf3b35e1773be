"""A visit not in the plan yet says why it is waiting, never "not planned, no reason"."""

from __future__ import annotations

from api.schemas.requests import VisitOutcome
from optimizer.plan import ReasonCode
from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.test_planner import reoptimise, seed_night


def test_a_planned_request_waiting_for_the_replan_says_replan_pending(world: World) -> None:
    """A newcomer's planned request answered planned false, nurse null and reason null, and
    was on N2 seconds later: the partner read "not planned, no reason"."""
    seed_night(world, visits=6)
    reoptimise(world)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 7)
    replanner = world.client.app.state.replanner  # type: ignore[attr-defined]
    replanner.stop()  # the background re-plan waits until the answers are read
    try:
        created = world.client.post(
            "/partner/v1/visit-requests", json=planned_body(client_id), headers=world.key(org)
        )
        assert created.status_code == 201, created.text
        outcome = created.json()["visits"][0]
        assert outcome["planned"] is False
        assert outcome["not_planned_reason"] == "replan_pending", outcome
        read = world.client.get(created.headers["Location"], headers=world.key(org)).json()
        assert read["visits"][0]["not_planned_reason"] == "replan_pending"
    finally:
        replanner.start()
    assert replanner.wait_idle(timeout=60)
    after = world.client.get(created.headers["Location"], headers=world.key(org)).json()
    visit = after["visits"][0]
    assert (visit["planned"], visit["not_planned_reason"]) in ((True, None), (False, "displaced"))
    assert visit["not_planned_reason"] != "replan_pending"


def test_a_request_for_a_night_without_a_plan_says_so(world: World) -> None:
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 8)
    created = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_id), headers=world.key(org)
    )
    assert created.status_code == 201, created.text
    outcome = created.json()["visits"][0]
    assert outcome["night"] == NIGHT.isoformat()
    assert (outcome["planned"], outcome["not_planned_reason"]) == (False, "night_not_planned_yet")


def test_the_schema_documents_every_reason() -> None:
    """A partner reads the reasons in the OpenAPI document: each one the plan can give."""
    text = VisitOutcome.model_fields["not_planned_reason"].description or ""
    for reason in [*ReasonCode, "replan_pending", "night_not_planned_yet"]:
        assert f"`{reason}`" in text, reason
