"""Reading an OSM extract (PBF, XML, XML.bz2) with pyosmium into flat arrays.

Only ways some profile may use and objects with ``addr:housenumber`` reach Python: the
key filter runs in libosmium, so the 300,000 untagged nodes of a city cost almost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import osmium
import osmium.filter
import osmium.osm

from geo._errors import ExtractError
from geo.profiles import PROFILES, WayRule, way_rule

__all__ = ["RawAddress", "RawExtract", "read_extract"]

_ADDRESS_KEYS = ("addr:postcode", "addr:housenumber", "addr:street", "addr:city", "addr:place")


@dataclass(frozen=True, slots=True)
class RawAddress:
    """One ``addr:*``-tagged node or building, at its point (a building's vertex mean)."""

    postcode: str
    housenumber: str
    street: str
    town: str
    lat: float
    lon: float
    osm: str


@dataclass
class RawExtract:
    """The usable road ways as runs of vertices, with each profile's rule per way."""

    node_ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    way_offsets: np.ndarray
    forward: dict[str, np.ndarray] = field(default_factory=dict)
    backward: dict[str, np.ndarray] = field(default_factory=dict)
    speed_kmh: dict[str, np.ndarray] = field(default_factory=dict)
    addresses: list[RawAddress] = field(default_factory=list)


def read_extract(path: Path, *, progress: Callable[[str], None] | None = None) -> RawExtract:
    """Return the road ways and addresses of the OSM file at ``path``."""
    ids: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    offsets = [0]
    rules: dict[str, list[tuple[bool, bool, float]]] = {p: [] for p in PROFILES}
    addresses: list[RawAddress] = []
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway", "addr:housenumber"))
    )
    seen = 0
    try:
        for obj in processor:
            seen += 1
            if progress is not None and seen % 20000 == 0:
                progress(f"read {seen} tagged objects")
            # TagList answers get() and `in` without copying the tags into a dict.
            tags = cast(Mapping[str, str], obj.tags)
            if isinstance(obj, osmium.osm.Node):
                if "addr:housenumber" in tags and obj.location.valid():
                    addresses.append(
                        _address(tags, obj.location.lat, obj.location.lon, f"node/{obj.id}")
                    )
                continue
            if not isinstance(obj, osmium.osm.Way):
                continue
            if "addr:housenumber" in tags:
                point = _vertex_mean(obj)
                if point is not None:
                    addresses.append(_address(tags, point[0], point[1], f"way/{obj.id}"))
            if "highway" not in tags:
                continue
            way_rules = [way_rule(p, tags) for p in PROFILES]
            if all(rule is None for rule in way_rules):
                continue
            # A node missing from the extract (a way cut at its edge) splits the way.
            run_start = len(ids)
            for node in obj.nodes:
                location = node.location
                if location.valid():
                    ids.append(node.ref)
                    lats.append(location.lat)
                    lons.append(location.lon)
                    continue
                if len(ids) - run_start >= 2:
                    _close_run(offsets, rules, way_rules, len(ids))
                else:
                    del ids[run_start:], lats[run_start:], lons[run_start:]
                run_start = len(ids)
            if len(ids) - run_start >= 2:
                _close_run(offsets, rules, way_rules, len(ids))
            else:
                del ids[run_start:], lats[run_start:], lons[run_start:]
    except RuntimeError as error:  # libosmium reports unreadable input as RuntimeError
        raise ExtractError(f"{path}: cannot be read as OpenStreetMap data ({error})") from error
    if len(offsets) == 1:
        raise ExtractError(f"{path}: holds no roads that a car or bike may use")
    extract = RawExtract(
        node_ids=np.asarray(ids, dtype=np.int64),
        lat=np.asarray(lats, dtype=np.float64),
        lon=np.asarray(lons, dtype=np.float64),
        way_offsets=np.asarray(offsets, dtype=np.int64),
        addresses=addresses,
    )
    for profile, values in rules.items():
        table = np.asarray(values, dtype=np.float64).reshape(-1, 3)
        extract.forward[profile] = table[:, 0] > 0
        extract.backward[profile] = table[:, 1] > 0
        extract.speed_kmh[profile] = table[:, 2]
    return extract


def _close_run(
    offsets: list[int],
    rules: dict[str, list[tuple[bool, bool, float]]],
    way_rules: list[WayRule | None],
    end: int,
) -> None:
    """End a run of vertices at ``end``, with the way's rule per profile."""
    offsets.append(end)
    for profile, rule in zip(PROFILES, way_rules, strict=True):
        rules[profile].append(
            (False, False, 0.0) if rule is None else (rule.forward, rule.backward, rule.speed_kmh)
        )


def _vertex_mean(way: Any) -> tuple[float, float] | None:
    points = [(n.location.lat, n.location.lon) for n in way.nodes if n.location.valid()]
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()  # a closed ring repeats its first vertex
    if not points:
        return None
    return (
        sum(p[0] for p in points) / len(points),
        sum(p[1] for p in points) / len(points),
    )


def _address(tags: Any, lat: float, lon: float, osm: str) -> RawAddress:
    values = {key: tags.get(key, "").strip() for key in _ADDRESS_KEYS}
    return RawAddress(
        postcode=values["addr:postcode"],
        housenumber=values["addr:housenumber"],
        street=values["addr:street"],
        town=values["addr:city"] or values["addr:place"],
        lat=lat,
        lon=lon,
        osm=osm,
    )
