"""Compare search recipes on the Solomon development set, one core per run.

Each configuration runs alone (one process, one core) on every instance; two runs go at a
time on a two-core machine. Prints each recipe's gaps to the ``dimacs`` best known
solutions and, for every pair of recipes, the mean gap of the better of the two per
instance: what a two-process portfolio of that pair would get.

    python bench/solomon_tune.py [--time-limit 9.6] [--seeds 0 1 2] [--candidates tuned hot]

``--candidates`` names recipes of ``candidates()``; edit it to add others. Runs of one
recipe differ by seed (node order) by several percent on the type-2 instances, so compare
over several seeds.
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


def candidates() -> dict[str, search.SearchConfig]:
    """The recipes that can be compared, by name (``--candidates`` picks some)."""
    tuned = search.tuned_config()
    hot = search.tuned_config(temperature=2.5)
    gls = search.SearchConfig(
        label="gls-pci-lean",
        first_solution="PARALLEL_CHEAPEST_INSERTION",
        disabled_operators=search.SLOW_OPERATORS,
    )
    recipes = {
        "tuned": tuned,
        "hot": hot,
        "baseline": search.baseline_config(),
        "gls": gls,
        "linear": replace(tuned, cooling="linear"),
        "hot-linear": replace(hot, cooling="linear"),
        "no-improve": replace(tuned, improve_perturbed=False),
        "ruin15": replace(tuned, ruin_visits=15),
        "ruin6": replace(tuned, ruin_visits=6),
        "linear-ruin15": replace(tuned, cooling="linear", ruin_visits=15),
        "routes-ruin": replace(tuned, ruins=("sisr", "spatially_close_routes")),
        # Tried by s17 (docs/benchmarks.md): better at seeds 0-1, worse at 2-3 (RC208).
        "ruin14": replace(tuned, ruin_visits=14, sisr_max_sequence=14),
        "ruin14-t1.2": replace(
            search.tuned_config(temperature=1.2), ruin_visits=14, sisr_max_sequence=14
        ),
        # Fewer neighbourhoods per descent, so more ruin-and-recreate iterations per second
        # (each relative to the recipe before session 22; s22 kept both exchange and or-opt out).
        **{
            f"no-{name.removeprefix('use_').replace('_', '-')}": replace(
                tuned, disabled_operators=(*search.SLOW_OPERATORS, name)
            )
            for name in ("use_cross", "use_or_opt", "use_exchange", "use_two_opt")
        },
        # The recipe before session 22 (`search.ILS_SKIPPED_OPERATORS` left out since).
        "s21": replace(tuned, disabled_operators=search.SLOW_OPERATORS),
    }
    return {name: replace(config, label=name) for name, config in recipes.items()}


def one(path: Path, config: search.SearchConfig, time_limit: float, best: float) -> float:
    instance = solomon.read_solomon(path)
    result = solomon.solve_solomon(instance, time_limit=time_limit, configs=[config], processes=2)
    report = solomon.check_solomon(instance, result.routes)
    return 100 * (report.distance / best - 1) if report.feasible else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=9.6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--candidates", nargs="+", default=["tuned", "hot"], help="names in candidates()"
    )
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
        for c in (candidates()[name] for name in args.candidates)
        for seed in args.seeds
    ]
    # Recipes alternate job by job (each instance and seed: every recipe in turn), so two
    # recipes share the same minutes of a machine whose load comes and goes.
    order = [
        (c, f)
        for seed in args.seeds
        for f in files
        for c in configs
        if c.label.endswith(f"/s{seed}")
    ]
    jobs = [(f, c, args.time_limit, bks[f.stem]) for c, f in order]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        gaps = list(pool.map(one, *zip(*jobs, strict=True)))
    table = {(c.label, f.stem): gap for (c, f), gap in zip(order, gaps, strict=True)}
    names = [f.stem for f in files]
    for c in configs:
        row = [table[(c.label, n)] for n in names]
        cells = " ".join(f"{n}:{g:+.2f}" for n, g in zip(names, row, strict=True))
        print(f"{c.label:24s} mean {sum(row) / len(row):+6.2f} | {cells}")

    def over_seeds(label: str, name: str) -> list[float]:
        return [table[(f"{label}/s{seed}", name)] for seed in args.seeds]

    print("mean over seeds:")
    for label in args.candidates:
        row = [sum(over_seeds(label, n)) / len(args.seeds) for n in names]
        cells = " ".join(f"{n}:{g:+.2f}" for n, g in zip(names, row, strict=True))
        print(f"  {label:22s} mean {sum(row) / len(row):+6.2f} | {cells}")
    # A portfolio of two recipes runs them from two different node orders: pair every run of
    # one with every run of the other from another seed (or of itself, for one recipe twice).
    print("two-process portfolio (better of a pair of runs from different seeds), mean:")
    for a, b in itertools.combinations_with_replacement(args.candidates, 2):
        pairs = [(i, j) for i in args.seeds for j in args.seeds if i != j]
        if not pairs:
            continue
        means = [
            sum(min(table[(f"{a}/s{i}", n)], table[(f"{b}/s{j}", n)]) for n in names) / len(names)
            for i, j in pairs
        ]
        print(
            f"  {a} + {b}: {sum(means) / len(means):+.2f} "
            f"(min {min(means):+.2f}, max {max(means):+.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
