"""Deactivating a login (red team s25, finding S25-08).

Sign-in and every token check refuse a user whose ``active`` is false, but nothing set it:
a planner's or partner's leaked password, or a colleague who left, kept working until the
database was edited by hand (phones can be revoked, logins could not). Now an admin
deactivates a login; its tokens stop at once.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import PASSWORD, World

ME = "/auth/me"


def _deactivate(world: World, user_id: int, headers: dict[str, str] | None = None) -> Any:
    return world.client.post(
        f"/admin/users/{user_id}/deactivate",
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
