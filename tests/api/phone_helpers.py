"""Helpers for the phone API's tests: a published night and a registered phone.

Everything is fictional: codes look like ``TEST0000``, clients are test clients.
"""

from __future__ import annotations

from mobile_contract.dpop_client import PhoneKey
from tests.api.conftest import NIGHT, World
from tests.api.test_planner import PLAN, reoptimise, seed_night

FAKE_CODE = "TEST0000"
#: A registration body; ``public_key`` is replaced by the phone's own (`phone_body`).
PHONE = {
    "platform": "android",
    "app_version": "1.0.0",
    "label": "test phone",
    "public_key": '{"kty":"EC","crv":"P-256","x":"test","y":"test"}',
}


def phone_body(key: PhoneKey) -> dict[str, str]:
    """The registration body of a phone holding ``key``."""
    return {**PHONE, "public_key": key.public_jwk_json()}


def register_phone(world: World, username: str = "nurse-n1") -> dict[str, str]:
    """Register a phone for the nurse; the headers her phone then sends (the test client
    adds a DPoP proof by the phone's key to each request, `tests.api.conftest.PhoneSigner`)."""
    key = world.new_key()
    signed_in = world.token(username, second_factor=True, key=key)
    response = world.client.post("/mobile/v1/devices", json=phone_body(key), headers=signed_in)
    assert response.status_code == 201, response.text
    device_id = response.json()["device_id"]
    world.phones.by_device[device_id] = key
    user_id = str(world.seeded.users[username][0])
    return {**signed_in, "X-Device-Id": device_id, "X-User": user_id}


def fresh(world: World, phone: dict[str, str]) -> dict[str, str]:
    """The phone's headers with a token issued now (tokens last minutes; tests move the clock),
    bound to the phone's key."""
    user_id = int(phone["X-User"])
    username = next(name for name, (uid, _role) in world.seeded.users.items() if uid == user_id)
    key = world.phones.by_device[phone["X-Device-Id"]]
    return {**phone, **world.token(username, second_factor=True, key=key)}


def publish(world: World) -> int:
    """Publish the current plan to the phones; the plan version."""
    version: int = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    response = world.client.post(
        f"{PLAN}/publish", headers={**world.token("planner"), "If-Match": f'"{version}"'}
    )
    assert response.status_code == 200, response.text
    return version


def published_night(world: World, visits: int = 12) -> None:
    """Planned care for tonight, optimised and published to the phones."""
    seed_night(world, visits=visits)
    reoptimise(world)
    publish(world)


def set_code(world: World, client_id: int, code: str = FAKE_CODE) -> None:
    """The client's organisation marks the key safe and sets a (fake) code through the
    partners' API (a code is refused for a client marked as having no key safe)."""
    org = next(org for org, ids in world.seeded.clients.items() if client_id in ids)
    marked = world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"key_safe_present": True}, headers=world.key(org)
    )
    assert marked.status_code == 200, marked.text
    response = world.client.put(
        f"/partner/v1/clients/{client_id}/keysafe", json={"code": code}, headers=world.key(org)
    )
    assert response.status_code == 204, response.text


__all__ = [
    "FAKE_CODE",
    "NIGHT",
    "fresh",
    "phone_body",
    "publish",
    "published_night",
    "register_phone",
    "set_code",
]
