"""Snapping points to the nearest road edge, measured in metres in the local UTM zone.

A point lands on the nearest piece of road (a chain of the profile's graph), at a fraction
of the way from the chain's first junction to its last, not merely at the nearest junction:
a client half-way along a long country road is half-way along it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from geo._errors import TooFarFromRoadError
from geo.network import Network

__all__ = ["MAX_SNAP_METRES", "Snapped", "chain_lines", "snap_points"]

#: A point farther than this from every road is refused: a typo, or a boat.
MAX_SNAP_METRES = 500.0


@dataclass(frozen=True, eq=False)
class Snapped:
    """Where each point met the road: chain, fraction along it (0 at ``chain_u``), metres off."""

    chain: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return int(self.chain.shape[0])

    def take(self, index: np.ndarray | Sequence[int]) -> Snapped:
        """Return the snaps of the points at ``index``."""
        idx = np.asarray(index, dtype=np.int64)
        return Snapped(
            self.chain[idx], self.fraction[idx], self.distance_m[idx], self.lat[idx], self.lon[idx]
        )

    @staticmethod
    def concat(parts: Sequence[Snapped]) -> Snapped:
        """Return the snaps of ``parts`` one after the other."""
        return Snapped(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("chain", "fraction", "distance_m", "lat", "lon")
            )
        )


def chain_lines(network: Network, profile: str) -> np.ndarray:
    """Return the profile's chains as shapely LineStrings in projected metres (cached)."""
    graph = network.graph(profile)
    key = "chain_lines"
    if key not in graph.cache:
        x, y = network.vertex_xy
        counts = graph.chain_last - graph.chain_first + 1
        owner = np.repeat(np.arange(len(counts)), counts)
        starts = np.repeat(graph.chain_first - np.r_[0, np.cumsum(counts)[:-1]], counts)
        vertex = starts + np.arange(int(counts.sum()))
        coords = np.column_stack([x[vertex], y[vertex]])
        graph.cache[key] = shapely.linestrings(coords, indices=owner)
    lines: np.ndarray = graph.cache[key]
    return lines


def _tree(network: Network, profile: str) -> shapely.STRtree:
    graph = network.graph(profile)
    if "strtree" not in graph.cache:
        graph.cache["strtree"] = shapely.STRtree(chain_lines(network, profile))
    tree: shapely.STRtree = graph.cache["strtree"]
    return tree


def snap_points(
    network: Network,
    lat: Sequence[float] | np.ndarray,
    lon: Sequence[float] | np.ndarray,
    *,
    profile: str = "car",
    max_distance_m: float = MAX_SNAP_METRES,
    labels: Sequence[str] | None = None,
) -> Snapped:
    """Return where each point meets the nearest road edge of ``profile``.

    Raises TooFarFromRoadError naming every point farther than ``max_distance_m`` (by its
    label, or its index, and its coordinates).
    """
    lat_a = np.asarray(lat, dtype=np.float64).reshape(-1)
    lon_a = np.asarray(lon, dtype=np.float64).reshape(-1)
    if lat_a.shape != lon_a.shape:
        raise ValueError(f"{len(lat_a)} latitudes but {len(lon_a)} longitudes")
    graph = network.graph(profile)
    if len(lat_a) == 0:
        empty = np.zeros(0)
        return Snapped(np.zeros(0, dtype=np.int64), empty, empty, empty, empty)
    if len(graph.chain_u) == 0:
        raise TooFarFromRoadError(
            f"network {network.name!r} has no {profile} roads to snap {len(lat_a)} point(s) to"
        )
    x, y = network.project(lat_a, lon_a)
    points = shapely.points(x, y)
    lines = chain_lines(network, profile)
    (point_idx, chain_idx), distance = _tree(network, profile).query_nearest(
        points, return_distance=True, all_matches=False
    )
    order = np.argsort(point_idx, kind="stable")
    chain = chain_idx[order].astype(np.int64)
    distance = distance[order]
    too_far = np.flatnonzero(distance > max_distance_m)
    if len(too_far):
        names = [
            f"{labels[i] if labels is not None else f'point {i}'} "
            f"({lat_a[i]:.6f}, {lon_a[i]:.6f}) is {distance[i]:.0f} m away"
            for i in too_far[:5]
        ]
        more = f" and {len(too_far) - 5} more" if len(too_far) > 5 else ""
        raise TooFarFromRoadError(
            f"{len(too_far)} point(s) farther than {max_distance_m:.0f} m from any {profile} "
            f"road of network {network.name!r}: {'; '.join(names)}{more}"
        )
    chosen = lines[chain]
    along = shapely.line_locate_point(chosen, points)
    length = shapely.length(chosen)
    fraction = np.divide(along, length, out=np.zeros_like(along), where=length > 0)
    on_road = shapely.line_interpolate_point(chosen, along)
    snap_lat, snap_lon = network.unproject(shapely.get_x(on_road), shapely.get_y(on_road))
    return Snapped(chain, np.clip(fraction, 0.0, 1.0), distance, snap_lat, snap_lon)
