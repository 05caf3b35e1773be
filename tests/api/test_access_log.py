"""NEN 7513: every read or change of a client's data leaves a row; only the organisation's
privacy officer, signed in with TOTP, may export it; the log cannot be changed."""

from __future__ import annotations

import csv
import io

import pyotp
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from api.db.models import AccessLogEntry
from api.seed import DEMO_TOTP_SECRET
from tests.api.conftest import PASSWORD, World, new_client


def _rows(world: World) -> list[AccessLogEntry]:
    with world.sessions()() as session:
        return list(session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id)))


def test_every_personal_data_access_is_logged(any_world: World) -> None:
    """Create, read, list, update and a planner's read each add a row with who and why."""
    world = any_world
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    key = world.key(org)
    world.client.get(f"/partner/v1/clients/{client_id}", headers=key)
    world.client.get("/partner/v1/clients", headers=key)
    world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"key_safe_present": False}, headers=key
    )
    world.client.get(f"/clients/{client_id}", headers=world.token("planner"))
    rows = _rows(world)
    assert [r.event for r in rows] == ["create", "read", "read", "update", "read"]
    assert all(r.client_id == client_id and r.client_organisation_id == org for r in rows)
    assert rows[0].actor.startswith("api-key:") and rows[0].api_key_id is not None
    assert rows[0].responsible_user_id == world.seeded.users["admin"][0]
    assert rows[0].acting_organisation_id == org and rows[0].role == "partner"
    planner = rows[-1]
    assert planner.role == "planner" and planner.user_id == world.seeded.users["planner"][0]
    assert planner.acting_organisation_id is None


def test_a_refused_read_is_not_a_read(world: World) -> None:
    """Another organisation's 404 logs no read of the client (nothing was shown), but the
    refused attempt (NEN 7513 logs attempts too), for the client's organisation."""
    a, b = world.seeded.home_care
    client_id = new_client(world, a)
    world.client.get(f"/partner/v1/clients/{client_id}", headers=world.key(b))
    rows = _rows(world)
    assert [r.event for r in rows] == ["create", "read.refused"]
    assert rows[1].client_organisation_id == a and rows[1].acting_organisation_id == b


def test_export_needs_totp_and_is_scoped(world: World) -> None:
    """Without the second factor: 403. With it: only the officer's organisation's rows."""
    a, b = world.seeded.home_care
    new_client(world, a, 1)
    new_client(world, b, 2)
    login = world.client.post("/auth/token", json={"username": "privacy1", "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["second_factor"] is False
    plain = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert world.client.get("/access-log", headers=plain).status_code == 403
    code = pyotp.TOTP(DEMO_TOTP_SECRET).at(world.clock())
    login = world.client.post(
        "/auth/token", json={"username": "privacy1", "password": PASSWORD, "totp_code": code}
    )
    assert login.json()["second_factor"] is True
    strong = {"Authorization": f"Bearer {login.json()['access_token']}"}
    rows = world.client.get("/access-log", headers=strong).json()
    assert len(rows) == 1 and rows[0]["event"] == "create"
    exported = world.client.get("/access-log", params={"format": "csv"}, headers=strong)
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert table[0]["event"] == "create" and "responsible_user_id" in table[0]


def test_wrong_totp_is_refused(world: World) -> None:
    """A wrong one-time code fails the sign-in."""
    response = world.client.post(
        "/auth/token", json={"username": "privacy1", "password": PASSWORD, "totp_code": "000000"}
    )
    assert response.status_code == 401


def _one_log_row(url: str) -> Engine:
    from api.db.engine import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO clients (organisation_id, display_name, address, lat, lon, "
                "access_instructions, key_safe_present, created_at, updated_at) "
                "VALUES (1, 'n', 'a', 52.9, 6.5, '', false, :now, :now)"
            ),
            {"now": "2026-11-23 20:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO access_log (at, event, client_id, client_organisation_id, actor, "
                "role, purpose) VALUES (:now, 'read', 1, 1, 'x', 'planner', 'test')"
            ),
            {"now": "2026-11-23 20:00:00"},
        )
    return engine


def test_database_refuses_update_and_delete(seeded_url: tuple[str, object]) -> None:
    """Triggers on SQLite and PostgreSQL refuse UPDATE and DELETE of the access log."""
    engine = _one_log_row(seeded_url[0])
    for statement in ("UPDATE access_log SET actor = 'y'", "DELETE FROM access_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AccessLogEntry)) == 1
    engine.dispose()


@pytest.mark.postgres
def test_postgres_refuses_truncate(seeded_postgres_url: tuple[str, object]) -> None:
    """TRUNCATE is refused too on PostgreSQL."""
    engine = _one_log_row(seeded_postgres_url[0])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE access_log"))
    engine.dispose()


def test_totp_secrets_are_sealed_at_rest(world: World) -> None:
    """The users table holds no TOTP secret in the clear; sign-in opens it transparently."""
    from api.db.models import User
    from api.totp_vault import is_sealed

    with world.sessions()() as session:
        stored = [u.totp_secret for u in session.scalars(select(User)) if u.totp_secret]
    assert stored and all(is_sealed(s) and DEMO_TOTP_SECRET not in s for s in stored)
    code = pyotp.TOTP(DEMO_TOTP_SECRET).at(world.clock())
    login = world.client.post(
        "/auth/token", json={"username": "privacy1", "password": PASSWORD, "totp_code": code}
    )
    assert login.status_code == 200 and login.json()["second_factor"] is True


def _export(world: World, officer: str) -> list[dict[str, object]]:
    code = pyotp.TOTP(DEMO_TOTP_SECRET).at(world.clock())
    login = world.client.post(
        "/auth/token", json={"username": officer, "password": PASSWORD, "totp_code": code}
    )
    assert login.status_code == 200, login.text
    strong = {"Authorization": f"Bearer {login.json()['access_token']}"}
    answer = world.client.get("/access-log", params={"limit": 1000}, headers=strong)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()
    return rows


def test_a_route_read_showing_no_client_is_kept_but_not_exported(any_world: World) -> None:
    """A night without planned care, published: each phone reads its empty route. The read
    leaves its row (how the service knows her phone is heard, `api.night.reach`), but a row
    naming no client is no access to anyone's data: it is in no organisation's export, where
    one such row per empty route read came to every privacy officer (R21B-01's side effect).
    A refused call naming no client is still exported."""
    from tests.api.phone_helpers import fresh, publish, register_phone
    from tests.api.test_planner import reoptimise

    world = any_world
    reoptimise(world)
    publish(world)
    world.clock.set(1, 0)
    for code in world.seeded.nurses:
        phone = register_phone(world, f"nurse-{code.lower()}")
        read = world.client.get("/mobile/v1/me/route", headers=fresh(world, phone))
        assert read.status_code == 200, read.text
        assert read.json()["steps"] == [] or all(
            step.get("client") is None for step in read.json()["steps"]
        ), read.json()
    heard = [r for r in _rows(world) if r.purpose == "nurse route" and r.client_id is None]
    assert len(heard) == len(world.seeded.nurses)
    # A key-safe reveal for a visit that does not exist: a refusal naming no client.
    refused = world.client.post(
        "/mobile/v1/me/keysafe/reveal", json={"visit_id": "999999"}, headers=fresh(world, phone)
    )
    assert refused.status_code in (403, 404, 422), refused.text
    for officer in ("privacy1", "privacy2"):
        rows = _export(world, officer)
        assert not [r for r in rows if r["client_id"] is None and r["event"] == "read"], rows
        assert [r for r in rows if r["client_id"] is None and r["event"] != "read"], rows
