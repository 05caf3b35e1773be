"""A large night's first plan: built whole (the baseline) against region by region (what
`optimizer.solve(first_only=True)` does now), on the same generated nights in one run.

    .venv/bin/python bench/regions_bench.py [--size 50x1000] [--seeds 0 1 2]

The baseline is the construction `solve` ran before the split (`night_search.search_once` on the
whole night: parallel cheapest insertion without the scheduling LP, laid out by
`plan_from_routes`); the product's row goes through `optimizer.solve`. Both plans are checked
by the independent checker. Figures: wall seconds, the ratio whole / regions in this run,
visits left out, the objective, and the load average before each row.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from optimizer import search, timeline
from optimizer.assemble import plan_from_routes
from optimizer.checker import check
from optimizer.eligibility import excluded
from optimizer.generate import generated_night
from optimizer.night_search import search_once
from optimizer.solve import solve


def whole(nurses: int, visits: int, seed: int) -> tuple[float, int, int | None, int]:
    problem = generated_night(nurses=nurses, visits=visits, seed=seed)
    began = time.perf_counter()
    departures = {n.id: timeline.departure(problem, n) for n in problem.nurses}
    unassigned = []
    open_visits = []
    for visit in problem.visits:
        reason = excluded(problem, visit, departures)
        if reason is None:
            open_visits.append(visit)
        else:
            unassigned.append(reason)
    found = search_once(
        problem,
        open_visits,
        departures,
        search.SearchConfig(seed=1),
        time.monotonic() + 120,
        True,
        None,
    )
    assert found.sequences is not None
    plan = plan_from_routes(
        problem,
        found.sequences,
        not_before=found.starts,
        break_starts=found.break_starts,
        unassigned=unassigned,
    )
    took = time.perf_counter() - began
    return took, len(plan.unassigned), found.objective, len(check(problem, plan))


def regions(nurses: int, visits: int, seed: int) -> tuple[float, int, int | None, int, str]:
    problem = generated_night(nurses=nurses, visits=visits, seed=seed)
    began = time.perf_counter()
    plan = solve(problem, time_limit=120, first_only=True)
    took = time.perf_counter() - began
    assert plan.stats is not None
    method = plan.stats.method
    return took, len(plan.unassigned), plan.stats.objective, len(check(problem, plan)), method


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="50x1000")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    nurses, visits = (int(x) for x in args.size.split("x"))
    print(
        "| night | seed | whole: s / left out / objective / checker | regions (`solve`): s / "
        "left out / objective / checker | whole / regions | load before |"
    )
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        load = os.getloadavg()[0]
        w = whole(nurses, visits, seed)
        r = regions(nurses, visits, seed)
        print(
            f"| {nurses} x {visits} | {seed} | {w[0]:.2f} s / {w[1]} / {w[2]} / {w[3]} "
            f"| {r[0]:.2f} s / {r[1]} / {r[2]} / {r[3]} | {w[0] / r[0]:.1f} | {load:.1f} |",
            flush=True,
        )
        print(f"  ({r[4]})", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
