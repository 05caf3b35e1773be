"""Travel-time matrices in seconds between points (asymmetric: row = from, column = to).

Each point is snapped onto a road chain. Leaving it, the nurse drives to the chain's far
junction (or, on a two-way road, back to its near one); arriving, she drives in from one of
them. So a matrix entry is the best of four junction-to-junction times plus the partial
chains, and two points on the same chain may also drive straight from one to the other.
The walk from road to door is part of the visit, not of the drive.

Matrices are cached under ``<data dir>/matrices/`` keyed by the network version, profile,
engine and the exact points; adding one location (an alarm call tonight) computes only its
row and column (:func:`add_location`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo import _engines
from geo._access import access_ends, along_same_chain
from geo.network import Network, data_dir
from geo.snapping import Snapped, snap_points
from optimizer.model import Location, TravelMatrix

__all__ = ["TravelTimes", "add_location", "point_arrays", "prepare_routing", "travel_times"]

PointLike = Location | tuple[float, float]


@dataclass(frozen=True, eq=False)
class TravelTimes:
    """A matrix of travel seconds with the points and road snaps it was computed for."""

    network_name: str
    network_version: str
    profile: str
    engine: str
    lat: np.ndarray
    lon: np.ndarray
    snapped: Snapped
    seconds: np.ndarray

    def __len__(self) -> int:
        return int(self.seconds.shape[0])

    def to_travel_matrix(self) -> TravelMatrix:
        """Return the optimizer's TravelMatrix (road travel, not an estimate)."""
        return TravelMatrix(profile=self.profile, seconds=self.seconds.tolist(), estimated=False)


def point_arrays(points: Sequence[PointLike]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lat, lon)`` arrays of Locations or ``(lat, lon)`` pairs."""
    lat = np.empty(len(points))
    lon = np.empty(len(points))
    for i, point in enumerate(points):
        if isinstance(point, Location):
            lat[i], lon[i] = point.lat, point.lon
        else:
            lat[i], lon[i] = point
    return lat, lon


def prepare_routing(
    network: Network, *, profiles: Sequence[str] = ("car", "bike"), engine: str = "cch"
) -> None:
    """Load each profile's routing index, building and storing it the first time (~4 s).

    A service calls this once at start-up, so no request pays for it.
    """
    _engines.prepare([network.graph(profile) for profile in profiles], engine=engine)


def travel_times(
    network: Network,
    points: Sequence[PointLike],
    *,
    profile: str = "car",
    engine: str = "cch",
    cache: bool = True,
    data_dir_path: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | None = None,
) -> TravelTimes:
    """Return the travel seconds between every pair of ``points`` on ``network``.

    ``labels`` name the points in errors (a point too far from any road), e.g. file lines.
    """
    lat, lon = point_arrays(points)
    path = _cache_path(network, profile, engine, lat, lon, data_dir_path) if cache else None
    if path is not None and path.is_file():
        with np.load(path) as npz:
            snapped = Snapped(*(npz[f] for f in ("chain", "fraction", "distance_m", "lat", "lon")))
            seconds = npz["seconds"]
        return TravelTimes(
            network.name, network.version, profile, engine, lat, lon, snapped, seconds
        )
    snapped = snap_points(network, lat, lon, profile=profile, labels=labels)
    seconds = _block(network, profile, engine, snapped, snapped)
    np.fill_diagonal(seconds, 0.0)
    times = TravelTimes(network.name, network.version, profile, engine, lat, lon, snapped, seconds)
    if path is not None:
        _store(path, times)
    return times


def add_location(
    times: TravelTimes,
    network: Network,
    point: PointLike,
    *,
    cache: bool = True,
    data_dir_path: str | os.PathLike[str] | None = None,
) -> TravelTimes:
    """Return ``times`` with ``point`` appended: one new row and column, nothing recomputed."""
    if network.version != times.network_version:
        raise ValueError(
            f"matrix was computed on network version {times.network_version}, "
            f"not {network.version}; compute it again with travel_times()"
        )
    lat, lon = point_arrays([point])
    new = snap_points(network, lat, lon, profile=times.profile)
    everyone = Snapped.concat([times.snapped, new])
    row = _block(network, times.profile, times.engine, new, everyone)[0]
    column = _block(network, times.profile, times.engine, times.snapped, new)[:, 0]
    n = len(times)
    seconds = np.empty((n + 1, n + 1))
    seconds[:n, :n] = times.seconds
    seconds[n, :] = row
    seconds[:n, n] = column
    seconds[n, n] = 0.0
    result = TravelTimes(
        times.network_name,
        times.network_version,
        times.profile,
        times.engine,
        np.r_[times.lat, lat],
        np.r_[times.lon, lon],
        everyone,
        seconds,
    )
    if cache:
        _store(
            _cache_path(
                network, times.profile, times.engine, result.lat, result.lon, data_dir_path
            ),
            result,
        )
    return result


def _block(
    network: Network, profile: str, engine: str, rows: Snapped, columns: Snapped
) -> np.ndarray:
    """Seconds from each point of ``rows`` to each point of ``columns``."""
    out_node, out_cost, _, _ = access_ends(network, profile, rows)
    _, _, in_node, in_cost = access_ends(network, profile, columns)
    sources = np.unique(out_node[np.isfinite(out_cost)])
    targets = np.unique(in_node[np.isfinite(in_cost)])
    junction = _engines.router(network.graph(profile), engine).distances(sources, targets)
    source_at = np.searchsorted(sources, out_node).clip(0, max(len(sources) - 1, 0))
    target_at = np.searchsorted(targets, in_node).clip(0, max(len(targets) - 1, 0))
    result = np.full((len(rows), len(columns)), np.inf)
    for a in range(2):
        for b in range(2):
            middle = junction[np.ix_(source_at[:, a], target_at[:, b])]
            np.minimum(result, out_cost[:, a, None] + middle + in_cost[None, :, b], out=result)
    along_same_chain(network.graph(profile), rows, columns, result)
    return result


def _cache_path(
    network: Network,
    profile: str,
    engine: str,
    lat: np.ndarray,
    lon: np.ndarray,
    data_dir_path: str | os.PathLike[str] | None,
) -> Path:
    digest = hashlib.sha256(f"{network.version}|{profile}|{engine}|".encode())
    # Rounded to 1e-7 degrees (1 cm), so one point read twice gives the same key.
    digest.update(np.round(np.column_stack([lat, lon]) * 1e7).astype(np.int64).tobytes())
    return data_dir(override=data_dir_path) / "matrices" / f"{digest.hexdigest()[:32]}.npz"


def _store(path: Path, times: TravelTimes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    s = times.snapped
    np.savez(
        tmp,
        seconds=times.seconds,
        chain=s.chain,
        fraction=s.fraction,
        distance_m=s.distance_m,
        lat=s.lat,
        lon=s.lon,
    )
    tmp.replace(path)
