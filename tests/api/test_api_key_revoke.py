"""Revoking a partner's API key (red team s25, finding S25-04).

An admin could make API keys (`POST /admin/organisations/{id}/api-keys`) and the service
refuses a key whose ``revoked_at`` is set, but nothing set it: a key leaked from a partner's
system kept reading and submitting that organisation's clients' care until someone edited
the database by hand. Now the admin revokes it, at once, for that organisation only.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World

CLIENTS = "/partner/v1/clients"


def _new_key(world: World, org: int) -> dict[str, Any]:
    made = world.client.post(f"/admin/organisations/{org}/api-keys", headers=world.token("admin"))
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def _revoke(world: World, org: int, key_id: int, headers: dict[str, str] | None = None) -> Any:
    return world.client.post(
        f"/admin/organisations/{org}/api-keys/{key_id}/revoke",
        headers=headers if headers is not None else world.token("admin"),
    )


def test_a_revoked_key_is_refused_at_once(any_world: World) -> None:
    world = any_world
    org = world.seeded.home_care[0]
    made = _new_key(world, org)
    leaked = {"X-API-Key": made["key"]}
    assert world.client.get(CLIENTS, headers=leaked).status_code == 200

    revoked = _revoke(world, org, made["id"])
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["id"] == made["id"] and body["revoked_at"] is not None
    assert made["key"] not in revoked.text and "key" not in body

    assert world.client.get(CLIENTS, headers=leaked).status_code == 401
    # The organisation's other keys go on working.
    assert world.client.get(CLIENTS, headers=world.key(org)).status_code == 200
    # Revoking again changes nothing (the first moment stands).
    again = _revoke(world, org, made["id"])
    assert again.status_code == 200 and again.json()["revoked_at"] == body["revoked_at"]


def test_only_an_admin_revokes_and_only_the_organisations_own_key(any_world: World) -> None:
    world = any_world
    org, other = world.seeded.home_care[0], world.seeded.home_care[1]
    made = _new_key(world, org)
    assert _revoke(world, other, made["id"]).status_code == 404
    assert _revoke(world, org, 2**31 - 1).status_code == 404
    assert _revoke(world, org, made["id"], headers=world.token("planner")).status_code == 403
    assert _revoke(world, org, made["id"], headers=world.key(org)).status_code == 403
    assert world.client.get(CLIENTS, headers={"X-API-Key": made["key"]}).status_code == 200


def test_a_leaked_key_is_found_by_its_prefix(any_world: World) -> None:
    """Review of S25-04: revoking needs the key's id, which only the answer that made the key
    showed; a leak shows the key itself (``nrk_<prefix>_<secret>``) or its prefix (the access
    log's ``api-key:<prefix>``). The admin lists the organisation's keys, never a secret or a
    hash, finds the leaked one by its prefix and revokes it."""
    world = any_world
    org, other = world.seeded.home_care[0], world.seeded.home_care[1]
    made = _new_key(world, org)
    prefix = made["key"].split("_")[1]
    listed = world.client.get(f"/admin/organisations/{org}/api-keys", headers=world.token("admin"))
    assert listed.status_code == 200, listed.text
    found = [k for k in listed.json() if k["prefix"] == prefix]
    assert [k["id"] for k in found] == [made["id"]] and found[0]["revoked_at"] is None
    # The secret is URL-safe base64: it may hold "_" itself (split once only).
    assert made["key"].split("_", 2)[2] not in listed.text
    assert not {"key", "secret_hash"} & set(found[0])
    # Another organisation's listing holds none of this one's keys.
    theirs = world.client.get(
        f"/admin/organisations/{other}/api-keys", headers=world.token("admin")
    )
    assert theirs.status_code == 200 and prefix not in theirs.text
    assert _revoke(world, org, found[0]["id"]).status_code == 200
    again = world.client.get(f"/admin/organisations/{org}/api-keys", headers=world.token("admin"))
    assert next(k for k in again.json() if k["prefix"] == prefix)["revoked_at"] is not None
    missing = world.client.get(
        f"/admin/organisations/{2**31 - 1}/api-keys", headers=world.token("admin")
    )
    assert missing.status_code == 404, missing.text
    for who in (world.token("planner"), world.key(org)):
        listing = world.client.get(f"/admin/organisations/{org}/api-keys", headers=who)
        assert listing.status_code == 403
