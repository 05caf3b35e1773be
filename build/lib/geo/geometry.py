"""Route geometry: the road path of each leg as a line, and a plan as GeoJSON or GeoPackage.

Lines are WGS84 ``(lon, lat)``, the order GeoJSON and the phone's navigation expect.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.ops import substring

from geo import _engines
from geo._access import access_ends, along_same_chain
from geo.matrix import PointLike, point_arrays
from geo.network import Network
from geo.snapping import Snapped, chain_lines, snap_points
from optimizer.model import Location
from optimizer.plan import Plan

__all__ = ["leg_line", "legs_geojson", "plan_legs", "write_plan"]

_WGS84 = "EPSG:4326"


def leg_line(
    network: Network,
    origin: PointLike,
    destination: PointLike,
    *,
    profile: str = "car",
    engine: str = "cch",
) -> LineString:
    """Return the fastest road path from ``origin`` to ``destination`` as a lon/lat line."""
    lat, lon = point_arrays([origin, destination])
    snapped = snap_points(network, lat, lon, profile=profile)
    coords = _leg_xy(network, profile, engine, snapped.take([0]), snapped.take([1]))
    lat_out, lon_out = network.unproject(coords[:, 0], coords[:, 1])
    return LineString(np.column_stack([lon_out, lat_out]))


def _leg_xy(
    network: Network, profile: str, engine: str, start: Snapped, end: Snapped
) -> np.ndarray:
    """Projected coordinates of the fastest path between two snapped points."""
    graph = network.graph(profile)
    lines = chain_lines(network, profile)
    out_node, out_cost, _, _ = access_ends(network, profile, start)
    _, _, in_node, in_cost = access_ends(network, profile, end)
    router = _engines.router(graph, engine)
    middle = router.distances(out_node[0], in_node[0])
    totals = out_cost[0][:, None] + middle + in_cost[0][None, :]
    direct = np.array([[np.inf]])
    along_same_chain(graph, start, end, direct)
    start_chain, end_chain = int(start.chain[0]), int(end.chain[0])
    t0, t1 = float(start.fraction[0]), float(end.fraction[0])
    if direct[0, 0] <= totals.min():
        return _piece(lines[start_chain], t0, t1)
    a, b = np.unravel_index(int(np.argmin(totals)), totals.shape)
    parts = [_piece(lines[start_chain], t0, 1.0 if a == 0 else 0.0)]
    nodes = router.path(int(out_node[0, a]), int(in_node[0, b]))
    tail, head, _, chain = graph.edge_chains
    key = tail * graph.node_count + head
    for x, y in itertools.pairwise(nodes):
        at = int(np.searchsorted(key, x * graph.node_count + y))
        c = int(chain[at])
        coords = shapely.get_coordinates(lines[c if c >= 0 else ~c])
        parts.append(coords if c >= 0 else coords[::-1])
    parts.append(_piece(lines[end_chain], 0.0 if b == 0 else 1.0, t1))
    joined = np.vstack(parts)
    keep = np.r_[True, np.any(joined[1:] != joined[:-1], axis=1)]
    joined = joined[keep]
    return joined if len(joined) >= 2 else np.vstack([joined, joined])


def _piece(line: Any, start: float, end: float) -> np.ndarray:
    """Coordinates of ``line`` from fraction ``start`` to ``end`` (reversed if end < start)."""
    if start == end:
        point = shapely.get_coordinates(line.interpolate(start, normalized=True))
        return np.vstack([point, point])
    return np.asarray(shapely.get_coordinates(substring(line, start, end, normalized=True)))


def plan_legs(
    plan: Plan,
    locations: Sequence[Location],
    *,
    network: Network | None = None,
    profiles: Mapping[str, str] | None = None,
    engine: str = "cch",
) -> gpd.GeoDataFrame:
    """Return one row per leg of every route: nurse, step, seconds, and the road line.

    Without a network the lines are straight and flagged ``estimated``. ``profiles`` maps a
    nurse id to her profile (default ``car``).
    """
    rows: list[dict[str, Any]] = []
    for route in plan.routes:
        profile = (profiles or {}).get(route.nurse_id, "car")
        for number, (before, step) in enumerate(
            zip(route.steps[:-1], route.steps[1:], strict=True)
        ):
            for field, index in (("from", before.location), ("to", step.location)):
                if index >= len(locations):
                    raise ValueError(
                        f"route of {route.nurse_id}: leg {number} {field} location {index} "
                        f"has no coordinates ({len(locations)} locations given)"
                    )
            origin, destination = locations[before.location], locations[step.location]
            if network is None:
                line = LineString([(origin.lon, origin.lat), (destination.lon, destination.lat)])
            else:
                line = leg_line(network, origin, destination, profile=profile, engine=engine)
            rows.append(
                {
                    "nurse_id": route.nurse_id,
                    "leg": number,
                    "from_location": before.location,
                    "to_location": step.location,
                    "to_step": step.type.value,
                    "visit_id": step.visit_id,
                    "travel_seconds": step.travel_seconds,
                    "profile": profile,
                    "estimated": network is None,
                    "geometry": line,
                }
            )
    columns = [
        "nurse_id",
        "leg",
        "from_location",
        "to_location",
        "to_step",
        "visit_id",
        "travel_seconds",
        "profile",
        "estimated",
        "geometry",
    ]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=_WGS84)


def legs_geojson(legs: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return legs as a GeoJSON FeatureCollection (a dict), e.g. for an HTTP response."""
    collection: dict[str, Any] = json.loads(legs.to_json(drop_id=True))
    return collection


def write_plan(legs: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write legs as GeoJSON (``.geojson``/``.json``) or GeoPackage (``.gpkg``)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix in (".geojson", ".json"):
        legs.to_file(target, driver="GeoJSON")
    elif suffix == ".gpkg":
        legs.to_file(target, driver="GPKG", layer="legs")
    else:
        raise ValueError(f"{target}: write .geojson or .gpkg")
    return target
