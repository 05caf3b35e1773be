"""Travel times without a road network: straight-line distance x detour factor at night speeds.

Used until (or where) `geo/` has imported a network; every matrix made here is marked
``estimated`` so the planner and the phones can say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optimizer.model import Location, TravelMatrix

__all__ = ["DETOUR_FACTOR", "NIGHT_SPEED_KMH", "estimated_matrix", "haversine_metres"]

#: Road distance over straight-line distance; about 1.3 in Dutch towns and countryside.
DETOUR_FACTOR = 1.3
#: Door-to-door average speeds at night, when roads are empty but towns keep their limits.
NIGHT_SPEED_KMH = {"car": 45.0, "bike": 16.0}
_EARTH_RADIUS_M = 6_371_008.8


def haversine_metres(a: Location, b: Location) -> float:
    """Great-circle distance between two points in metres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


def estimated_matrix(
    locations: Sequence[Location],
    *,
    profile: str = "car",
    detour: float = DETOUR_FACTOR,
    speed_kmh: float | None = None,
) -> TravelMatrix:
    """Travel seconds between all ``locations``, estimated, as a `TravelMatrix`."""
    speed = speed_kmh if speed_kmh is not None else NIGHT_SPEED_KMH.get(profile)
    if speed is None or speed <= 0:
        raise ValueError(f"profile: no night speed known for {profile!r}; pass speed_kmh")
    lat = np.radians(np.array([p.lat for p in locations], dtype=np.float64))
    lon = np.radians(np.array([p.lon for p in locations], dtype=np.float64))
    dphi = lat[None, :] - lat[:, None]
    dlmb = lon[None, :] - lon[:, None]
    h = np.sin(dphi / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlmb / 2) ** 2
    metres = 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    seconds = np.round(metres * detour / (speed / 3.6))
    seconds_list: list[list[float]] = seconds.tolist()
    return TravelMatrix(profile=profile, seconds=seconds_list, estimated=True)
