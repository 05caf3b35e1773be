"""Planner's API: plan versions, moves with consequences, stale If-Match, publishing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from api.core.problems import ProblemError
from api.db.models import Night
from api.repositories import accounts, nights
from api.seed import seed_requests
from tests.api.conftest import NIGHT, World

PLAN = f"/nights/{NIGHT.isoformat()}/plan"


def seed_night(world: World, visits: int = 12) -> None:
    """Planned care for tonight, submitted as the partners' systems would."""
    with world.sessions()() as session:
        seed_requests(session, world.seeded, night_date=NIGHT, now=world.clock(), visits=visits)


def reoptimise(world: World, version: int = 0) -> int:
    """Run a re-optimise job to the end; returns the new plan version."""
    headers = {**world.token("planner"), "If-Match": f'"{version}"'}
    # A re-optimise searches to its budget: a quarter second has a dozen visits planned by
    # the rules, which is what the 140 callers set up (0.5 s cost each of them a quarter
    # second more; the search's quality is tests/optimizer's).
    budget = {"time_limit_seconds": 0.25}
    job = world.client.post(f"{PLAN}/reoptimise", json=budget, headers=headers)
    assert job.status_code == 202, job.text
    world.client.app.state.job_runner.wait(job.json()["id"], timeout=60)
    done = world.client.get(f"/jobs/{job.json()['id']}", headers=world.token("planner")).json()
    assert done["status"] == "succeeded", done
    assert done["progress"], "the job reports progress"
    new_version: int = done["result"]["plan_version"]
    return new_version


def test_reoptimise_makes_a_plan_and_keeps_versions(world: World) -> None:
    """Re-optimising stores version 1; a second run version 2; both stay readable."""
    seed_night(world)
    assert reoptimise(world) == 1
    assert reoptimise(world, 1) == 2
    versions = world.client.get(f"{PLAN}/versions", headers=world.token("planner")).json()
    assert [v["version"] for v in versions] == [1, 2]
    first = world.client.get(f"{PLAN}/versions/1", headers=world.token("planner"))
    assert first.status_code == 200 and first.json()["routes"]
    current = world.client.get(PLAN, headers=world.token("planner"))
    assert current.headers["ETag"] == '"2"'
    assert current.json()["plan"]["summary"]["visits_planned"] == 12


def test_two_planners_editing_one_version(any_world: World) -> None:
    """Both edit version 1: the first move is saved, the second gets 409 with what changed."""
    world = any_world
    seed_night(world, visits=8)
    version = reoptimise(world)
    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    first, second = plan["visits"][0]["id"], plan["visits"][1]["id"]
    a = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": first, "nurse": "N2"},
        headers={**world.token("planner"), "If-Match": f'"{version}"'},
    )
    b = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": second, "nurse": "N3"},
        headers={**world.token("planner2"), "If-Match": f'"{version}"'},
    )
    assert a.status_code == 200, a.text
    assert b.status_code == 409, b.text
    problem = b.json()
    assert b.headers["content-type"] == "application/problem+json"
    assert problem["current_version"] == version + 1
    assert [c["reason"] for c in problem["changes"]] == ["move"]


def test_move_answers_with_consequences(world: World) -> None:
    """A dry-run move is evaluated and not saved; a real one is saved and pins."""
    seed_night(world, visits=10)
    version = reoptimise(world)
    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    visit = plan["visits"][0]["id"]
    headers = {**world.token("planner"), "If-Match": f'"{version}"'}
    dry = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": visit, "nurse": "N1", "position": 0, "dry_run": True},
        headers=headers,
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["saved"] is False
    assert set(dry.json()["consequences"]) >= {
        "violations",
        "travel_seconds_change",
        "later_visits",
    }
    saved = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": visit, "nurse": "N1", "position": 0, "pin": True},
        headers=headers,
    )
    assert saved.json()["saved"] is True and saved.json()["version"] == version + 1
    route = next(r for r in saved.json()["plan"]["routes"] if r["nurse_id"] == "N1")
    assert next(s["visit_id"] for s in route["steps"] if s["type"] == "visit") == f"V{visit}"
    after = world.client.get(PLAN, headers=world.token("planner")).json()
    pinned = next(v for v in after["visits"] if v["id"] == visit)
    assert pinned["pinned_to_nurse_id"] == world.seeded.nurses["N1"]


def test_if_match_is_required(world: World) -> None:
    """Changing without If-Match is 428; with a garbage one too."""
    seed_night(world, visits=3)
    reoptimise(world)
    for headers in ({}, {"If-Match": "abc"}):
        response = world.client.post(
            f"{PLAN}/moves",
            json={"visit_id": 1, "nurse": "N1"},
            headers={**world.token("planner"), **headers},
        )
        assert response.status_code == 428


def test_publish_marks_route_versions(world: World) -> None:
    """Publishing sends each nurse's newest route version to her phone."""
    seed_night(world, visits=9)
    version = reoptimise(world)
    routes = world.client.get(f"/nights/{NIGHT}/routes", headers=world.token("planner")).json()
    assert routes and all(not r["published"] for r in routes)
    published = world.client.post(
        f"{PLAN}/publish", headers={**world.token("planner"), "If-Match": f'"{version}"'}
    )
    assert published.status_code == 200, published.text
    routes = world.client.get(f"/nights/{NIGHT}/routes", headers=world.token("planner")).json()
    assert all(r["published"] and r["published_version"] == r["version"] for r in routes)


def test_plan_times_are_inside_the_night(world: World) -> None:
    """The plan's times are seconds from the night's start and fit the night."""
    seed_night(world, visits=6)
    reoptimise(world)
    plan = world.client.get(PLAN, headers=world.token("planner")).json()
    start = datetime.fromisoformat(plan["starts_at"])
    end = datetime.fromisoformat(plan["ends_at"])
    assert end - start == timedelta(hours=8)
    for route in plan["plan"]["routes"]:
        assert all(0 <= s["start"] <= 8 * 3600 for s in route["steps"])


def test_reoptimise_opens_no_night_outside_the_planning_horizon(any_world: World) -> None:
    """Review s25, R-C: re-optimise with ``If-Match: "0"`` opened any night, years ahead or
    long past (a night row, recurring care expanded into it, a solver run). A night not yet
    opened is opened only from the current night to ``recurrence_days_ahead`` nights ahead,
    as partners' care is; others are 422 naming ``path.night_date``, and open nothing."""
    world = any_world
    seed_night(world)
    ahead = world.settings.recurrence_days_ahead
    headers = {**world.token("planner"), "If-Match": '"0"'}

    def nights() -> int:
        with world.sessions()() as session:
            return int(session.scalar(select(func.count()).select_from(Night)) or 0)

    before = nights()
    for night in (NIGHT + timedelta(days=ahead + 1), date(2199, 12, 31), NIGHT - timedelta(days=1)):
        refused = world.client.post(
            f"/nights/{night.isoformat()}/plan/reoptimise",
            json={"time_limit_seconds": 0.5},
            headers=headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "path.night_date"
    assert nights() == before
    # The night that exists keeps working, and so does the last night of the horizon.
    assert reoptimise(world) == 1
    last = NIGHT + timedelta(days=ahead)
    job = world.client.post(
        f"/nights/{last.isoformat()}/plan/reoptimise",
        json={"time_limit_seconds": 0.5},
        headers=headers,
    )
    assert job.status_code == 202, job.text
    world.client.app.state.job_runner.wait(job.json()["id"], timeout=60)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("local", "night_date", "opens"),
    [
        # 03:00: the night under way began the previous calendar day.
        (datetime(2027, 1, 15, 3, 0), date(2027, 1, 14), True),
        (datetime(2027, 1, 15, 3, 0), date(2027, 1, 15), True),
        (datetime(2027, 1, 14, 22, 0), date(2027, 1, 13), False),
        # Noon: last night ended at 07:00 and is no longer the current night.
        (datetime(2027, 1, 15, 12, 0), date(2027, 1, 14), False),
        (datetime(2027, 1, 15, 12, 0), date(2027, 1, 15), True),
        # The clocks go back (02:30 twice) and forward (02:00 to 03:00) in the night.
        (datetime(2026, 10, 25, 2, 30, fold=1), date(2026, 10, 24), True),
        (datetime(2027, 3, 28, 3, 30), date(2027, 3, 27), True),
    ],
)
def test_reoptimise_horizon_starts_with_the_night_under_way(
    world: World, local: datetime, night_date: date, opens: bool
) -> None:
    """Review s26 of R-C: at 03:00 (Europe/Amsterdam, either side of a clock change) the
    current night is the one that began the evening before, and it may still be opened; a
    night is refused as past only once the next one is current (from noon)."""
    now = local.replace(tzinfo=ZoneInfo("Europe/Amsterdam"))
    ahead = world.settings.recurrence_days_ahead
    with world.sessions()() as session:
        region = accounts.get_region(session)
        assert nights.get_night(session, region, night_date) is None
        if opens:
            night = nights.open_for_planner(session, region, night_date, now=now, days_ahead=ahead)
            assert night.night_date == night_date
        else:
            with pytest.raises(ProblemError) as refused:
                nights.open_for_planner(session, region, night_date, now=now, days_ahead=ahead)
            assert refused.value.status == 422
        session.rollback()
