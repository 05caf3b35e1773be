"""Revoking a lost phone ends its tokens everywhere, not only under /mobile/v1."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import NIGHT, World
from tests.api.phone_helpers import PHONE, published_night, register_phone

ROUTE = "/mobile/v1/me/route"


def test_revoked_phone_token_is_refused_on_the_nurse_route(world: World) -> None:
    """The lost phone's token gets 401 on POST /nights/{date}/events; a new sign-in works."""
    published_night(world, visits=6)
    world.clock.set(0, 40)
    phone = register_phone(world, "nurse-n1")
    lost_token = {"Authorization": phone["Authorization"]}
    late = {"kind": "delayed", "delay_minutes": 5}
    before = world.client.post(f"/nights/{NIGHT}/events", json=late, headers=lost_token)
    assert before.status_code == 201, before.text

    world.clock.now = world.clock.now + timedelta(minutes=2)
    revoked = world.client.post(
        f"/phones/{phone['X-Device-Id']}/revoke", headers=world.token("planner")
    )
    assert revoked.status_code == 200, revoked.text

    for headers in (lost_token, phone):
        refused = world.client.post(f"/nights/{NIGHT}/events", json=late, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "device_revoked"
    assert world.client.get(ROUTE, headers=phone).status_code == 401
    # Nor can the lost phone's second-factor token register another phone.
    again = world.client.post(
        "/mobile/v1/devices",
        json=PHONE,
        headers=phone,
    )
    assert again.status_code == 401, again.text

    signed_in_again = world.token("nurse-n1", second_factor=True)
    after = world.client.post(f"/nights/{NIGHT}/events", json=late, headers=signed_in_again)
    assert after.status_code == 201, after.text
