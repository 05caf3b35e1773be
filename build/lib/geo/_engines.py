"""Shortest-path engines behind the matrices: a contraction hierarchy, and plain Dijkstra.

``cch`` (default) is RoutingKit's customizable contraction hierarchy (pyroutingkit): the
node order is computed once per network at import and kept beside it, then weights are
loaded in milliseconds and each distance query takes about a microsecond. It counts whole
milliseconds, so its times match Dijkstra's within a few hundredths of a second.
``dijkstra`` is ``scipy.sparse.csgraph.dijkstra``: the exact reference the tests and the
benchmark compare against.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:
    from geo.network import Graph

__all__ = ["ENGINES", "Router", "prepare", "router"]

ENGINES: tuple[str, ...] = ("cch", "dijkstra")

#: Times are integers of this many per second inside the hierarchy (uint32: 49 days max).
_TICKS_PER_SECOND = 1000.0
_DIJKSTRA_CHUNK = 64


class Router(Protocol):
    """Travel seconds between graph nodes."""

    def distances(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Return a ``len(sources) x len(targets)`` array of seconds (``inf``: unreachable)."""
        ...

    def path(self, source: int, target: int) -> list[int]:
        """Return the nodes of a fastest path from ``source`` to ``target``."""
        ...


class CchRouter:
    """RoutingKit's customizable contraction hierarchy on one profile's graph.

    The library answers one-to-many fast and many-to-one slowly (it searches once per
    source), so a second hierarchy on the reversed graph answers many-to-one as one-to-many.
    It reuses the node order, which depends only on the undirected road layout: reversing
    costs a file copy, not a second 4-second ordering.
    """

    def __init__(self, graph: Graph, *, reverse: bool = False) -> None:
        import pyroutingkit

        self._graph = graph
        self._is_reverse = reverse
        self._reverse: CchRouter | None = None
        self._inf = int(pyroutingkit.INF_WEIGHT)
        self._cch = pyroutingkit.CCH()
        tail, head, seconds = graph.edges
        if reverse:
            tail, head = head, tail
        topology = None if graph.home is None else graph.home / f"cch-{graph.profile}"
        if topology is not None and reverse:
            topology = _reversed_topology(topology)
        if topology is not None and (topology / "tail").is_file():
            self._cch.load_topology(str(topology))
        if self._cch.is_built and (
            self._cch.node_count != graph.node_count or self._cch.arc_count != len(tail)
        ):
            self._cch = pyroutingkit.CCH()  # stored for another graph: order it anew
        if not self._cch.is_built:
            self._cch.build_topology(
                tail.astype(np.uint32),
                head.astype(np.uint32),
                graph.node_lat.astype(np.float32),
                graph.node_lon.astype(np.float32),
                node_count=graph.node_count,
            )
            if topology is not None:
                topology.mkdir(parents=True, exist_ok=True)
                self._cch.save_topology(str(topology))
        ticks = np.maximum(np.rint(seconds * _TICKS_PER_SECOND), 1)
        self._cch.customize_weights(ticks.astype(np.uint32))

    def distances(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Return seconds from each source to each target."""
        src = np.asarray(sources, dtype=np.uint32)
        dst = np.asarray(targets, dtype=np.uint32)
        if len(src) == 0 or len(dst) == 0:
            return np.zeros((len(src), len(dst)))
        if not self._is_reverse and len(src) > 8 * len(dst):
            if self._reverse is None:
                self._reverse = CchRouter(self._graph, reverse=True)
            return self._reverse.distances(dst, src).T
        # One call: the library holds the GIL, so splitting over threads only adds overhead
        # (measured), and 1000 points take about a second on one core.
        ticks = np.asarray(self._cch.distances_many_to_many(src, dst))
        result: np.ndarray = ticks.astype(np.float64) / _TICKS_PER_SECOND
        result[ticks >= self._inf] = np.inf
        return result

    def path(self, source: int, target: int) -> list[int]:
        """Return the nodes of a fastest path."""
        _, nodes = self._cch.query(int(source), int(target))
        return [int(n) for n in nodes]


def _reversed_topology(forward: Path) -> Path:
    """The forward hierarchy's files with every arc turned round (same node order)."""
    reverse = forward.with_name(forward.name + "-reversed")
    if (reverse / "tail").is_file() or not (forward / "tail").is_file():
        return reverse
    reverse.mkdir(parents=True, exist_ok=True)
    for name in ("node_count", "order", "rank"):
        shutil.copyfile(forward / name, reverse / name)
    shutil.copyfile(forward / "tail", reverse / "head.tmp")
    shutil.copyfile(forward / "head", reverse / "tail.tmp")
    (reverse / "head.tmp").replace(reverse / "head")
    (reverse / "tail.tmp").replace(reverse / "tail")
    return reverse


class DijkstraRouter:
    """``scipy.sparse.csgraph.dijkstra``, one source at a time, in chunks to bound memory."""

    def __init__(self, graph: Graph) -> None:
        self._matrix = graph.matrix

    def distances(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Return seconds from each source to each target."""
        src = np.asarray(sources, dtype=np.int64)
        dst = np.asarray(targets, dtype=np.int64)
        result = np.empty((len(src), len(dst)))
        for start in range(0, len(src), _DIJKSTRA_CHUNK):
            chunk = src[start : start + _DIJKSTRA_CHUNK]
            result[start : start + len(chunk)] = dijkstra(self._matrix, indices=chunk)[:, dst]
        return result

    def path(self, source: int, target: int) -> list[int]:
        """Return the nodes of a fastest path."""
        _, predecessors = dijkstra(self._matrix, indices=int(source), return_predecessors=True)
        nodes = [int(target)]
        while nodes[-1] != source:
            previous = int(predecessors[nodes[-1]])
            if previous < 0:
                return []
            nodes.append(previous)
        return nodes[::-1]


def router(graph: Graph, engine: str = "cch") -> Router:
    """Return the (cached) router of ``engine`` for ``graph``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    key = f"router:{engine}"
    if key not in graph.cache:
        graph.cache[key] = CchRouter(graph) if engine == "cch" else DijkstraRouter(graph)
    found: Router = graph.cache[key]
    return found


def prepare(graphs: list[Graph], *, engine: str = "cch") -> None:
    """Load or build each graph's router, one after the other.

    Ordering two hierarchies in two processes was measured slower (10.7-17 s against
    5.1-10 s in sequence), so there is no pool here.
    """
    for graph in graphs:
        router(graph, engine)
