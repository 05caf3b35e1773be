"""The fallback when no network is imported: straight-line distance times a detour factor.

Every matrix made here is flagged ``estimated=True``, so the plan and the planner's screen
can say that its times are guesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from geo.matrix import PointLike, point_arrays
from geo.network import haversine_metres
from optimizer.model import TravelMatrix
from optimizer.travel import DETOUR_FACTOR, NIGHT_SPEED_KMH

__all__ = ["DETOUR_FACTOR", "ESTIMATE_SPEEDS_KMH", "estimated_matrix", "estimated_seconds"]

# One source for the estimate's assumptions: the optimizer uses them when it has no matrix.
ESTIMATE_SPEEDS_KMH: Mapping[str, float] = NIGHT_SPEED_KMH


def estimated_seconds(points: Sequence[PointLike], *, profile: str = "car") -> np.ndarray:
    """Return haversine x ``DETOUR_FACTOR`` / the profile's speed, in seconds, as an array."""
    if profile not in ESTIMATE_SPEEDS_KMH:
        raise ValueError(
            f"unknown profile {profile!r} (known: {', '.join(sorted(ESTIMATE_SPEEDS_KMH))})"
        )
    lat, lon = point_arrays(points)
    metres = haversine_metres(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    return np.asarray(metres * DETOUR_FACTOR / (ESTIMATE_SPEEDS_KMH[profile] / 3.6))


def estimated_matrix(points: Sequence[PointLike], *, profile: str = "car") -> TravelMatrix:
    """Return the optimizer's TravelMatrix of estimated seconds, flagged ``estimated``."""
    seconds = estimated_seconds(points, profile=profile)
    return TravelMatrix(profile=profile, seconds=seconds.tolist(), estimated=True)
