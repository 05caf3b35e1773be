"""The app starts on a migrated database and answers problem+json."""

from __future__ import annotations

from datetime import datetime

from tests.api.conftest import World, new_client, planned_body


def test_health_and_problem_json(world: World) -> None:
    """Health answers with the service's clock (a simulator reads the simulated time from
    it); an unknown path is problem+json."""
    world.clock.set(3, 12)
    health = world.client.get("/health").json()
    assert health["status"] == "ok"
    assert datetime.fromisoformat(health["clock"]) == world.clock()
    response = world.client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_planned_request_and_plan(world: World) -> None:
    """A partner submits planned care; the planner re-optimises and sees it planned."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    response = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_id), headers=world.key(org)
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["visits"]) == 1, response.text
    plan = world.client.get("/nights/2026-11-23/plan", headers=world.token("planner"))
    assert plan.status_code == 200, plan.text
    assert plan.headers["ETag"] == '"0"'
    job = world.client.post(
        "/nights/2026-11-23/plan/reoptimise",
        json={"time_limit_seconds": 0.5},
        headers={**world.token("planner"), "If-Match": '"0"'},
    )
    assert job.status_code == 202, job.text
    world.client.app.state.job_runner.wait(job.json()["id"], timeout=30)
    done = world.client.get(f"/jobs/{job.json()['id']}", headers=world.token("planner")).json()
    assert done["status"] == "succeeded", done
    request = world.client.get(
        f"/partner/v1/visit-requests/{response.json()['id']}", headers=world.key(org)
    ).json()
    assert request["visits"][0]["planned"] is True
