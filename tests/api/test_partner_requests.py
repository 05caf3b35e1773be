"""Partners' API: idempotent submission, recurring care, amend, cancel, organisation scoping."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from api.db.models import Visit
from api.repositories import accounts, nights
from tests.api.conftest import World, new_client, planned_body


def _visit_count(world: World) -> int:
    with world.sessions()() as session:
        return int(session.scalar(select(func.count()).select_from(Visit)) or 0)


def test_same_key_same_body_is_one_visit(any_world: World) -> None:
    """A retried submission with the same Idempotency-Key and body is taken once."""
    world = any_world
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    headers = {**world.key(org), "Idempotency-Key": "req-0001"}
    first = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_id), headers=headers
    )
    again = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_id), headers=headers
    )
    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert _visit_count(world) == 1


def test_same_key_other_body_is_refused(any_world: World) -> None:
    """The same key with a different body is refused (422) and creates nothing."""
    world = any_world
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    headers = {**world.key(org), "Idempotency-Key": "req-0002"}
    world.client.post("/partner/v1/visit-requests", json=planned_body(client_id), headers=headers)
    other = planned_body(client_id, start="01:00", end="02:00")
    refused = world.client.post("/partner/v1/visit-requests", json=other, headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in refused.json()["detail"]
    assert _visit_count(world) == 1


def test_keys_are_per_organisation(world: World) -> None:
    """Two organisations may use the same key string without meeting each other."""
    a, b = world.seeded.home_care
    for org in (a, b):
        client_id = new_client(world, org)
        response = world.client.post(
            "/partner/v1/visit-requests",
            json=planned_body(client_id),
            headers={**world.key(org), "Idempotency-Key": "shared"},
        )
        assert response.status_code == 201
    assert _visit_count(world) == 2


def test_recurring_care_expands_into_each_night(world: World) -> None:
    """Monday and Wednesday care until a date becomes visits on exactly those nights."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    body = planned_body(client_id, recurrence={"weekdays": ["mon", "wed"], "until": "2026-12-02"})
    response = world.client.post("/partner/v1/visit-requests", json=body, headers=world.key(org))
    assert response.status_code == 201, response.text
    nights = [v["night"] for v in response.json()["visits"]]
    # 23 Nov 2026 is a Monday.
    assert nights == ["2026-11-23", "2026-11-25", "2026-11-30", "2026-12-02"]
    plan = world.client.get("/nights/2026-11-24/plan", headers=world.token("planner")).json()
    assert plan["visits"] == []


def test_recurring_care_reaches_nights_opened_later(world: World) -> None:
    """Every-night care beyond the expansion horizon appears when that night is opened."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    body = planned_body(client_id, recurrence={"until": "2027-01-31"})
    world.client.post("/partner/v1/visit-requests", json=body, headers=world.key(org))
    # A planner's read opens no night (issue 10): the night is still empty and unopened ...
    plan = world.client.get("/nights/2027-01-20/plan", headers=world.token("planner")).json()
    assert plan["version"] == 0 and plan["visits"] == []
    # ... and when the night is opened, the recurring care is in it.
    with world.sessions()() as session:
        region = accounts.get_region(session)
        nights.get_or_create_night(session, region, date(2027, 1, 20))
        session.commit()
    plan = world.client.get("/nights/2027-01-20/plan", headers=world.token("planner")).json()
    assert len(plan["visits"]) == 1


def test_amend_and_cancel(world: World) -> None:
    """Amending moves the window of open visits; cancelling cancels them."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    created = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_id), headers=world.key(org)
    ).json()
    amended = world.client.patch(
        f"/partner/v1/visit-requests/{created['id']}",
        json={"window": {"start": "02:00", "end": "03:00"}, "service_minutes": 20},
        headers=world.key(org),
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["version"] == 2
    plan = world.client.get("/nights/2026-11-23/plan", headers=world.token("planner")).json()
    assert plan["visits"][0]["window_start"] == 3 * 3600
    cancelled = world.client.post(
        f"/partner/v1/visit-requests/{created['id']}/cancel", headers=world.key(org)
    )
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["visits"][0]["status"] == "cancelled"


def test_cancel_one_night_of_recurring_care(world: World) -> None:
    """``night`` cancels that night's visit only, an open one and one not yet expanded alike;
    the other nights stay; again is a no-op; a bad or foreign night is 422 naming ``night``."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    body = planned_body(client_id, recurrence={"until": "2027-01-31"})
    created = world.client.post(
        "/partner/v1/visit-requests", json=body, headers=world.key(org)
    ).json()
    url = f"/partner/v1/visit-requests/{created['id']}/cancel"
    before = {v["night"]: v["status"] for v in created["visits"]}
    assert before["2026-11-24"] == "open"
    for _again in range(2):
        answer = world.client.post(url, json={"night": "2026-11-24"}, headers=world.key(org))
        assert answer.status_code == 200, answer.text
        after = {v["night"]: v["status"] for v in answer.json()["visits"]}
        assert answer.json()["status"] == "active"
        assert after == {**before, "2026-11-24": "cancelled"}
        assert answer.json()["recurrence"]["cancelled_nights"] == ["2026-11-24"]
    # A night beyond the expansion horizon: never expanded when it opens.
    answer = world.client.post(url, json={"night": "2027-01-20"}, headers=world.key(org))
    assert answer.status_code == 200, answer.text
    for night_date, visits in ((date(2027, 1, 20), 0), (date(2027, 1, 21), 1)):
        with world.sessions()() as session:
            nights.get_or_create_night(session, accounts.get_region(session), night_date)
            session.commit()
        plan = world.client.get(
            f"/nights/{night_date.isoformat()}/plan", headers=world.token("planner")
        ).json()
        assert len(plan["visits"]) == visits
    for bad, status in (({"night": "2026-13-01"}, 422), ({"night": "2027-02-01"}, 422)):
        refused = world.client.post(url, json=bad, headers=world.key(org))
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "night" in refused.text
    # Without a night the whole request goes, as before.
    whole = world.client.post(url, headers=world.key(org))
    assert whole.json()["status"] == "cancelled"
    assert {v["status"] for v in whole.json()["visits"]} == {"cancelled"}


def test_window_outside_the_night_is_refused(world: World) -> None:
    """A window at 15:00 is not in a night: 422 with a reason, nothing stored."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    response = world.client.post(
        "/partner/v1/visit-requests",
        json=planned_body(client_id, start="15:00", end="16:00"),
        headers=world.key(org),
    )
    assert response.status_code == 422
    assert _visit_count(world) == 0


def test_partner_cannot_see_or_change_another_organisations_data(any_world: World) -> None:
    """Clients and requests of organisation A are 404 for organisation B, also for writes."""
    world = any_world
    a, b = world.seeded.home_care
    client_a = new_client(world, a)
    request_a = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_a), headers=world.key(a)
    ).json()["id"]
    other = world.key(b)
    assert world.client.get(f"/partner/v1/clients/{client_a}", headers=other).status_code == 404
    patch = world.client.patch(
        f"/partner/v1/clients/{client_a}", json={"display_name": "X"}, headers=other
    )
    assert patch.status_code == 404
    assert world.client.get("/partner/v1/clients", headers=other).json() == []
    assert (
        world.client.get(f"/partner/v1/visit-requests/{request_a}", headers=other).status_code
        == 404
    )
    assert (
        world.client.post(
            f"/partner/v1/visit-requests/{request_a}/cancel", headers=other
        ).status_code
        == 404
    )
    assert world.client.get("/partner/v1/visit-requests", headers=other).json() == []
    # Nor may B request care for A's client.
    sneaky = world.client.post(
        "/partner/v1/visit-requests", json=planned_body(client_a), headers=other
    )
    assert sneaky.status_code == 404
    mine = world.client.get(f"/partner/v1/visit-requests/{request_a}", headers=world.key(a))
    assert mine.json()["status"] == "active"


def test_parallel_retries_make_one_visit(any_world: World) -> None:
    """Four simultaneous retries with one key: one visit, every answer names the same request."""
    from concurrent.futures import ThreadPoolExecutor

    world = any_world
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    headers = {**world.key(org), "Idempotency-Key": "parallel-1"}

    def submit(_: int) -> tuple[int, int]:
        response = world.client.post(
            "/partner/v1/visit-requests", json=planned_body(client_id), headers=headers
        )
        return response.status_code, response.json().get("id", -1)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(submit, range(4)))
    assert sorted(code for code, _ in answers) == [200, 200, 200, 201], answers
    assert len({request_id for _, request_id in answers}) == 1
    assert _visit_count(world) == 1
