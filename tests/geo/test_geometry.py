"""Leg geometry and plan export (geo/geometry.py), plot (geo/plot.py), estimate fallback."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from helpers import road_points

from geo import estimated_matrix, leg_line, legs_geojson, plan_legs, travel_times, write_plan
from geo.network import Network, haversine_metres
from geo.plot import plot_plan
from optimizer.model import Location
from optimizer.plan import Plan, Route, SolverStats, Step, StepType, Summary


def _plan() -> Plan:
    """Two nurses: one drives 0 → 1 → 2 → 0, the other 3 → 4 → 3."""

    def route(nurse: str, stops: list[int]) -> Route:
        steps = [Step(type=StepType.START, location=stops[0], arrival=0, start=0, end=0)]
        for n, location in enumerate(stops[1:-1], start=1):
            steps.append(
                Step(
                    type=StepType.VISIT,
                    visit_id=f"v{location}",
                    location=location,
                    travel_seconds=300,
                    arrival=600 * n,
                    start=600 * n,
                    end=600 * n + 300,
                )
            )
        steps.append(
            Step(
                type=StepType.END,
                location=stops[-1],
                travel_seconds=300,
                arrival=3600,
                start=3600,
                end=3600,
            )
        )
        return Route(nurse_id=nurse, steps=steps, travel_seconds=900, visit_count=len(stops) - 2)

    routes = [route("anna", [0, 1, 2, 0]), route("bram", [3, 4, 3])]
    return Plan(
        routes=routes,
        unassigned=[],
        summary=Summary(
            travel_seconds=1800,
            visits_planned=3,
            visits_unassigned=0,
            visits_per_nurse={"anna": 2, "bram": 1},
            lateness_seconds_by_urgency={},
            late_visits_by_urgency={},
            travel_estimated=False,
        ),
        stats=SolverStats(method="test", seconds=0.0),
    )


@pytest.fixture(scope="module")
def locations(porto: Network) -> list[Location]:
    """Five points on Porto's roads."""
    return [Location(lat=lat, lon=lon) for lat, lon in road_points(porto, 5, seed=3)]


def test_leg_runs_from_origin_to_destination_along_roads(
    porto: Network, locations: list[Location]
) -> None:
    """A leg starts and ends at the snapped points and is at least as long as a beeline."""
    a, b = locations[0], locations[1]
    line = leg_line(porto, a, b)
    start, end = line.coords[0], line.coords[-1]
    assert haversine_metres(start[1], start[0], a.lat, a.lon) < 50
    assert haversine_metres(end[1], end[0], b.lat, b.lon) < 50
    xy = np.asarray(line.coords)
    road = haversine_metres(xy[:-1, 1], xy[:-1, 0], xy[1:, 1], xy[1:, 0]).sum()
    assert road >= haversine_metres(a.lat, a.lon, b.lat, b.lon) - 60


def test_leg_line_same_with_either_engine(porto: Network, locations: list[Location]) -> None:
    """The hierarchy's path and Dijkstra's path have the same length."""
    cch = leg_line(porto, locations[2], locations[3])
    exact = leg_line(porto, locations[2], locations[3], engine="dijkstra")
    assert cch.length == pytest.approx(exact.length, rel=1e-3)


def test_plan_geojson_has_one_line_per_leg(
    porto: Network, locations: list[Location], tmp_path: Path
) -> None:
    """The plan written as GeoJSON opens in geopandas with one line per leg, per nurse."""
    legs = plan_legs(_plan(), locations, network=porto)
    path = write_plan(legs, tmp_path / "night.geojson")
    read = gpd.read_file(path)
    assert len(read) == 5
    assert set(read.geom_type) == {"LineString"}
    assert read.groupby("nurse_id").size().to_dict() == {"anna": 3, "bram": 2}
    assert not read["estimated"].any()
    gpkg = gpd.read_file(write_plan(legs, tmp_path / "night.gpkg"), layer="legs")
    assert len(gpkg) == 5


def test_legs_as_geojson_dict(porto: Network, locations: list[Location]) -> None:
    """For an HTTP response: a FeatureCollection with a LineString per leg, lon/lat order."""
    collection = legs_geojson(plan_legs(_plan(), locations, network=porto))
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 5
    first = collection["features"][0]
    assert first["geometry"]["type"] == "LineString"
    lon, lat = first["geometry"]["coordinates"][0]
    assert -9 < lon < -8
    assert 41 < lat < 42
    assert first["properties"]["nurse_id"] == "anna"


def test_plan_without_network_is_straight_and_flagged(locations: list[Location]) -> None:
    """With no network a leg is a straight line, flagged as an estimate."""
    legs = plan_legs(_plan(), locations)
    assert legs["estimated"].all()
    assert all(len(line.coords) == 2 for line in legs.geometry)


def test_plan_with_missing_coordinates_names_the_leg(locations: list[Location]) -> None:
    """A step whose location has no coordinates is named."""
    with pytest.raises(ValueError, match="anna: leg 0 to location 1"):
        plan_legs(_plan(), locations[:1])


def test_plot_draws_a_png(porto: Network, locations: list[Location], tmp_path: Path) -> None:
    """The night's map is written as a PNG image."""
    legs = plan_legs(_plan(), locations, network=porto)
    out = plot_plan(legs, tmp_path / "night.png", network=porto, urgencies={"v1": "acute"})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_estimate_is_flagged_and_plausible(porto: Network, locations: list[Location]) -> None:
    """The haversine fallback is flagged and within a factor two of road times."""
    estimate = estimated_matrix(locations)
    assert estimate.estimated
    road = travel_times(porto, locations, cache=False).seconds
    guess = np.asarray(estimate.seconds)
    off = ~np.eye(len(locations), dtype=bool)
    assert np.all(np.diag(guess) == 0)
    ratio = guess[off] / road[off]
    assert 0.3 < np.median(ratio) < 3.0


def test_travel_matrix_falls_back_to_a_flagged_estimate(
    porto: Network, locations: list[Location]
) -> None:
    """Without a network the optimizer still gets a matrix, marked as an estimate."""
    from geo import travel_matrix

    assert travel_matrix(locations, network=None).estimated
    road = travel_matrix(locations, network=porto)
    assert not road.estimated
    assert road.profile == "car"
