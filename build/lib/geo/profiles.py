"""Travel profiles: which OSM ways a car or a bike may use, in which direction, how fast.

The speeds are night-time speeds: roads are empty, so a nurse drives close to the limit, but
junctions, bends and parking keep the average below it. Where a way carries ``maxspeed`` we
use ``MAXSPEED_FACTOR`` times that limit (capped at the table's motorway speed); otherwise
the table. The tables are documented in ``docs/geo.md``; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "BIKE_SPEEDS_KMH",
    "CAR_SPEEDS_KMH",
    "MAXSPEED_FACTOR",
    "PROFILES",
    "WayRule",
    "parse_maxspeed",
    "way_rule",
]

PROFILES: tuple[str, ...] = ("car", "bike")

#: Night-time car speeds (km/h) per ``highway`` value, used when ``maxspeed`` is not tagged.
CAR_SPEEDS_KMH: Mapping[str, float] = {
    "motorway": 110.0,
    "motorway_link": 60.0,
    "trunk": 90.0,
    "trunk_link": 50.0,
    "primary": 65.0,
    "primary_link": 45.0,
    "secondary": 55.0,
    "secondary_link": 40.0,
    "tertiary": 45.0,
    "tertiary_link": 35.0,
    "unclassified": 40.0,
    "road": 30.0,
    "residential": 30.0,
    "living_street": 15.0,
    "service": 15.0,
}

#: Bike speeds (km/h) per ``highway`` value; a nurse with a bag, not a racer. Ways missing
#: here are closed to bikes (motorways, trunk roads unless ``bicycle=yes``, steps).
BIKE_SPEEDS_KMH: Mapping[str, float] = {
    "cycleway": 18.0,
    "primary": 16.0,
    "primary_link": 16.0,
    "secondary": 16.0,
    "secondary_link": 16.0,
    "tertiary": 16.0,
    "tertiary_link": 16.0,
    "unclassified": 16.0,
    "road": 15.0,
    "residential": 15.0,
    "living_street": 12.0,
    "service": 12.0,
    "track": 10.0,
    "path": 10.0,
    # Only with bicycle=yes/designated/permissive: shared with pedestrians, so slow.
    "pedestrian": 8.0,
    "footway": 8.0,
    "bridleway": 8.0,
    "trunk": 16.0,
    "trunk_link": 16.0,
}

#: Share of the posted limit driven on average at night.
MAXSPEED_FACTOR = 0.9

_BIKE_ONLY_IF_ALLOWED = frozenset({"pedestrian", "footway", "bridleway", "trunk", "trunk_link"})
_ALLOWED = frozenset({"yes", "designated", "permissive", "destination"})
_FORBIDDEN = frozenset({"no", "private", "agricultural", "forestry", "delivery", "customers"})
_CAR_SERVICE_EXCLUDED = frozenset({"parking_aisle", "drive-through", "emergency_access"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_CONTRAFLOW_CYCLEWAY = frozenset({"opposite", "opposite_lane", "opposite_track", "lane", "track"})

# Country defaults seen in extracts for the places we serve (zone tags like "PT:urban").
_ZONE_SPEEDS_KMH: Mapping[str, float] = {
    "urban": 50.0,
    "rural": 80.0,
    "motorway": 120.0,
    "trunk": 100.0,
    "living_street": 15.0,
    "walk": 6.0,
}
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")


@dataclass(frozen=True, slots=True)
class WayRule:
    """How one profile may use one way: directions allowed and speed in km/h."""

    forward: bool
    backward: bool
    speed_kmh: float


def parse_maxspeed(value: str | None) -> float | None:
    """Return a ``maxspeed`` tag as km/h (``"30 mph"``, ``"PT:urban"``, ``"50;30"``), or None."""
    if not value:
        return None
    speeds: list[float] = []
    for part in value.split(";"):
        match = _MAXSPEED.match(part)
        if match:
            speed = float(match.group(1))
            speeds.append(speed * 1.609344 if match.group(2) == "mph" else speed)
            continue
        zone = part.strip().split(":")[-1].lower()
        if zone in _ZONE_SPEEDS_KMH:
            speeds.append(_ZONE_SPEEDS_KMH[zone])
    speeds = [s for s in speeds if s > 0]
    return min(speeds) if speeds else None


def way_rule(profile: str, tags: Mapping[str, str]) -> WayRule | None:
    """Return how ``profile`` may travel along a way with ``tags``, or None if it may not."""
    if profile == "car":
        return _car_rule(tags)
    if profile == "bike":
        return _bike_rule(tags)
    raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")


def _oneway(tags: Mapping[str, str], *, implied: bool) -> tuple[bool, bool] | None:
    """(forward, backward) allowed by the way's one-way tags; None for reversible ways."""
    oneway = tags.get("oneway", "").lower()
    if oneway == "reversible" or oneway == "alternating":
        return None
    if oneway in _ONEWAY_FORWARD:
        return True, False
    if oneway in _ONEWAY_BACKWARD:
        return False, True
    if oneway == "no":
        return True, True
    if implied or tags.get("junction") in ("roundabout", "circular"):
        return True, False
    return True, True


def _car_rule(tags: Mapping[str, str]) -> WayRule | None:
    highway = tags.get("highway", "")
    table_speed = CAR_SPEEDS_KMH.get(highway)
    if table_speed is None or tags.get("area") == "yes":
        return None
    if highway == "service" and tags.get("service") in _CAR_SERVICE_EXCLUDED:
        return None
    # The most specific access tag wins: motorcar over motor_vehicle over vehicle over access.
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        value = tags.get(key)
        if value is None:
            continue
        if value in _FORBIDDEN:
            return None
        break
    directions = _oneway(tags, implied=highway == "motorway")
    if directions is None:
        return None
    maxspeed = parse_maxspeed(tags.get("maxspeed"))
    speed = table_speed if maxspeed is None else maxspeed * MAXSPEED_FACTOR
    speed = min(speed, CAR_SPEEDS_KMH["motorway"])
    return WayRule(forward=directions[0], backward=directions[1], speed_kmh=speed)


def _bike_rule(tags: Mapping[str, str]) -> WayRule | None:
    highway = tags.get("highway", "")
    speed = BIKE_SPEEDS_KMH.get(highway)
    if speed is None or tags.get("area") == "yes":
        return None
    bicycle = tags.get("bicycle")
    if highway in _BIKE_ONLY_IF_ALLOWED and bicycle not in _ALLOWED:
        return None
    if bicycle in _FORBIDDEN or bicycle == "use_sidepath":
        return None
    if bicycle not in _ALLOWED:
        for key in ("vehicle", "access"):
            value = tags.get(key)
            if value is None:
                continue
            if value in _FORBIDDEN:
                return None
            break
    directions = _oneway(tags, implied=False)
    if directions is None:
        return None
    if _bike_may_contraflow(tags):
        directions = (True, True)
    return WayRule(forward=directions[0], backward=directions[1], speed_kmh=speed)


def _bike_may_contraflow(tags: Mapping[str, str]) -> bool:
    """Whether a one-way street lets bikes ride against its direction."""
    if tags.get("oneway:bicycle", "").lower() == "no":
        return True
    for key in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
        value = tags.get(key)
        if value in _CONTRAFLOW_CYCLEWAY and (
            value.startswith("opposite") or tags.get(f"{key}:oneway") in ("no", "-1")
        ):
            return True
    return False
