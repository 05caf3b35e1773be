"""No name, address, access note, key, token or password in log lines or error texts."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import PASSWORD, World, planned_body

NAME = "Mevrouw Zeldzaamnaam"
ADDRESS = "Verborgenlaan 77"
NOTE = "code achterdeur 4711"


def test_logs_and_errors_carry_no_personal_data_or_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Run a night's worth of calls, good and bad, with DEBUG logging on everywhere."""
    caplog.set_level(logging.DEBUG)
    org = world.seeded.home_care[0]
    key = world.key(org)
    token = world.token("planner")
    bodies: list[str] = []
    made = world.client.post(
        "/partner/v1/clients",
        json={
            "display_name": NAME,
            "address": ADDRESS,
            "lat": 52.99,
            "lon": 6.56,
            "access_instructions": NOTE,
            "key_safe_present": True,
        },
        headers=key,
    )
    client_id = made.json()["id"]
    # Errors of every kind, each carrying the personal data in its input.
    bad = [
        world.client.post(
            "/partner/v1/clients",
            json={
                "display_name": NAME,
                "address": ADDRESS,
                "lat": 1,
                "lon": 1,
                "access_instructions": NOTE,
            },
            headers=key,
        ),
        world.client.patch(
            f"/partner/v1/clients/{client_id}",
            json={"display_name": NAME, "unknown": ADDRESS},
            headers=key,
        ),
        world.client.patch(
            f"/partner/v1/clients/{client_id}",
            json={"address": ADDRESS},
            headers=world.key(world.seeded.home_care[1]),
        ),
        world.client.post("/auth/token", json={"username": NAME, "password": PASSWORD}),
        world.client.get("/auth/me", headers={"Authorization": "Bearer " + NAME.replace(" ", "")}),
        world.client.post(
            "/partner/v1/visit-requests",
            json={**planned_body(client_id), "care_task": NAME},
            headers=key,
        ),
        world.client.get("/auth/me", headers={"X-API-Key": key["X-API-Key"] + "x"}),
    ]
    for response in bad:
        assert 400 <= response.status_code < 500, response.text
        bodies.append(response.text)
    world.client.get(f"/clients/{client_id}", headers=token)
    world.client.post("/partner/v1/visit-requests", json=planned_body(client_id), headers=key)
    forbidden = [NAME, ADDRESS, NOTE, key["X-API-Key"], token["Authorization"].split()[1], PASSWORD]
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in forbidden:
        assert secret not in logged
        for body in bodies:
            assert secret not in body
