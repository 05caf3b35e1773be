"""Road geometry of a leg for screens: the planner's board and the phones draw the same line.

Lines are ``[(lon, lat), ...]`` WGS84. With the service's road network loaded
(`api.travel.use_network`) a leg follows the roads (`geo.geometry.leg_line`); without one, or
for a point the network cannot route, it is the straight line, and ``along_roads`` says so.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import geo
from api.travel import road_network

__all__ = ["leg_points"]

logger = logging.getLogger(__name__)

#: Coordinates kept to 1e-5 degrees (about a metre): the cache key and the encoded polyline's
#: own precision.
_DIGITS = 5


def leg_points(
    origin: tuple[float, float], destination: tuple[float, float], *, profile: str = "car"
) -> tuple[list[tuple[float, float]], bool]:
    """The drive from ``origin`` to ``destination`` (both ``(lon, lat)``) as points, and
    whether it follows the roads. Same two points: ``[]``."""
    a = (round(origin[0], _DIGITS), round(origin[1], _DIGITS))
    b = (round(destination[0], _DIGITS), round(destination[1], _DIGITS))
    if a == b:
        return [], False
    network = road_network().network
    if network is None:
        return [a, b], False
    points, along = _road_leg(id(network), a, b, profile)
    return list(points), along


@lru_cache(maxsize=8192)
def _road_leg(
    network_key: int, a: tuple[float, float], b: tuple[float, float], profile: str
) -> tuple[tuple[tuple[float, float], ...], bool]:
    # ``network_key`` ties the cache to the network loaded at start-up (one per process).
    network = road_network().network
    if network is None or id(network) != network_key:
        return (a, b), False
    try:
        line = geo.leg_line(network, (a[1], a[0]), (b[1], b[0]), profile=profile)
    except (geo.GeoError, KeyError, ValueError, IndexError) as error:
        # Off the map or an unknown profile: the straight line, flagged (no coordinates logged).
        logger.warning("leg geometry unavailable (%s); straight line", type(error).__name__)
        return (a, b), False
    points = tuple((round(x, _DIGITS), round(y, _DIGITS)) for x, y in line.coords)
    return points, True
