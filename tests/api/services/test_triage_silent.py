"""Triage when nurses' phones are silent (red team s25, finding S25-02).

A nurse whose phone has not read her route is not given care she has not seen (`Visit.not_by`,
`api.night.reach`): the partner's call, the search and triage's first answer all leave her
out. Triage's "no" then quoted every nurse with `optimizer.quote`, which does not read
``not_by``, and told the caller "the soonest a nurse can be there is in 21 minutes; send the
back-up" to a question asked within 30 minutes: a "no" that says "yes", naming an ETA of a
nurse nobody may send. Found live on the demo with all three phones silent.
"""

from __future__ import annotations

from tests.api.conftest import World
from tests.api.invariants import settle
from tests.api.phone_helpers import publish, register_phone
from tests.api.test_planner import reoptimise, seed_night
from tests.api.test_triage import ASK, NEAR


def test_a_silent_nurse_is_no_soonest_eta(world: World) -> None:
    """Every nurse's phone registered, the night published in the evening, no phone heard since:
    at 01:30 nobody may be given a call. Triage says no, and gives no soonest ETA inside the
    time asked (it is nobody's): no nurse whose phone is heard has room."""
    seed_night(world, visits=12)
    reoptimise(world)
    for code in world.seeded.nurses:
        register_phone(world, f"nurse-{code.lower()}")
    world.clock.set(22, 0)
    publish(world)
    world.clock.set(1, 30)
    settle(world)
    board = world.client.get("/nights/2026-11-23/board", headers=world.token("planner")).json()
    phones = {n["id"]: n["phone"] for n in board["nurses"]}
    assert all(phone["silent"] for phone in phones.values()), phones

    headers = world.key(world.seeded.triage[0])
    body = world.client.post(ASK, json={**NEAR, "within_minutes": 30}, headers=headers).json()
    assert body["available"] is False, body
    assert body["best_eta_minutes"] is None or body["best_eta_minutes"] > 30, body
    assert body["reason"] == "no_capacity", body
    assert "phone" in body["message"], body
