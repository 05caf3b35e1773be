"""Where the first plan's time goes: the night's model, and OR-Tools' construction with and
without the scheduling LP, on the same generated night in the same run.

    .venv/bin/python bench/first_plan_bench.py [--size 10x200 ...] [--strategy NAME ...]

`optimizer.solve(first_only=True)` builds its first plan without the LP (see
`optimizer.night_search.first_plan_only`); the LP row is the baseline it replaced. Every plan is
laid out by `plan_from_routes` and checked by `optimizer.check`.
"""

from __future__ import annotations

import argparse
import os
import time

from optimizer import search, timeline
from optimizer.assemble import plan_from_routes
from optimizer.checker import check
from optimizer.eligibility import excluded
from optimizer.generate import generated_night
from optimizer.night_search import found_from
from optimizer.routing_model import NightModel


def measure(nurses: int, visits: int, strategy: str, *, scheduling_lp: bool) -> str:
    problem = generated_night(nurses=nurses, visits=visits, seed=0)
    departures = {n.id: timeline.departure(problem, n) for n in problem.nurses}
    open_visits = [
        v for v in problem.visits if not v.is_locked and excluded(problem, v, departures) is None
    ]
    began = time.perf_counter()
    model = NightModel(problem, open_visits, departures)
    built = time.perf_counter()
    config = search.SearchConfig(first_solution=strategy, metaheuristic="GREEDY_DESCENT")
    parameters = search.search_parameters(time_limit=120, config=config)
    parameters.solution_limit = 1
    parameters.disable_scheduling_beware_this_may_degrade_performance = not scheduling_lp
    solution = model.routing.SolveWithParameters(parameters)
    constructed = time.perf_counter()
    if solution is None:
        return f"{nurses}x{visits} {strategy} LP={scheduling_lp}: no solution"
    found = found_from(model, solution, strategy)
    assert found.sequences is not None
    plan = plan_from_routes(
        problem, found.sequences, not_before=found.starts, break_starts=found.break_starts
    )
    assembled = time.perf_counter()
    return (
        f"| {nurses} x {visits} | {strategy} | {'with' if scheduling_lp else 'without'} | "
        f"{built - began:.3f} s | {constructed - built:.3f} s | {assembled - constructed:.3f} s | "
        f"{len(plan.unassigned)} | {found.objective} | {len(check(problem, plan))} | "
        f"{os.getloadavg()[0]:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", action="append")
    parser.add_argument("--strategy", action="append")
    args = parser.parse_args()
    print(
        "| night | construction | scheduling LP | model | construction | plan_from_routes | "
        "left out | objective | checker violations | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.size or ["10x200", "50x1000"]:
        nurses, visits = (int(x) for x in size.split("x"))
        for strategy in args.strategy or ["PARALLEL_CHEAPEST_INSERTION"]:
            for lp in (True, False):
                print(measure(nurses, visits, strategy, scheduling_lp=lp), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
