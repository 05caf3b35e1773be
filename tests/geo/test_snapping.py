"""Snapping points to the nearest road edge (geo/snapping.py) on Porto."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import one_way_chain, point_on_chain, road_points
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import TooFarFromRoadError, snap_points
from geo.network import Network, haversine_metres


def test_snaps_to_the_edge_not_the_junction(porto: Network) -> None:
    """A point in the middle of a long road lands mid-chain, metres from where it was."""
    chain = one_way_chain(porto)
    lat, lon = point_on_chain(porto, chain, 0.5)
    snapped = snap_points(porto, [lat], [lon])
    assert snapped.chain[0] == chain
    assert snapped.fraction[0] == pytest.approx(0.5, abs=0.01)
    assert snapped.distance_m[0] < 1.0


def test_thousand_points_snap_to_their_roads(porto: Network) -> None:
    """1000 points snap at once (the speed target is in bench/geo_bench.py)."""
    points = road_points(porto, 1000)
    lat, lon = np.array(points).T
    snap_points(porto, lat[:1], lon[:1])  # builds the index
    snapped = snap_points(porto, lat, lon)
    assert len(snapped) == 1000
    moved = haversine_metres(lat, lon, snapped.lat, snapped.lon)
    np.testing.assert_allclose(moved, snapped.distance_m, rtol=0.01, atol=0.5)


def test_point_in_the_sea_is_refused_by_name(porto: Network) -> None:
    """A point in the Atlantic off Porto is refused, naming the point and its distance."""
    with pytest.raises(TooFarFromRoadError, match=r"client 7 \(41\.150000, -8\.750000\) is \d+ m"):
        snap_points(porto, [41.15], [-8.75], labels=["client 7"])


def test_point_two_km_from_any_road_is_refused(porto: Network) -> None:
    """Two kilometres west of the westernmost junction is far beyond the 500 m limit."""
    graph = porto.graph("car")
    west = int(np.argmin(graph.node_lon))
    lat = float(graph.node_lat[west])
    lon = float(graph.node_lon[west]) - 2000 / (111_320 * np.cos(np.radians(lat)))
    with pytest.raises(TooFarFromRoadError, match="point 0") as caught:
        snap_points(porto, [lat], [lon])
    assert "farther than 500 m" in str(caught.value)


@pytest.fixture(scope="module")
def junctions_xy(porto: Network) -> tuple[np.ndarray, np.ndarray]:
    """The car graph's junctions in projected metres."""
    graph = porto.graph("car")
    return porto.project(graph.node_lat, graph.node_lon)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=41.140, max_value=41.170),
    st.floats(min_value=-8.630, max_value=-8.580),
)
def test_edge_snap_is_never_farther_than_the_nearest_junction(
    porto: Network, junctions_xy: tuple[np.ndarray, np.ndarray], lat: float, lon: float
) -> None:
    """Snapping to edges is at least as close as snapping to junctions (central Porto)."""
    snapped = snap_points(porto, [lat], [lon])
    x, y = porto.project(np.array([lat]), np.array([lon]))
    nearest_node = float(np.hypot(junctions_xy[0] - x[0], junctions_xy[1] - y[0]).min())
    assert snapped.distance_m[0] <= nearest_node + 1e-6
    assert 0.0 <= snapped.fraction[0] <= 1.0
