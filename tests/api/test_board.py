"""The planner's board read: what the map and timeline are drawn from, on the real service.

On SQLite and PostgreSQL (``any_world``); no road network here, so lines are straight and
flagged; the road case is `test_legs_follow_the_roads` on the imported Porto extract."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from api.db.models import AccessLogEntry, Night, Visit
from api.services.board import ROAD_RADIUS_STEPS_M, _road_lines, road_radius_step
from api.services.legs import leg_points
from api.travel import road_network, use_network
from tests.api.conftest import NIGHT, World
from tests.api.test_planner import PLAN, reoptimise, seed_night
from tests.conftest import copy_roads

BOARD = f"/nights/{NIGHT.isoformat()}/board"


def test_board_shows_every_visit_once_with_its_client_and_logs_the_read(
    any_world: World,
) -> None:
    seed_night(any_world, visits=10)
    version = reoptimise(any_world)
    planner = any_world.token("planner")
    response = any_world.client.get(BOARD, headers=planner)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{version}"'
    assert response.headers["Cache-Control"] == "no-store"
    board = response.json()
    assert board["version"] == version
    assert [n["id"] for n in board["nurses"]] == sorted(n["id"] for n in board["nurses"])
    assert len({n["colour"] for n in board["nurses"]}) == len(board["nurses"])
    # Every visit is either placed on exactly one route or unassigned with its sentence.
    on_routes = [s["visit_id"] for r in board["routes"] for s in r["steps"] if s["visit_id"]]
    assert len(on_routes) == len(set(on_routes))
    for visit in board["visits"]:
        assert (visit["planned"] is None) != (visit["unassigned"] is None), visit
        assert visit["client"]["name"]
        if visit["planned"]:
            assert visit["id"] in on_routes
            assert visit["planned"]["late"] in (True, False)
        else:
            assert visit["unassigned"]["message"]
    # The positions the board offers are the move API's: moving a visit to its own place
    # changes no start.
    placed = next(v for v in board["visits"] if v["planned"])
    dry = any_world.client.post(
        f"{PLAN}/moves",
        headers={**planner, "If-Match": f'"{version}"'},
        json={
            "visit_id": int(placed["id"][1:]),
            "nurse": placed["planned"]["nurse_id"],
            "position": placed["planned"]["position"],
            "dry_run": True,
        },
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["consequences"]["later_visits"] == {}
    assert dry.json()["consequences"]["travel_seconds_change"] == 0
    # Without a road network: straight legs, flagged.
    assert all(r["along_roads"] is False for r in board["routes"])
    # NEN 7513: one row per client shown, purpose named, by the planner.
    with any_world.sessions()() as session:
        rows = session.scalars(
            select(AccessLogEntry).where(AccessLogEntry.purpose == "planner board")
        ).all()
        shown = set(session.scalars(select(Visit.client_id)))
    assert len(rows) == len({r.client_id for r in rows})
    assert {r.client_id for r in rows} == shown
    assert {(r.role, r.event) for r in rows} == {("planner", "read")}


def test_version_read_opens_no_night_and_follows_changes(world: World) -> None:
    planner = world.token("planner")
    assert world.client.get(f"{BOARD}/version", headers=planner).json() == {
        "version": 0,
        "replan_pending": False,
    }
    with world.sessions()() as session:
        assert session.scalars(select(Night)).first() is None
    assert world.client.get(BOARD, headers=planner).status_code == 404
    seed_night(world, visits=4)
    version = reoptimise(world)
    assert world.client.get(f"{BOARD}/version", headers=planner).json()["version"] == version


def test_roads_are_empty_without_a_network(world: World) -> None:
    r = world.client.get("/board/roads", headers=world.token("planner"))
    assert r.status_code == 200
    assert r.json() == {"type": "FeatureCollection", "features": []}
    bad = world.client.get("/board/roads?radius_km=0", headers=world.token("planner"))
    assert bad.status_code == 422
    assert "radius_km" in bad.text


def test_page_and_assets_are_served_and_nothing_else(world: World) -> None:
    page = world.client.get("/planner")
    # Defence in depth for the page holding the planner's token (R09): own scripts only, no
    # inline script, no framing by another site.
    policy = page.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for hook in (
        "login-username",
        "login-password",
        "login-submit",
        "map",
        "timeline",
        "move-preview",
        "move-confirm",
        "reoptimise",
        "publish",
        "plan-version",
    ):
        assert f'data-testid="{hook}"' in page.text, hook
    script = world.client.get("/planner/assets/planner.js")
    assert script.status_code == 200
    for hook in ("map-route", "map-visit", "timeline-row", "visit-block", "unassigned-item"):
        assert f'"{hook}"' in script.text, hook
    assert "pin-toggle" in script.text
    assert world.client.get("/planner/assets/planner.html").status_code == 404
    for path in (
        "/planner/vendor/leaflet/../../package.json",
        "/planner/vendor/leaflet/..%2F..%2Fpackage.json",
        "/planner/vendor/leaflet/leaflet-src.js.map",
    ):
        assert world.client.get(path).status_code == 404, path


@pytest.fixture(scope="module")
def porto_roads(tmp_path_factory: pytest.TempPathFactory, porto_demo_roads: Path) -> Iterator[Path]:
    folder = copy_roads(porto_demo_roads, tmp_path_factory.mktemp("porto"))
    use_network("porto-demo", data_dir=folder)
    yield folder
    use_network(None)


def test_legs_follow_the_roads(porto_roads: Path) -> None:
    """A leg on the Porto roads bends with them: longer than the straight line, many points,
    every point near a road; the same two points give the same line (cached)."""
    import geo
    from geo.network import haversine_metres

    origin, destination = (-8.6291, 41.1579), (-8.6110, 41.1490)
    points, along = leg_points(origin, destination)
    assert along is True
    assert len(points) > 5
    length = sum(
        float(haversine_metres(a[1], a[0], b[1], b[0])) for a, b in itertools.pairwise(points)
    )
    straight = float(haversine_metres(origin[1], origin[0], destination[1], destination[0]))
    assert length > straight
    network = road_network().network
    assert network is not None
    snapped = geo.snap_points(network, [p[1] for p in points], [p[0] for p in points])
    assert float(max(snapped.distance_m)) < 5.0
    assert leg_points(origin, destination) == (points, True)
    assert leg_points(origin, origin) == ([], False)


@given(st.floats(min_value=0.001, max_value=60_000.0))
def test_a_road_radius_is_served_at_a_step_that_covers_it(radius_m: float) -> None:
    step = road_radius_step(radius_m)
    assert step in ROAD_RADIUS_STEPS_M
    assert step >= radius_m
    smaller = [s for s in ROAD_RADIUS_STEPS_M if s < step]
    assert not smaller or smaller[-1] < radius_m


def test_nearby_road_radii_share_one_cut(porto_roads: Path, world: World) -> None:
    """R17: 7.9, 7.8, 7.7 ... km were each a new cut (seconds of CPU, megabytes) and pushed
    the others out of the cache; now they are the 8 km cut, computed once."""
    use_network("porto-demo", data_dir=porto_roads)  # the app started without roads
    planner = world.token("planner")
    before = _road_lines.cache_info()
    answers = [
        world.client.get(f"/board/roads?radius_km={km}", headers=planner)
        for km in (7.9, 7.8, 7.7, 6.5, 8)
    ]
    assert all(a.status_code == 200 for a in answers)
    assert answers[0].json()["features"], "the Porto roads around the base"
    assert all(a.content == answers[0].content for a in answers)
    after = _road_lines.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 4


def test_urgent_call_by_hand_refuses_what_it_cannot_take(world: World) -> None:
    seed_night(world, visits=4)
    version = reoptimise(world)
    planner = world.token("planner")
    client_id = next(iter(world.seeded.clients.values()))[0]
    call = {"client_id": client_id, "urgency": "acute", "care_task": "fall"}
    # 21:00: the night has not begun.
    early = world.client.post(f"{BOARD}/urgent-calls/quote", json=call, headers=planner)
    assert early.status_code == 422
    assert "night is not under way" in early.json()["detail"]
    world.clock.set(0, 30)
    planner = world.token("planner")
    unknown = world.client.post(
        f"{BOARD}/urgent-calls/quote", json={**call, "client_id": 999999}, headers=planner
    )
    assert unknown.status_code == 404
    assert "client_id" in unknown.json()["detail"]
    options = world.client.post(f"{BOARD}/urgent-calls/quote", json=call, headers=planner)
    assert options.status_code == 200, options.text
    assert {o["nurse_id"] for o in options.json()["options"]} <= {"N1", "N2", "N3"}
    take = {**call, "nurse": "N2"}
    assert world.client.post(f"{BOARD}/urgent-calls", json=take, headers=planner).status_code == 428
    stale = world.client.post(
        f"{BOARD}/urgent-calls", json=take, headers={**planner, "If-Match": f'"{version - 1}"'}
    )
    assert stale.status_code == 409
    nobody = world.client.post(
        f"{BOARD}/urgent-calls",
        json={**take, "nurse": "N9"},
        headers={**planner, "If-Match": f'"{version}"'},
    )
    assert nobody.status_code == 422
    assert "N9" in nobody.json()["detail"]
    taken = world.client.post(
        f"{BOARD}/urgent-calls", json=take, headers={**planner, "If-Match": f'"{version}"'}
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["plan_version"] > version
    board = world.client.get(BOARD, headers=planner).json()
    new = next(v for v in board["visits"] if v["id"] == taken.json()["visit_id"])
    assert new["pinned_to"] == "N2"
    assert (new["planned"] or {}).get("nurse_id") == "N2" or new["unassigned"] is not None


def test_stream_says_the_version_and_ends(world: World) -> None:
    seed_night(world, visits=3)
    version = reoptimise(world)
    with world.client.stream(
        "GET", f"{BOARD}/stream?seconds=1", headers=world.token("planner")
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    assert text.startswith("retry: 3000\n\n")
    assert f'event: plan\ndata: {{"version": {version}, "replan_pending": false}}\n\n' in text
    assert (
        world.client.get(f"{BOARD}/stream?seconds=-1", headers=world.token("planner")).status_code
        == 422
    )
