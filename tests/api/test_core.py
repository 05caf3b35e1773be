"""Settings, sign-in, API keys and problem+json errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.core.config import Settings
from tests.api.conftest import PASSWORD, World, new_client


def test_placeholder_secrets_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production with the placeholder or a short secret does not start."""
    monkeypatch.delenv("NACHTROUTE_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="NACHTROUTE_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="32"):
        Settings(environment="production", secret_key="short", api_key_pepper="x" * 40)
    Settings(environment="development")  # fine for a laptop


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """NACHTROUTE_* variables are read; SQLite in the data dir is the default database."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NACHTROUTE_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite+pysqlite:///{tmp_path / 'nachtroute.sqlite'}"
    monkeypatch.setenv("NACHTROUTE_DATABASE_URL", "postgresql+psycopg://x@y/z")
    assert Settings().resolved_database_url == "postgresql+psycopg://x@y/z"


def test_sign_in_and_me(world: World) -> None:
    """Password sign-in gives a short-lived token; a wrong password is 401 problem+json."""
    good = world.client.post("/auth/token", json={"username": "planner", "password": PASSWORD})
    assert good.status_code == 200
    assert good.json()["expires_in"] == 15 * 60
    me = world.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {good.json()['access_token']}"}
    )
    assert me.json()["role"] == "planner"
    bad = world.client.post("/auth/token", json={"username": "planner", "password": "nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"


def test_expired_token_and_bad_key(world: World) -> None:
    """A token past its 15 minutes and a made-up key are both 401."""
    headers = world.token("planner")
    world.clock.now = world.clock.now.replace(hour=22)
    assert world.client.get("/auth/me", headers=headers).status_code == 401
    for key in ("nrk_abc_def", "garbage", "nrk_" + "x" * 40):
        assert world.client.get("/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_admin_issues_a_key_that_works(world: World) -> None:
    """A new key is shown once, works at once and is stored only as a hash."""
    org = world.seeded.home_care[1]
    made = world.client.post(f"/admin/organisations/{org}/api-keys", headers=world.token("admin"))
    assert made.status_code == 201
    key = made.json()["key"]
    me = world.client.get("/auth/me", headers={"X-API-Key": key}).json()
    assert me["role"] == "partner" and me["organisation_id"] == org
    from sqlalchemy import select

    from api.db.models import ApiKey

    with world.sessions()() as session:
        stored = [k.secret_hash for k in session.scalars(select(ApiKey))]
    assert all(key.split("_", 2)[2] not in h for h in stored)


def test_validation_errors_name_the_field(world: World) -> None:
    """A bad body is 422 problem+json listing field paths, without echoing the input."""
    org = world.seeded.home_care[0]
    response = world.client.post(
        "/partner/v1/clients",
        json={"display_name": "Mevr. Geheim", "address": "Geheimstraat 1", "lat": 99, "lon": 6.5},
        headers=world.key(org),
    )
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/validation-error")
    assert [e["field"] for e in problem["errors"]] == ["body.lat"]
    assert "Geheim" not in response.text


def test_malformed_json_is_a_problem_not_a_500(world: World) -> None:
    """Broken JSON and a wrong content type are 4xx problem details."""
    org = world.seeded.home_care[0]
    headers = {**world.key(org), "Content-Type": "application/json"}
    response = world.client.post("/partner/v1/clients", content=b"{not json", headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    response = world.client.post(
        "/partner/v1/visit-requests", json={"kind": "teleport"}, headers=world.key(org)
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("body")


def test_duplicate_external_ref_is_409(world: World) -> None:
    """The same external reference twice in one organisation is a conflict, not a 500."""
    org = world.seeded.home_care[0]
    new_client(world, org, 1, external_ref="R1")
    response = world.client.post(
        "/partner/v1/clients",
        json={"display_name": "a", "address": "b", "lat": 52.9, "lon": 6.5, "external_ref": "R1"},
        headers=world.key(org),
    )
    assert response.status_code == 409
