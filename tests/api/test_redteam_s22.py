"""Red-team findings of s22 through HTTP on the test clock; each failed on main before its
fix (or is a strict xfail naming what is left). Ids are those of the red team's report
(R22-nn)."""

from __future__ import annotations

from typing import Any

from mobile_contract.dpop_client import PhoneKey
from tests.api.conftest import World

LOG = "/access-log"
REVEAL = "/mobile/v1/me/keysafe/reveal"


def _export(world: World, officer: str) -> list[dict[str, Any]]:
    answer = world.client.get(LOG, headers=world.token(officer, second_factor=True))
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def test_r22_01_a_partner_cannot_write_into_another_organisations_access_log(
    world: World,
) -> None:
    """R02's kind by another door. Organisation B's key asks for key-safe codes (a caller
    of the wrong role) 10 times, with a made-up phone id; B's partner login, signed in with a
    DPoP key, sends its bound token 10 times without a proof. Each refusal named no client,
    so each row went into *every* organisation's export: A's privacy officer paged through
    B's probing, with text B chose in the device column. An attempt naming no client
    belongs to the organisation that acted (B's export), as R02 decided."""
    b = world.seeded.home_care[1]
    before_a = len(_export(world, "privacy1"))
    before_b = len(_export(world, "privacy2"))
    for number in range(10):
        got = world.client.post(
            REVEAL,
            json={"visit_id": f"x{number}", "reason": "arrived"},
            headers={**world.key(b), "X-Device-Id": f"=probe{number}"},
        )
        assert got.status_code == 403, got.text
    # A token bound to a key this test client does not hold: sent without a proof.
    bound = world.token("partner2", key=PhoneKey.generate(clock=lambda: world.clock().timestamp()))
    for _ in range(10):
        got = world.client.get("/partner/v1/clients", headers=bound)
        assert got.status_code == 401, got.text
    after_a = _export(world, "privacy1")
    after_b = _export(world, "privacy2")
    assert len(after_a) == before_a, [(r["purpose"], r["device_id"]) for r in after_a[before_a:]][
        :3
    ]
    assert len(after_b) == before_b + 20
    assert {r["acting_organisation_id"] for r in after_b[before_b:]} == {b}
