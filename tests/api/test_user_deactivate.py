"""Deactivating a login (red team s25, finding S25-08).

Sign-in and every token check refuse a user whose ``active`` is false, but nothing set it:
a planner's or partner's leaked password, or a colleague who left, kept working until the
database was edited by hand (phones can be revoked, logins could not). Now an admin
deactivates a login; its tokens stop at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from api.db.models import AccessLogEntry, User
from tests.api.conftest import PASSWORD, World

ME = "/auth/me"


def _deactivate(world: World, user_id: int, headers: dict[str, str] | None = None) -> Any:
    return world.client.post(
        f"/admin/users/{user_id}/deactivate",
        headers=headers if headers is not None else world.token("admin"),
    )


def _reactivate(world: World, user_id: int, headers: dict[str, str] | None = None) -> Any:
    return world.client.post(
        f"/admin/users/{user_id}/reactivate",
        headers=headers if headers is not None else world.token("admin"),
    )


def test_a_deactivated_login_is_refused_at_once(any_world: World) -> None:
    world = any_world
    user_id, _role = world.seeded.users["planner2"]
    token = world.token("planner2")
    assert world.client.get(ME, headers=token).status_code == 200

    done = _deactivate(world, user_id)
    assert done.status_code == 200, done.text
    assert done.json() == {**done.json(), "id": user_id, "username": "planner2", "active": False}

    assert world.client.get(ME, headers=token).status_code == 401
    signed_in = world.client.post(
        "/auth/token", json={"username": "planner2", "password": PASSWORD}
    )
    assert signed_in.status_code == 401, signed_in.text
    # Colleagues go on; deactivating again changes nothing.
    assert world.client.get(ME, headers=world.token("planner")).status_code == 200
    assert _deactivate(world, user_id).status_code == 200


def test_only_an_admin_deactivates_and_never_herself(any_world: World) -> None:
    world = any_world
    admin_id, _ = world.seeded.users["admin"]
    planner_id, _ = world.seeded.users["planner2"]
    assert _deactivate(world, 2**31 - 1).status_code == 404
    assert _deactivate(world, planner_id, headers=world.token("planner")).status_code == 403
    own = _deactivate(world, admin_id)
    assert own.status_code == 422, own.text
    assert world.client.get(ME, headers=world.token("admin")).status_code == 200


def test_the_admin_finds_the_login_by_its_username(any_world: World) -> None:
    """Review of S25-08: deactivating needs the login's id, which nothing showed after it was
    made; the admin lists the logins (no password hash, no TOTP secret), finds the leaked one
    by its username and sees it inactive afterwards."""
    world = any_world
    listed = world.client.get("/admin/users", headers=world.token("admin"))
    assert listed.status_code == 200, listed.text
    rows = {row["username"]: row for row in listed.json()}
    assert rows["planner2"]["active"] is True
    assert not {"password_hash", "totp_secret", "password"} & set(rows["planner2"])
    assert _deactivate(world, rows["planner2"]["id"]).status_code == 200
    after = {
        row["username"]: row
        for row in world.client.get("/admin/users", headers=world.token("admin")).json()
    }
    assert after["planner2"]["active"] is False
    assert world.client.get("/admin/users", headers=world.token("planner")).status_code == 403


def test_reactivating_a_login_revives_none_of_her_old_tokens(any_world: World) -> None:
    """A login deactivated after a leak and reactivated later: tokens issued before the
    deactivation stay refused (the leaked one may be among them; a token lives 15 minutes),
    a new sign-in works. Reactivating is access-logged like deactivating, with its admin."""
    world = any_world
    admin_id, _ = world.seeded.users["admin"]
    user_id, _role = world.seeded.users["planner2"]
    old = world.token("planner2")
    world.clock.now += timedelta(minutes=1)
    assert _deactivate(world, user_id).status_code == 200
    world.clock.now += timedelta(minutes=1)

    done = _reactivate(world, user_id)
    assert done.status_code == 200, done.text
    assert done.json() == {**done.json(), "id": user_id, "username": "planner2", "active": True}
    assert world.client.get(ME, headers=old).status_code == 401
    signed_in = world.client.post(
        "/auth/token", json={"username": "planner2", "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    new = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert world.client.get(ME, headers=new).status_code == 200
    assert world.client.get(ME, headers=old).status_code == 401

    # Reactivating an active login changes nothing and logs nothing more.
    assert _reactivate(world, user_id).status_code == 200
    with world.sessions()() as session:
        rows = list(
            session.scalars(
                select(AccessLogEntry).where(AccessLogEntry.event == "admin.user_reactivated")
            )
        )
    assert len(rows) == 1
    assert rows[0].user_id == admin_id and rows[0].client_id is None
    assert str(user_id) in rows[0].purpose and "planner2" not in rows[0].purpose


def test_only_an_admin_reactivates_and_a_nurse_keeps_one_login(any_world: World) -> None:
    """404 for no such login, 403 for a planner; a nurse's old login is not reactivated
    beside the one made for her since (409: one login per nurse)."""
    world = any_world
    planner_id, _ = world.seeded.users["planner2"]
    nurse_login, _ = world.seeded.users["nurse-n1"]
    assert _reactivate(world, 2**31 - 1).status_code == 404
    assert _deactivate(world, planner_id).status_code == 200
    assert _reactivate(world, planner_id, headers=world.token("planner")).status_code == 403

    assert _deactivate(world, nurse_login).status_code == 200
    made = world.client.post(
        "/admin/users",
        json={
            "username": "test-nurse-n1-new",
            "password": "a new password for her",
            "role": "nurse",
            "nurse_id": world.seeded.nurses["N1"],
        },
        headers=world.token("admin"),
    )
    assert made.status_code == 201, made.text
    twice = _reactivate(world, nurse_login)
    assert twice.status_code == 409, twice.text
    assert twice.headers["content-type"] == "application/problem+json"


def test_a_login_deactivated_before_0017_revives_no_token_either(any_world: World) -> None:
    """A login made inactive before migration 0017 has no deactivation moment stored; its
    reactivation refuses every token issued until then."""
    world = any_world
    user_id, _role = world.seeded.users["planner2"]
    old = world.token("planner2")
    with world.sessions()() as session:
        session.execute(
            update(User).where(User.id == user_id).values(active=False, tokens_valid_after=None)
        )
        session.commit()
    world.clock.now += timedelta(minutes=1)
    assert _reactivate(world, user_id).status_code == 200
    assert world.client.get(ME, headers=old).status_code == 401
