"""The region's tolerance rule reaches the solver: planned care of a care type with a
tolerance gets a soft window end (late_tolerance_seconds, late_cost_per_minute); others stay
hard. The solver side is tests/optimizer/test_soft_windows.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.config import Settings
from api.repositories import accounts, nights
from api.services.planning import build_problem
from api.services.tolerance import current_rule, use_tolerance
from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401


@pytest.fixture
def rule(world: World) -> Iterator[None]:
    """The rule of a region that lets medication slip 15 minutes (restored after)."""
    before = current_rule()
    use_tolerance(
        Settings(planned_tolerance_minutes={"medication": 15}, planned_late_cost_per_minute=700)
    )
    yield
    use_tolerance(Settings(planned_tolerance_minutes=dict(before.minutes)))


def test_planned_care_gets_its_care_types_tolerance(world: World, rule: None) -> None:
    org = world.seeded.home_care[0]
    medication = new_client(world, org, 1)
    turn = new_client(world, org, 2)
    for client, task in ((medication, "medication"), (turn, "turn")):
        answer = world.client.post(
            "/partner/v1/visit-requests",
            json=planned_body(client, care_task=task),
            headers=world.key(org),
        )
        assert answer.status_code == 201, answer.text
    with world.sessions()() as session:
        region = accounts.get_region(session)
        night = nights.require_night(session, region, NIGHT)
        visits = {v.client_ref: v for v in build_problem(session, region, night).problem.visits}
    assert visits[f"C{medication}"].late_tolerance_seconds == 15 * 60
    assert visits[f"C{medication}"].late_cost_per_minute == 700
    assert visits[f"C{turn}"].late_tolerance_seconds == 0
    assert visits[f"C{turn}"].late_cost_per_minute == 0


def test_the_rule_is_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NACHTROUTE_PLANNED_TOLERANCE_MINUTES", '{"turn": 60, "medication": 15}')
    assert use_tolerance(Settings()).for_task("turn") == (3600, 1000)
    assert use_tolerance(Settings()).for_task("wound") == (0, 0)
    monkeypatch.delenv("NACHTROUTE_PLANNED_TOLERANCE_MINUTES")
    use_tolerance(Settings())


def test_hard_ended_planned_care_gets_the_margin(world: World) -> None:
    """The margin before a hard end reaches the solver on care types without a tolerance; a
    care type with a tolerance has its soft end instead (docs/simulation.md)."""
    before = current_rule()
    use_tolerance(
        Settings(
            planned_tolerance_minutes={"medication": 15},
            planned_end_margin_minutes=12,
            planned_end_margin_cost_per_minute=90,
        )
    )
    try:
        org = world.seeded.home_care[0]
        medication = new_client(world, org, 1)
        injection = new_client(world, org, 2)
        for client, task in ((medication, "medication"), (injection, "injection")):
            answer = world.client.post(
                "/partner/v1/visit-requests",
                json=planned_body(client, care_task=task),
                headers=world.key(org),
            )
            assert answer.status_code == 201, answer.text
        with world.sessions()() as session:
            region = accounts.get_region(session)
            night = nights.require_night(session, region, NIGHT)
            problem = build_problem(session, region, night).problem
    finally:
        use_tolerance(Settings(planned_tolerance_minutes=dict(before.minutes)))
    visits = {v.client_ref: v for v in problem.visits}
    assert visits[f"C{injection}"].end_margin_seconds == 12 * 60
    assert visits[f"C{injection}"].end_margin_cost_per_minute == 90
    assert visits[f"C{medication}"].end_margin_seconds == 0
    assert visits[f"C{medication}"].end_margin_cost_per_minute == 0


def test_the_margin_is_on_by_default_and_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert use_tolerance(Settings()).margin_for_task("injection") == (600, 1000)
    monkeypatch.setenv("NACHTROUTE_PLANNED_TOLERANCE_MINUTES", '{"turn": 60}')
    assert use_tolerance(Settings()).margin_for_task("turn") == (0, 0)
    monkeypatch.setenv("NACHTROUTE_PLANNED_END_MARGIN_MINUTES", "0")
    assert use_tolerance(Settings()).margin_for_task("injection") == (0, 0)
    monkeypatch.delenv("NACHTROUTE_PLANNED_TOLERANCE_MINUTES")
    monkeypatch.delenv("NACHTROUTE_PLANNED_END_MARGIN_MINUTES")
    use_tolerance(Settings())
