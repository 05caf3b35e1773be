"""Importing and loading road networks (geo/network.py) on the real Porto and Delft extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from geo import ExtractError, NetworkNotFoundError, TooFarFromRoadError, snap_points
from geo.network import Network, import_network, load_network, network_names

DATA = Path(__file__).parent / "data"


def test_porto_has_a_city_sized_network(porto: Network) -> None:
    """Porto's car graph has tens of thousands of junctions, bike's more (paths, cycleways)."""
    car, bike = porto.graph("car"), porto.graph("bike")
    assert 40_000 < car.node_count < 80_000
    assert bike.node_count > car.node_count
    assert porto.meta["utm_epsg"] == 32629


@pytest.mark.parametrize("profile", ["car", "bike"])
def test_graph_is_one_strongly_connected_component(porto: Network, profile: str) -> None:
    """Every junction reaches every other: only the largest strongly connected part is kept."""
    count, _ = connected_components(porto.graph(profile).matrix, directed=True, connection="strong")
    assert count == 1


def test_parallel_edges_keep_the_fastest(porto: Network) -> None:
    """Between two junctions only one directed edge remains, the fastest chain's."""
    graph = porto.graph("car")
    tail, head, seconds = graph.edges
    keys = tail * graph.node_count + head
    assert len(np.unique(keys)) == len(keys)
    both = np.concatenate([graph.chain_forward_seconds, graph.chain_backward_seconds])
    u = np.concatenate([graph.chain_u, graph.chain_v]).astype(np.int64)
    v = np.concatenate([graph.chain_v, graph.chain_u]).astype(np.int64)
    open_ = np.isfinite(both) & (u != v)
    fastest: dict[int, float] = {}
    for key, value in zip(u[open_] * graph.node_count + v[open_], both[open_], strict=True):
        fastest[int(key)] = min(value, fastest.get(int(key), np.inf))
    assert all(fastest[int(k)] == s for k, s in zip(keys, seconds, strict=True))


def test_cached_network_loads_fast_and_equal(porto: Network, data_dir: Path) -> None:
    """Loading the cached network gives the same graph (its speed is in bench/geo_bench.py)."""
    loaded = load_network("porto", data_dir_path=data_dir)
    assert loaded.version == porto.version
    np.testing.assert_array_equal(loaded.graph("car").chain_u, porto.graph("car").chain_u)
    assert "porto" in network_names(data_dir_path=data_dir)


def test_unknown_network_is_named(data_dir: Path) -> None:
    """Loading a network never imported names it and says how to import one."""
    with pytest.raises(NetworkNotFoundError, match=r"'nowhere'.*geo import"):
        load_network("nowhere", data_dir_path=data_dir)


def test_delft_pbf_imports_with_dutch_coordinates(tmp_path: Path) -> None:
    """The tiny Delft extract imports; its junctions lie in Delft, in UTM zone 31."""
    network = import_network(
        DATA / "delft_station_nl.osm.pbf", name="delft", data_dir_path=tmp_path
    )
    bike = network.graph("bike")
    assert bike.node_count > 5
    assert bike.node_lat.min() > 52.0
    assert bike.node_lat.max() < 52.01
    assert network.meta["utm_epsg"] == 32631
    # Its few car streets are one-way pieces cut at the extract's edge: no loop survives,
    # and snapping says so instead of failing obscurely.
    with pytest.raises(TooFarFromRoadError, match="no car roads"):
        snap_points(network, [52.0060], [4.3570], profile="car")


def test_not_an_extract_is_refused(tmp_path: Path) -> None:
    """A file that is not OSM data is refused with its name, not a traceback from libosmium."""
    bogus = tmp_path / "roads.osm.pbf"
    bogus.write_bytes(b"not a pbf at all")
    with pytest.raises(ExtractError, match=r"roads\.osm\.pbf"):
        import_network(bogus, name="bogus", data_dir_path=tmp_path)


def test_bad_network_name_is_refused(tmp_path: Path) -> None:
    """A name that is not a plain file name is refused before anything is read."""
    with pytest.raises(ValueError, match="network name"):
        import_network(DATA / "delft_station_nl.osm.pbf", name="../x", data_dir_path=tmp_path)


def test_bzip2_xml_imports(tmp_path: Path) -> None:
    """A .osm.bz2 extract imports like the plain XML it holds."""
    import bz2

    packed = tmp_path / "testdorp.osm.bz2"
    packed.write_bytes(bz2.compress((DATA / "fictional_addresses.osm").read_bytes()))
    network = import_network(packed, name="testdorp-bz2", data_dir_path=tmp_path)
    assert network.graph("car").node_count == 5
    assert len(network.addresses) == 5
