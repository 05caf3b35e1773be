"""Points on the real Porto network, picked reproducibly for tests."""

from __future__ import annotations

import numpy as np

from geo.network import Network


def road_points(network: Network, count: int, *, seed: int = 7) -> list[tuple[float, float]]:
    """``count`` points a few metres off random junctions of the car graph."""
    graph = network.graph("car")
    rng = np.random.default_rng(seed)
    index = rng.choice(graph.node_count, count, replace=False)
    lat = graph.node_lat[index] + rng.normal(0.0, 1e-4, count)
    lon = graph.node_lon[index] + rng.normal(0.0, 1e-4, count)
    return list(zip(lat.tolist(), lon.tolist(), strict=True))


def one_way_chain(network: Network, *, min_metres: float = 150.0) -> int:
    """A long chain of the car graph that is open forward only."""
    graph = network.graph("car")
    candidates = np.flatnonzero(
        np.isfinite(graph.chain_forward_seconds)
        & ~np.isfinite(graph.chain_backward_seconds)
        & (graph.chain_metres > min_metres)
        & (graph.chain_u != graph.chain_v)
    )
    return int(candidates[0])


def point_on_chain(network: Network, chain: int, fraction: float) -> tuple[float, float]:
    """The (lat, lon) at ``fraction`` of the way along ``chain``."""
    from geo.snapping import chain_lines

    line = chain_lines(network, "car")[chain]
    point = line.interpolate(fraction, normalized=True)
    lat, lon = network.unproject(np.array([point.x]), np.array([point.y]))
    return float(lat[0]), float(lon[0])
