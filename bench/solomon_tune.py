"""Compare search recipes on the Solomon development set, one core per run.

Each configuration runs alone (one process, one core) on every instance; two runs go at a
time on a two-core machine. Prints each recipe's gaps to the ``dimacs`` best known
solutions and, for every pair of recipes, the mean gap of the better of the two per
instance: what a two-process portfolio of that pair would get.

    python bench/solomon_tune.py [--time-limit 9.6] [--seeds 0 1]

Edit ``candidates()`` to try other recipes. Runs of one recipe differ by seed (node order)
by several percent on the type-2 instances, so compare over several seeds.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer import search, solomon  # noqa: E402


def candidates() -> list[search.SearchConfig]:
    """The recipes to compare."""
    tuned = search.tuned_config()
    return [
        replace(tuned, label="tuned"),
        replace(search.baseline_config(), label="baseline"),
        replace(tuned, label="tuned+routes-ruin", ruins=("sisr", "spatially_close_routes")),
    ]


def one(path: Path, config: search.SearchConfig, time_limit: float, best: float) -> float:
    instance = solomon.read_solomon(path)
    result = solomon.solve_solomon_once(instance, config, time_limit)
    report = solomon.check_solomon(instance, result.routes)
    return 100 * (report.distance / best - 1) if report.feasible else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=9.6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--shared", type=Path, default=ROOT.parent.parent / "shared" / "bench" / "solomon"
    )
    args = parser.parse_args()
    with (args.shared / "bks.csv").open() as handle:
        bks = {
            r["instance"]: float(r["distance"])
            for r in csv.DictReader(handle)
            if r["source"] == "dimacs"
        }
    files = sorted(args.shared.glob("*.txt"))
    configs = [
        replace(c, label=f"{c.label}/s{seed}", seed=seed)
        for c in candidates()
        for seed in args.seeds
    ]
    jobs = [(f, c, args.time_limit, bks[f.stem]) for c in configs for f in files]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        gaps = list(pool.map(one, *zip(*jobs, strict=True)))
    table = {
        (c.label, f.stem): gaps[i * len(files) + j]
        for i, c in enumerate(configs)
        for j, f in enumerate(files)
    }
    names = [f.stem for f in files]
    for c in configs:
        row = [table[(c.label, n)] for n in names]
        cells = " ".join(f"{n}:{g:+.2f}" for n, g in zip(names, row, strict=True))
        print(f"{c.label:32s} mean {sum(row) / len(row):+6.2f} | {cells}")
    for a, b in itertools.combinations(configs, 2):
        row = [min(table[(a.label, n)], table[(b.label, n)]) for n in names]
        print(f"  best of {a.label} + {b.label}: mean {sum(row) / len(row):+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
