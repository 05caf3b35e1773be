"""Importing an OSM extract into a cached road network, and loading it again.

A network holds one directed graph per profile (``car``, ``bike``). Nodes are junctions and
way ends; an edge is a *chain*: the piece of one way between two junctions, with its vertex
polyline, so degree-2 vertices never enter the shortest-path search (the simplification
OSMnx does). Each graph keeps only its largest strongly connected component, so every
location can reach every other. Between the same two junctions the fastest edge wins.

Files, under ``<data dir>/networks/<name>/``: ``network.npz`` (plain arrays, loaded in well
under a second), ``meta.json`` and ``addresses.json``; each profile's contraction-hierarchy
order (``cch-<profile>/``) is added on the first matrix of that profile, or by
:func:`geo.matrix.prepare_routing`. The version is a hash of the extract and of
``BUILD_VERSION``, and keys every cached matrix.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import pyproj
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geo import _osm
from geo._errors import ExtractError, NetworkNotFoundError
from geo.addresses import AddressIndex
from geo.profiles import PROFILES

__all__ = [
    "BUILD_VERSION",
    "DEMO_EXTRACT",
    "Graph",
    "Network",
    "data_dir",
    "import_network",
    "load_network",
    "network_names",
]

#: Bump when the graph built from the same extract changes, so cached matrices are redone.
BUILD_VERSION = "1"

#: The demo region's extract, shipped with the package (© OpenStreetMap contributors, ODbL).
DEMO_EXTRACT = Path(__file__).parent / "data" / "porto_portugal.osm.pbf"

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_EARTH_RADIUS_M = 6_371_008.8
_GRAPH_FIELDS = (
    "node_lat",
    "node_lon",
    "chain_u",
    "chain_v",
    "chain_first",
    "chain_last",
    "chain_metres",
    "chain_forward_seconds",
    "chain_backward_seconds",
)


def data_dir(*, override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory: ``override``, ``$NACHTROUTE_DATA_DIR``, or the user's."""
    if override is not None:
        return Path(override)
    env = os.environ.get("NACHTROUTE_DATA_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("nachtroute"))


@dataclass(frozen=True, eq=False)
class Graph:
    """One profile's road graph as arrays; chains index into the network's vertex arrays.

    ``chain_forward_seconds[i]`` is the time from ``chain_u[i]`` to ``chain_v[i]`` (``inf``
    where that direction is closed); ``chain_backward_seconds`` the other way.
    """

    profile: str
    node_lat: np.ndarray
    node_lon: np.ndarray
    chain_u: np.ndarray
    chain_v: np.ndarray
    chain_first: np.ndarray
    chain_last: np.ndarray
    chain_metres: np.ndarray
    chain_forward_seconds: np.ndarray
    chain_backward_seconds: np.ndarray
    home: Path | None = field(default=None, compare=False)
    #: Indexes built on demand (spatial tree, routing engine); never written to disk here.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def node_count(self) -> int:
        """Number of junctions."""
        return int(self.node_lat.shape[0])

    @functools.cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed edges ``(tail, head, seconds)``: no loops, fastest of parallel edges."""
        tail, head, seconds, _ = self.edge_chains
        return tail, head, seconds

    @functools.cached_property
    def edge_chains(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(tail, head, seconds, chain)``; ``chain`` is ``~index`` where run backwards."""
        return directed_edges(
            self.chain_u, self.chain_v, self.chain_forward_seconds, self.chain_backward_seconds
        )

    @functools.cached_property
    def matrix(self) -> csr_matrix:
        """The graph as a sparse matrix of travel seconds, for ``scipy.sparse.csgraph``."""
        tail, head, seconds = self.edges
        n = self.node_count
        return csr_matrix((seconds, (tail, head)), shape=(n, n))


@dataclass(frozen=True, eq=False)
class Network:
    """An imported road network: a graph per profile, the road vertices and addresses."""

    name: str
    version: str
    meta: Mapping[str, Any]
    vertex_lat: np.ndarray
    vertex_lon: np.ndarray
    graphs: Mapping[str, Graph]
    addresses: AddressIndex = field(repr=False)

    def graph(self, profile: str) -> Graph:
        """Return the graph of ``profile`` (``car`` or ``bike``)."""
        try:
            return self.graphs[profile]
        except KeyError:
            raise ValueError(
                f"unknown profile {profile!r} (known: {', '.join(sorted(self.graphs))})"
            ) from None

    @property
    def crs(self) -> str:
        """The projected CRS (local UTM zone) in which snapping measures metres."""
        return f"EPSG:{self.meta['utm_epsg']}"

    @functools.cached_property
    def _to_metres(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)

    @functools.cached_property
    def _to_degrees(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    @functools.cached_property
    def vertex_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Every road vertex in projected metres, computed once."""
        return self.project(self.vertex_lat, self.vertex_lon)

    def project(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` metres in :attr:`crs` for WGS84 ``lat``, ``lon``."""
        x, y = self._to_metres.transform(np.asarray(lon), np.asarray(lat))
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def unproject(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return WGS84 ``(lat, lon)`` for ``x``, ``y`` metres in :attr:`crs`."""
        lon, lat = self._to_degrees.transform(np.asarray(x), np.asarray(y))
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def network_names(*, data_dir_path: str | os.PathLike[str] | None = None) -> list[str]:
    """Return the names of the networks imported into the data directory."""
    root = data_dir(override=data_dir_path) / "networks"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())


def import_network(
    path: str | os.PathLike[str],
    *,
    name: str,
    data_dir_path: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Network:
    """Import the OSM extract at ``path`` (.osm.pbf, .osm, .osm.bz2) as network ``name``."""
    source = Path(path)
    if not _NAME.match(name):
        raise ValueError(f"network name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if not source.is_file():
        raise ExtractError(f"{source}: no such file")
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    digest = _sha256(source)
    say(f"reading {source.name}")
    raw = _osm.read_extract(source, progress=say)
    say(f"read {len(raw.way_offsets) - 1} road ways, {len(raw.addresses)} addresses")
    graphs: dict[str, Graph] = {}
    for profile in PROFILES:
        graph = build_graph(raw, profile)
        if graph.node_count == 0:
            raise ExtractError(f"{source}: no roads for profile {profile!r}")
        graphs[profile] = graph
        say(f"{profile}: {graph.node_count} junctions, {len(graph.chain_u)} road pieces")
    centre_lat = float(np.mean(raw.lat))
    centre_lon = float(np.mean(raw.lon))
    zone = int((centre_lon + 180.0) // 6.0) % 60 + 1
    meta = {
        "name": name,
        "version": hashlib.sha256(f"{digest}:{BUILD_VERSION}".encode()).hexdigest()[:16],
        "source": source.name,
        "source_sha256": digest,
        "build_version": BUILD_VERSION,
        "utm_epsg": (32600 if centre_lat >= 0 else 32700) + zone,
        "counts": {p: {"nodes": g.node_count, "edges": len(g.edges[0])} for p, g in graphs.items()},
        "addresses": len(raw.addresses),
        "attribution": "© OpenStreetMap contributors, ODbL 1.0",
    }
    target = data_dir(override=data_dir_path) / "networks" / name
    target.mkdir(parents=True, exist_ok=True)
    graphs = {p: dataclasses.replace(g, home=target) for p, g in graphs.items()}
    # A hierarchy left by an earlier import of this name belongs to another graph.
    for stale in target.glob("cch-*"):
        shutil.rmtree(stale)
    arrays: dict[str, np.ndarray] = {"vertex_lat": raw.lat, "vertex_lon": raw.lon}
    for profile, graph in graphs.items():
        for key in _GRAPH_FIELDS:
            arrays[f"{profile}.{key}"] = getattr(graph, key)
    # Write under temporary names and rename, so a failed import never leaves a half cache.
    tmp_npz = target / "network.tmp.npz"
    np.savez(tmp_npz, **arrays)  # type: ignore[arg-type]
    tmp_npz.replace(target / "network.npz")
    addresses = AddressIndex.from_raw(raw.addresses)
    tmp_addresses = target / "addresses.tmp.json"
    tmp_addresses.write_text(json.dumps(addresses.to_records(), ensure_ascii=False))
    tmp_addresses.replace(target / "addresses.json")
    tmp_meta = target / "meta.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    tmp_meta.replace(target / "meta.json")
    say(f"imported {name!r} in {time.perf_counter() - started:.1f} s")
    return Network(
        name=name,
        version=str(meta["version"]),
        meta=meta,
        vertex_lat=raw.lat,
        vertex_lon=raw.lon,
        graphs=graphs,
        addresses=addresses,
    )


def load_network(name: str, *, data_dir_path: str | os.PathLike[str] | None = None) -> Network:
    """Return the network ``name`` imported earlier into the data directory."""
    folder = data_dir(override=data_dir_path) / "networks" / name
    if not _NAME.match(name) or not (folder / "meta.json").is_file():
        known = network_names(data_dir_path=data_dir_path)
        raise NetworkNotFoundError(
            f"no network named {name!r} in {folder.parent} "
            f"(imported: {', '.join(known) or 'none'}; run `nachtroute geo import`)"
        )
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "network.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    graphs = {
        profile: Graph(
            profile=profile, home=folder, **{k: arrays[f"{profile}.{k}"] for k in _GRAPH_FIELDS}
        )
        for profile in PROFILES
        if f"{profile}.node_lat" in arrays
    }
    records = json.loads((folder / "addresses.json").read_text())
    return Network(
        name=name,
        version=str(meta["version"]),
        meta=meta,
        vertex_lat=arrays["vertex_lat"],
        vertex_lon=arrays["vertex_lon"],
        graphs=graphs,
        addresses=AddressIndex.from_records(records),
    )


def haversine_metres(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Return great-circle distances in metres, element-wise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def directed_edges(
    u: np.ndarray, v: np.ndarray, forward: np.ndarray, backward: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(tail, head, seconds, chain)`` of open directions: no loops, fastest parallel.

    ``chain`` is the chain's index when run forwards, ``~index`` (negative) when backwards.
    Sorted by ``(tail, head)``.
    """
    index = np.arange(len(u), dtype=np.int64)
    tail = np.concatenate([u, v]).astype(np.int64)
    head = np.concatenate([v, u]).astype(np.int64)
    seconds = np.concatenate([forward, backward])
    chain = np.concatenate([index, ~index])
    keep = np.isfinite(seconds) & (tail != head)
    tail, head, seconds, chain = tail[keep], head[keep], seconds[keep], chain[keep]
    # scipy sums duplicate entries, so parallel edges must be reduced to the fastest first.
    order = np.lexsort((seconds, head, tail))
    tail, head, seconds, chain = tail[order], head[order], seconds[order], chain[order]
    first = np.ones(len(tail), dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    return tail[first], head[first], seconds[first], chain[first]


def build_graph(raw: _osm.RawExtract, profile: str) -> Graph:
    """Return ``profile``'s junction graph of ``raw``: chains, largest strongly connected part."""
    forward = raw.forward[profile]
    backward = raw.backward[profile]
    allowed = forward | backward
    lengths = np.diff(raw.way_offsets)
    way_of = np.repeat(np.arange(len(lengths)), lengths)
    usable = allowed[way_of]
    starts = raw.way_offsets[:-1][allowed]
    ends = raw.way_offsets[1:][allowed] - 1
    # A vertex is a junction where two usable ways meet (or a way meets itself) or a way ends.
    _, inverse, counts = np.unique(raw.node_ids[usable], return_inverse=True, return_counts=True)
    junction = np.zeros(len(raw.node_ids), dtype=bool)
    junction[np.flatnonzero(usable)] = counts[inverse] > 1
    junction[starts] = True
    junction[ends] = True
    seg = np.flatnonzero(usable[:-1] & (way_of[:-1] == way_of[1:]))
    if len(seg) == 0:
        return _empty_graph(profile)
    seg_metres = haversine_metres(raw.lat[seg], raw.lon[seg], raw.lat[seg + 1], raw.lon[seg + 1])
    chain_of = np.cumsum(junction[seg]) - 1
    first_seg = np.flatnonzero(np.r_[True, chain_of[1:] != chain_of[:-1]])
    last_seg = np.r_[first_seg[1:] - 1, len(seg) - 1]
    chain_first = seg[first_seg]
    chain_last = seg[last_seg] + 1
    metres = np.bincount(chain_of, weights=seg_metres)
    way = way_of[chain_first]
    seconds = metres / (raw.speed_kmh[profile][way] / 3.6)
    fwd = np.where(forward[way], seconds, np.inf)
    bwd = np.where(backward[way], seconds, np.inf)
    junction_ids, uv = np.unique(
        np.concatenate([raw.node_ids[chain_first], raw.node_ids[chain_last]]), return_inverse=True
    )
    n_chains = len(chain_first)
    u, v = uv[:n_chains], uv[n_chains:]
    # Keep the largest strongly connected component, so every point reaches every other.
    tail, head, cost, _ = directed_edges(u, v, fwd, bwd)
    n = len(junction_ids)
    _, labels = connected_components(
        csr_matrix((cost, (tail, head)), shape=(n, n)), directed=True, connection="strong"
    )
    largest = np.argmax(np.bincount(labels))
    keep_node = labels == largest
    keep_chain = keep_node[u] & keep_node[v]
    new_index = np.cumsum(keep_node) - 1
    node_vertex = np.empty(n, dtype=np.int64)
    node_vertex[u] = chain_first
    node_vertex[v] = chain_last
    node_vertex = node_vertex[keep_node]
    return Graph(
        profile=profile,
        node_lat=raw.lat[node_vertex],
        node_lon=raw.lon[node_vertex],
        chain_u=new_index[u[keep_chain]].astype(np.int32),
        chain_v=new_index[v[keep_chain]].astype(np.int32),
        chain_first=chain_first[keep_chain],
        chain_last=chain_last[keep_chain],
        chain_metres=metres[keep_chain],
        chain_forward_seconds=fwd[keep_chain],
        chain_backward_seconds=bwd[keep_chain],
    )


def _empty_graph(profile: str) -> Graph:
    empty_f = np.zeros(0, dtype=np.float64)
    empty_i = np.zeros(0, dtype=np.int64)
    return Graph(
        profile=profile,
        node_lat=empty_f,
        node_lon=empty_f,
        chain_u=empty_i.astype(np.int32),
        chain_v=empty_i.astype(np.int32),
        chain_first=empty_i,
        chain_last=empty_i,
        chain_metres=empty_f,
        chain_forward_seconds=empty_f,
        chain_backward_seconds=empty_f,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
