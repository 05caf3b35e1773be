"""Travel-time matrices on Porto (geo/matrix.py): invariants, incremental rows, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import one_way_chain, point_on_chain, road_points
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import add_location, travel_times
from geo.network import Network


@pytest.fixture(scope="module")
def points(porto: Network) -> list[tuple[float, float]]:
    """120 points spread over the Porto car network."""
    return road_points(porto, 120)


@pytest.fixture(scope="module")
def seconds(porto: Network, points: list[tuple[float, float]]) -> np.ndarray:
    """Their car matrix (not cached: the cache is tested apart)."""
    return travel_times(porto, points, cache=False).seconds


def test_one_way_street_is_slower_against_its_direction(porto: Network) -> None:
    """Along a one-way street it is a short drive; back means going round the block."""
    chain = one_way_chain(porto)
    a = point_on_chain(porto, chain, 0.25)
    b = point_on_chain(porto, chain, 0.75)
    m = travel_times(porto, [a, b], cache=False).seconds
    along = 0.5 * porto.graph("car").chain_forward_seconds[chain]
    assert m[0, 1] == pytest.approx(along, rel=0.02)
    assert m[1, 0] > m[0, 1] + 1.0


def test_diagonal_zero_rest_positive_and_finite(seconds: np.ndarray) -> None:
    """Staying costs nothing; every other trip takes time and is possible."""
    assert np.all(np.diag(seconds) == 0)
    off = seconds[~np.eye(len(seconds), dtype=bool)]
    assert np.all(np.isfinite(off))
    assert np.all(off > 0)


def _via_third(seconds: np.ndarray) -> np.ndarray:
    return (seconds[:, :, None] + seconds[None, :, :]).min(axis=1)


def test_triangle_inequality(seconds: np.ndarray) -> None:
    """No trip is slower than via a third point, within the hierarchy's millisecond rounding."""
    assert np.all(seconds <= _via_third(seconds) + 0.01)


def test_triangle_inequality_exact_with_dijkstra(
    porto: Network, points: list[tuple[float, float]]
) -> None:
    """With exact Dijkstra times the triangle inequality holds to float precision."""
    exact = travel_times(porto, points[:40], engine="dijkstra", cache=False).seconds
    assert np.all(exact <= _via_third(exact) + 1e-6)


def test_asymmetric_somewhere(seconds: np.ndarray) -> None:
    """One-way streets make some trips take longer one way than back."""
    assert np.abs(seconds - seconds.T).max() > 1.0


def test_contraction_hierarchy_matches_dijkstra(
    porto: Network, points: list[tuple[float, float]], seconds: np.ndarray
) -> None:
    """The hierarchy (whole milliseconds) agrees with exact Dijkstra within 0.1 s."""
    exact = travel_times(porto, points[:40], engine="dijkstra", cache=False).seconds
    np.testing.assert_allclose(seconds[:40, :40], exact, atol=0.1)


def test_incremental_row_and_column_equal_full(
    porto: Network, points: list[tuple[float, float]], seconds: np.ndarray
) -> None:
    """Adding one location computes the same row and column as the whole matrix would."""
    base = travel_times(porto, points[:-1], cache=False)
    grown = add_location(base, porto, points[-1], cache=False)
    np.testing.assert_array_equal(grown.seconds, seconds)


def test_matrix_is_cached_by_network_and_points(
    porto: Network, points: list[tuple[float, float]], data_dir: Path
) -> None:
    """The second request for the same points reads the cached file."""
    first = travel_times(porto, points[:30], data_dir_path=data_dir)
    files = list((data_dir / "matrices").glob("*.npz"))
    assert files
    again = travel_times(porto, points[:30], data_dir_path=data_dir)
    np.testing.assert_array_equal(first.seconds, again.seconds)
    other = travel_times(porto, points[1:31], data_dir_path=data_dir)
    assert len(list((data_dir / "matrices").glob("*.npz"))) == len(files) + 1
    assert other.seconds.shape == (30, 30)


def test_travel_matrix_for_the_optimizer(porto: Network, points: list[tuple[float, float]]) -> None:
    """The optimizer's TravelMatrix carries the seconds and says they are not estimates."""
    matrix = travel_times(porto, points[:5], cache=False).to_travel_matrix()
    assert matrix.profile == "car"
    assert not matrix.estimated
    assert len(matrix.seconds) == 5


def test_bike_matrix(porto: Network, points: list[tuple[float, float]]) -> None:
    """Bikes are slower than cars between the same far-apart points."""
    car = travel_times(porto, points[:10], cache=False).seconds
    bike = travel_times(porto, points[:10], profile="bike", cache=False).seconds
    assert np.median(bike[car > 600] / car[car > 600]) > 1.5


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=119), min_size=2, max_size=12, unique=True))
def test_any_subset_is_a_submatrix(
    porto: Network, points: list[tuple[float, float]], seconds: np.ndarray, picks: list[int]
) -> None:
    """A matrix of some of the points is the same entries of the big one, in their order."""
    sub = travel_times(porto, [points[i] for i in picks], cache=False).seconds
    np.testing.assert_array_equal(sub, seconds[np.ix_(picks, picks)])
