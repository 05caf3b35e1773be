"""The demo's nurses have a second factor, so a phone can be registered in the demo."""

from __future__ import annotations

import pyotp

from api.seed import DEMO_NURSE_TOTP_SECRET
from tests.api.conftest import PASSWORD, World
from tests.api.phone_helpers import phone_body


def test_demo_nurse_signs_in_with_totp_and_registers_a_phone(world: World) -> None:
    """Password + the demo nurse's TOTP code → a second-factor token → phone registered."""
    code = pyotp.TOTP(DEMO_NURSE_TOTP_SECRET).at(world.clock())
    key = world.new_key()
    login = world.client.post(
        "/auth/token",
        json={"username": "nurse-n1", "password": PASSWORD, "totp_code": code},
        headers=key.headers("POST", "http://testserver/auth/token"),
    )
    assert login.status_code == 200, login.text
    assert login.json()["second_factor"] is True
    assert login.json()["token_type"] == "DPoP"
    headers = {"Authorization": f"DPoP {login.json()['access_token']}"}
    registered = world.client.post("/mobile/v1/devices", json=phone_body(key), headers=headers)
    assert registered.status_code == 201, registered.text
