"""The service's travel matrices (api/travel.py): road times, and what a point off the roads does.

Red team s25, finding S25-01: a partner may register a client anywhere within the region's
radius (60 km by default), also more than 500 m from every road of the imported extract (a
farm, the far side of a river, a town the extract does not cover). Every night matrix holding
that client then fell back to straight-line estimates for *all* points, so one client turned
every nurse's ETAs, routes and the triage answers of the night into guesses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.travel import RoadNetwork
from geo.network import Network, load_network
from optimizer.model import Location
from tests.conftest import copy_roads

#: On Porto's roads (the demo's base and two clients' streets).
ON_ROAD = [
    Location(lat=41.1579, lon=-8.6291),
    Location(lat=41.168765, lon=-8.611912),
    Location(lat=41.180768, lon=-8.586819),
]
#: Inside the demo region's 60 km but outside the bundled extract: no road within 500 m.
OFF_ROAD = Location(lat=41.5, lon=-8.5)


@pytest.fixture(scope="module")
def porto(tmp_path_factory: pytest.TempPathFactory, porto_demo_roads: Path) -> Network:
    folder = copy_roads(porto_demo_roads, tmp_path_factory.mktemp("porto-travel"))
    import geo

    network = load_network("porto-demo", data_dir_path=folder)
    geo.prepare_routing(network)
    return network


def test_on_road_points_get_road_times(porto: Network) -> None:
    (matrix,) = RoadNetwork(porto).matrices(ON_ROAD)
    assert not matrix.estimated


def test_a_point_off_the_roads_leaves_the_others_on_road_times(porto: Network) -> None:
    """S25-01: only the rows and columns of the point off the roads are estimated; between
    the others the road times stand (and the matrix still says it holds estimates)."""
    roads = RoadNetwork(porto)
    (alone,) = roads.matrices(ON_ROAD)
    (mixed,) = roads.matrices([*ON_ROAD, OFF_ROAD])
    assert mixed.estimated  # the plan must still say some travel is a guess
    n = len(ON_ROAD)
    for i in range(n):
        for j in range(n):
            assert mixed.seconds[i][j] == pytest.approx(alone.seconds[i][j]), (i, j)
    far = [mixed.seconds[i][n] for i in range(n)] + [mixed.seconds[n][j] for j in range(n)]
    assert all(s > 0 for s in far)
    assert mixed.seconds[n][n] == 0
