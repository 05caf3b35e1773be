"""An admin's changes to who may act are traceable (NEN 7510; review of S25-04 / S25-08).

Revoking a partner's API key recorded when but not who, and deactivating a login recorded
neither: after an incident nobody could tell which admin cut a partner off at 02:00. Each is
now a row in the append-only access log: who, when, which key or login (ids only), in the
export of the organisation concerned.
"""

from __future__ import annotations

from sqlalchemy import select

from api.db.models import AccessLogEntry
from tests.api.conftest import World


def _rows(world: World, event: str) -> list[AccessLogEntry]:
    with world.sessions()() as session:
        return list(session.scalars(select(AccessLogEntry).where(AccessLogEntry.event == event)))


def test_a_revoked_key_names_the_admin_who_revoked_it(any_world: World) -> None:
    world = any_world
    org = world.seeded.home_care[0]
    admin_id, _ = world.seeded.users["admin"]
    made = world.client.post(f"/admin/organisations/{org}/api-keys", headers=world.token("admin"))
    assert made.status_code == 201, made.text
    key = made.json()
    url = f"/admin/organisations/{org}/api-keys/{key['id']}/revoke"
    assert world.client.post(url, headers=world.token("admin")).status_code == 200
    assert world.client.post(url, headers=world.token("admin")).status_code == 200  # again
    rows = _rows(world, "admin.api_key_revoked")
    assert len(rows) == 1  # the change, once: revoking again changes nothing
    row = rows[0]
    assert row.user_id == admin_id and row.role == "admin" and row.client_id is None
    assert row.client_organisation_id == org  # the partner's privacy officer sees it
    assert str(key["id"]) in row.purpose
    assert key["key"] not in row.purpose and key["key"][:8] not in row.purpose


def test_a_deactivated_login_names_the_admin_who_deactivated_it(any_world: World) -> None:
    world = any_world
    admin_id, _ = world.seeded.users["admin"]
    user_id, _ = world.seeded.users["planner2"]
    url = f"/admin/users/{user_id}/deactivate"
    assert world.client.post(url, headers=world.token("admin")).status_code == 200
    assert world.client.post(url, headers=world.token("admin")).status_code == 200
    rows = _rows(world, "admin.user_deactivated")
    assert len(rows) == 1
    row = rows[0]
    assert row.user_id == admin_id and row.client_id is None
    assert row.client_organisation_id is None  # a planner acts for no organisation: every export
    assert str(user_id) in row.purpose and "planner2" not in row.purpose


def test_a_refused_deactivation_writes_no_change(any_world: World) -> None:
    world = any_world
    admin_id, _ = world.seeded.users["admin"]
    own = world.client.post(f"/admin/users/{admin_id}/deactivate", headers=world.token("admin"))
    assert own.status_code == 422
    assert _rows(world, "admin.user_deactivated") == []
