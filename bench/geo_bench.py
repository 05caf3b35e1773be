"""Road-network benchmark on the Porto extract: import, load, snap, matrix, add, lookup.

Run from the repository root::

    python bench/geo_bench.py [--points 1000] [--nx-origins 8] [--scipy-origins 100]

Baselines are measured in the same run: networkx single-source Dijkstra and plain
``scipy.sparse.csgraph.dijkstra`` on a sample of origins, scaled to the full matrix.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo import _engines
from geo.matrix import add_location, prepare_routing, travel_times
from geo.network import DEMO_EXTRACT, load_network
from geo.snapping import snap_points

_IMPORT = """
import sys
from geo.network import DEMO_EXTRACT, import_network
import_network(DEMO_EXTRACT, name="porto", data_dir_path=sys.argv[1])
"""


def _points(network, count: int, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    graph = network.graph("car")
    rng = np.random.default_rng(seed)
    index = rng.choice(graph.node_count, count, replace=False)
    return np.column_stack(
        [
            graph.node_lat[index] + rng.normal(0.0, 2e-4, count),
            graph.node_lon[index] + rng.normal(0.0, 2e-4, count),
        ]
    )


def main() -> None:
    """Measure and print the figures for docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--nx-origins", type=int, default=8)
    parser.add_argument("--scipy-origins", type=int, default=100)
    args = parser.parse_args()
    n = args.points
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Import in a child process, so its peak memory is its own.
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", _IMPORT, tmp],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        import_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows.append(("import Porto (PBF → cached network)", f"{import_s:.1f} s", "< 15 s"))
        rows.append(("import peak memory (RSS)", f"{peak_mb:.0f} MB", "< 1 GB"))

        started = time.perf_counter()
        network = load_network("porto", data_dir_path=tmp)
        rows.append(("load cached network", f"{time.perf_counter() - started:.3f} s", "< 1 s"))
        graph = network.graph("car")
        print(
            f"car graph: {graph.node_count} junctions, {len(graph.edges[0])} edges "
            f"({DEMO_EXTRACT.name})",
            file=sys.stderr,
        )

        started = time.perf_counter()
        prepare_routing(network)
        prepare_s = time.perf_counter() - started
        rows.append(
            (
                "order both hierarchies (car + bike, once per import, stored)",
                f"{prepare_s:.1f} s",
                "—",
            )
        )
        # A fresh process (the service after a restart) loads the stored hierarchy:
        started = time.perf_counter()
        network = load_network("porto", data_dir_path=tmp)
        graph = network.graph("car")
        _engines.router(graph, "cch")
        router_s = time.perf_counter() - started
        points = _points(network, n + 1, seed=11)
        started = time.perf_counter()
        snap_points(network, points[:1, 0], points[:1, 1])
        tree_s = time.perf_counter() - started
        started = time.perf_counter()
        snapped = snap_points(network, points[:n, 0], points[:n, 1])
        snap_s = time.perf_counter() - started
        rows.append(
            (
                f"snap {n} points to edges (index built once: {tree_s:.2f} s)",
                f"{snap_s:.3f} s",
                "< 1 s",
            )
        )

        pairs = [tuple(p) for p in points[:n]]
        started = time.perf_counter()
        times = travel_times(network, pairs, cache=False)
        matrix_s = time.perf_counter() - started
        rows.append(
            (
                f"{n}×{n} car matrix, CCH (network + hierarchy loaded: {router_s:.2f} s)",
                f"{matrix_s:.2f} s",
                "< 3 s",
            )
        )

        # Baselines: one shortest-path tree per location from the junction it leaves by.
        sources = graph.chain_v[snapped.chain].astype(np.int64)
        tail, head, seconds = graph.edges
        digraph = nx.DiGraph()
        digraph.add_weighted_edges_from(
            zip(tail.tolist(), head.tolist(), seconds.tolist(), strict=True)
        )
        started = time.perf_counter()
        for source in sources[: args.nx_origins]:
            nx.single_source_dijkstra_path_length(digraph, int(source), weight="weight")
        nx_s = (time.perf_counter() - started) / args.nx_origins * n
        started = time.perf_counter()
        dijkstra(graph.matrix, indices=sources[: args.scipy_origins])
        scipy_s = (time.perf_counter() - started) / args.scipy_origins * n
        rows.append(
            (
                f"networkx single-source Dijkstra ×{n} ({args.nx_origins} origins, scaled)",
                f"{nx_s:.0f} s",
                f"CCH is {nx_s / matrix_s:.0f}× faster (≥ 100×)",
            )
        )
        rows.append(
            (
                f"scipy csgraph.dijkstra ×{n} ({args.scipy_origins} origins, scaled)",
                f"{scipy_s:.1f} s",
                f"CCH is {scipy_s / matrix_s:.1f}× faster",
            )
        )

        base = travel_times(network, pairs[:-1], cache=False)
        samples = []
        for k in range(15):
            extra = tuple(_points(network, 1, seed=100 + k)[0])
            started = time.perf_counter()
            add_location(base, network, extra, cache=False)
            samples.append(time.perf_counter() - started)
        rows.append(
            (
                f"add one location to a {n - 1}-point matrix (row + column, median of 15)",
                f"{statistics.median(samples) * 1000:.0f} ms",
                "< 50 ms",
            )
        )
        grown = add_location(base, network, pairs[-1], cache=False)
        assert np.array_equal(grown.seconds, times.seconds), "incremental differs from full"

        text = "4760-585 419"  # a real addr:* node in the extract
        network.addresses.lookup(text)
        started = time.perf_counter()
        for _ in range(10_000):
            network.addresses.lookup(text)
        lookup_us = (time.perf_counter() - started) / 10_000 * 1e6
        rows.append(("address lookup (postcode + number)", f"{lookup_us:.0f} µs", "< 1 ms"))

    print("| what | measured | target / ratio |")
    print("|---|---|---|")
    for what, measured, target in rows:
        print(f"| {what} | {measured} | {target} |")


if __name__ == "__main__":
    main()
