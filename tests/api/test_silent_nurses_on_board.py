"""Silent phones on the planner's board (`api.night.reach`): the board shows whose phone is
not picking up her route, since when and when it was last heard; a hand move, a pin or an
urgent call given to her needs the planner's acknowledgement (``silent_nurse_ok``), and is
answered with a warning. Through HTTP on the test clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.api.conftest import World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.test_redteam_s20 import _plan, _step
from tests.api.test_redteam_s21b import silent_night

BOARD = "/nights/2026-11-23/board"
MOVES = "/nights/2026-11-23/plan/moves"
TAKE = "/nights/2026-11-23/board/urgent-calls"


def _silent_night(world: World) -> tuple[int, int, str]:
    """`test_redteam_s21b.silent_night`: a call gone from a silent nurse to a colleague, at
    01:11; the organisation, the call's visit id and the silent nurse's code."""
    org, visit_id, silent, _phones = silent_night(world)
    return org, visit_id, silent


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_board_shows_whose_phone_is_silent_since_when(any_world: World) -> None:
    world = any_world
    _org, _visit_id, silent = _silent_night(world)
    board = world.client.get(BOARD, headers=world.token("planner"))
    assert board.status_code == 200, board.text
    phones = {n["id"]: n["phone"] for n in board.json()["nurses"]}
    assert [code for code, phone in phones.items() if phone["silent"]] == [silent]
    hers = phones[silent]
    # Her route with the call was published at 01:05 (00:05 UTC); silent 3 minutes later.
    assert _at(hers["silent_since"]) == datetime(2026, 11, 24, 0, 8, tzinfo=UTC)
    assert _at(hers["heard_at"]) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    for code, phone in phones.items():
        if code != silent:
            assert phone == {
                "silent": False,
                "silent_since": None,
                "heard_at": None,
                "unseen_visits": [],
            }


def _move(world: World, body: dict[str, Any]) -> Any:
    version = _plan(world)["version"]
    return world.client.post(
        MOVES, json=body, headers={**world.token("planner"), "If-Match": f'"{version}"'}
    )


def test_a_move_or_pin_to_a_silent_nurse_needs_the_planners_acknowledgement(
    any_world: World,
) -> None:
    """Her phone has not picked up her route since 01:00: care moved or pinned to her by
    hand would sit on a route nobody reads (unpinned, the next re-plan even takes it away
    again). The dry run warns; saving needs ``silent_nurse_ok`` (409 ``nurse-silent``
    naming the field, nothing saved); acknowledged, it is saved with the warning."""
    world = any_world
    _org, visit_id, silent = _silent_night(world)
    for pin in (False, True):
        looked = _move(world, {"visit_id": visit_id, "nurse": silent, "pin": pin, "dry_run": True})
        assert looked.status_code == 200, looked.text
        [warning] = looked.json()["warnings"]
        assert warning["code"] == "nurse_silent" and warning["nurse"] == silent, warning
        assert ("stays with her" if pin else "next re-plan") in warning["message"]
        before = _plan(world)["version"]
        refused = _move(world, {"visit_id": visit_id, "nurse": silent, "pin": pin})
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/nurse-silent"), problem
        assert problem["nurse"] == silent
        assert [e["field"] for e in problem["errors"]] == ["body.silent_nurse_ok"]
        assert _plan(world)["version"] == before
        assert _step(world, visit_id)[0] != silent
    done = _move(
        world, {"visit_id": visit_id, "nurse": silent, "pin": True, "silent_nurse_ok": True}
    )
    assert done.status_code == 200 and done.json()["saved"], done.text
    assert [w["code"] for w in done.json()["warnings"]] == ["nurse_silent"]
    assert _step(world, visit_id)[0] == silent


def test_a_move_to_a_heard_nurse_is_not_warned(any_world: World) -> None:
    world = any_world
    _org, visit_id, silent = _silent_night(world)
    heard = next(code for code in world.seeded.nurses if code != silent)
    moved = _move(world, {"visit_id": visit_id, "nurse": heard, "pin": True})
    assert moved.status_code == 200 and moved.json()["saved"], moved.text
    assert moved.json()["warnings"] == []


def test_an_urgent_call_given_to_a_silent_nurse_needs_the_acknowledgement(
    any_world: World,
) -> None:
    """The triage quote marks her option ``silent``; taking the call with her (pinned to
    her) is 409 ``nurse-silent`` until the planner acknowledges, then 201 with the warning."""
    world = any_world
    org, _visit_id, silent = _silent_night(world)
    call = {"client_id": new_client(world, org, 5), "urgency": "acute", "care_task": "fall"}
    quoted = world.client.post(f"{TAKE}/quote", json=call, headers=world.token("planner"))
    assert quoted.status_code == 200, quoted.text
    flags = {o["nurse_id"]: o["silent"] for o in quoted.json()["options"]}
    assert flags[silent] is True
    assert not any(flag for code, flag in flags.items() if code != silent)
    headers = {**world.token("planner"), "If-Match": f'"{_plan(world)["version"]}"'}
    refused = world.client.post(TAKE, json={**call, "nurse": silent}, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/nurse-silent")
    taken = world.client.post(
        TAKE, json={**call, "nurse": silent, "silent_nurse_ok": True}, headers=headers
    )
    assert taken.status_code == 201, taken.text
    assert [w["nurse"] for w in taken.json()["warnings"]] == [silent]
    settle(world)
