"""Compare search recipes on the Solomon development set at equal effort, not wall clock.

Each run is one iterated-local-search worker (`optimizer.night_search.search_once`, as the
portfolio runs it) stopped after ``--solutions`` improving solutions (OR-Tools'
``solution_limit``, which also drives the annealing schedule), so a loaded machine slows the
runs down without changing what they find. Prints per recipe the mean gap to the ``dimacs``
best known solutions, the better of the seeds per file (a portfolio of that many workers)
and the CPU seconds per run; every answer is checked by `optimizer.solomon.check_solomon`.

    python bench/solomon_effort.py --recipes tuned ruin14 --solutions 3000 --seeds 0 1

Recipe names are those of ``bench/solomon_tune.py``'s ``candidates()``.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from solomon_tune import candidates  # noqa: E402

from optimizer import solomon, timeline  # noqa: E402
from optimizer.assemble import plan_from_routes  # noqa: E402
from optimizer.night_search import search_once  # noqa: E402


def one(name: str, path: Path, seed: int, solutions: int, best: float) -> tuple[float, float]:
    """The gap (percent, inf when infeasible) and CPU seconds of one run."""
    config = candidates()[name].with_seed(seed)
    instance = solomon.read_solomon(path)
    problem = solomon.problem_from_solomon(instance)
    departures = {n.id: timeline.departure(problem, n) for n in problem.nurses}
    began = time.process_time()
    found = search_once(
        problem, list(problem.visits), departures, config, time.monotonic() + 3600, False, solutions
    )
    cpu = time.process_time() - began
    if found.sequences is None:
        return float("inf"), cpu
    plan = plan_from_routes(
        problem, found.sequences, not_before=found.starts, break_starts=found.break_starts
    )
    report = solomon.check_solomon(instance, solomon.routes_from_plan(plan))
    return (100 * (report.distance / best - 1) if report.feasible else float("inf")), cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["tuned"])
    parser.add_argument("--solutions", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench" / "solomon")
    args = parser.parse_args()
    with (args.shared / "bks.csv").open() as handle:
        bks = {
            r["instance"]: float(r["distance"])
            for r in csv.DictReader(handle)
            if r["source"] == "dimacs"
        }
    files = sorted(args.shared.glob("*.txt"))
    jobs = [
        (name, f, seed, args.solutions, bks[f.stem])
        for seed in args.seeds
        for f in files
        for name in args.recipes
    ]
    results: dict[tuple[str, str, int], tuple[float, float]] = {}
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        for job, answer in zip(jobs, pool.map(one, *zip(*jobs, strict=True)), strict=True):
            results[(job[0], job[1].stem, job[2])] = answer
            print(f"{job[0]} {job[1].stem} seed {job[2]}: {answer[0]:+.2f} % {answer[1]:.1f} s")
    for name in args.recipes:
        gaps = {f.stem: [results[(name, f.stem, s)][0] for s in args.seeds] for f in files}
        cpu = [results[(name, f.stem, s)][1] for f in files for s in args.seeds]
        mean = sum(sum(g) for g in gaps.values()) / (len(files) * len(args.seeds))
        best = sum(min(g) for g in gaps.values()) / len(files)
        print(
            f"{name:14s} mean {mean:+.3f} %  better of {len(args.seeds)} seeds {best:+.3f} %  "
            f"CPU {sum(cpu) / len(cpu):.2f} s / run"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
