"""`nachtroute bench nights`: the night solver on generated nights of growing size.

Each size runs in a fresh process (so peak memory is its own) and reports: time to the first
plan, the objective after 1 s and 10 s, the live re-plan latency after an alarm at 03:12,
and insertion-quote latency, with the full re-plan as the baseline the quote is compared to.
Every plan is verified by the independent checker.
"""

from __future__ import annotations

import multiprocessing
import random
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from optimizer import search
from optimizer.checker import check
from optimizer.generate import generated_night
from optimizer.live import state_at, with_visit
from optimizer.model import Problem, Visit
from optimizer.plan import Plan
from optimizer.quote import quote
from optimizer.solve import LIVE_STALL_SECONDS, solve

__all__ = ["DEFAULT_SIZES", "measure_night", "run_night_benchmark"]

#: (nurses, visits) as in the issue: the pilot, a region, and a large city.
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((3, 45), (10, 200), (50, 1000))
ALARM_AT = 4 * 3600 + 12 * 60  # 03:12 in a night that starts at 23:00


def alarm_at_0312(problem: Problem, plan: Plan, visits: int, seed: int) -> Problem:
    """The night of ``plan`` as it stands at 03:12 (`ALARM_AT`), with an acute alarm of 20
    minutes of care at one of its ``visits`` locations, chosen by ``seed``: the benchmarks'
    live moment."""
    alarm = Visit(
        id="ALARM",
        client_ref="bench-alarm",
        location=1 + random.Random(seed).randrange(visits),
        service_seconds=20 * 60,
        urgency="acute",
        call_time=ALARM_AT,
    )
    return with_visit(state_at(problem, plan, ALARM_AT), alarm)


def quote_calls(live: Problem, visits: int, seed: int) -> list[tuple[Problem, Visit]]:
    """The benchmarks' 30 calls to quote at 03:12, each with the night it is asked on:
    acute, urgent or soon, 20 minutes of care, at one of ``visits`` locations by ``seed``."""
    rng = random.Random(seed + 1)
    calls = []
    for k in range(30):
        call = Visit(
            id=f"Q{k}",
            client_ref="bench-quote",
            location=1 + rng.randrange(visits),
            service_seconds=20 * 60,
            urgency=rng.choice(["acute", "urgent", "soon"]),
            call_time=ALARM_AT,
        )
        calls.append((with_visit(live, call), call))
    return calls


def _record(plan: Plan, problem: Any) -> dict[str, Any]:
    return {
        "objective": plan.stats.objective if plan.stats else None,
        "unassigned": len(plan.unassigned),
        "acute_late": plan.summary.late_visits_by_urgency.get("acute", 0),
        "checker_violations": len(check(problem, plan)),
    }


def measure_night(
    nurses: int, visits: int, *, long_limit: float = 10.0, seed: int = 0
) -> dict[str, Any]:
    """All figures for one generated night of ``nurses`` x ``visits``."""
    problem = generated_night(nurses=nurses, visits=visits, seed=seed)
    result: dict[str, Any] = {"nurses": nurses, "visits": visits}

    began = time.perf_counter()
    first = solve(problem, time_limit=max(60.0, long_limit), first_only=True)
    result["first_plan_seconds"] = round(time.perf_counter() - began, 3)
    result["first_plan"] = _record(first, problem)

    plan = first
    for limit in (1.0, long_limit):
        began = time.perf_counter()
        found = solve(problem, time_limit=limit)
        result[f"after_{limit:g}s"] = {
            **_record(found, problem),
            "wall_seconds": round(time.perf_counter() - began, 3),
        }
        if (
            found.stats
            and found.stats.objective is not None
            and (
                plan.stats is None
                or plan.stats.objective is None
                or found.stats.objective <= plan.stats.objective
            )
        ):
            plan = found

    # The baseline in the same run: the same model and budget with plain guided local search
    # (the search `solve` ran before the tuned portfolio), one process.
    began = time.perf_counter()
    plain = solve(problem, time_limit=long_limit, configs=[search.SearchConfig()], processes=1)
    result[f"gls_after_{long_limit:g}s"] = {
        **_record(plain, problem),
        "wall_seconds": round(time.perf_counter() - began, 3),
    }

    live = alarm_at_0312(problem, plan, visits, seed)
    began = time.perf_counter()
    replanned = solve(live, time_limit=0.9, warm_start=plan, first_only=True)
    result["replan_first_seconds"] = round(time.perf_counter() - began, 3)
    began = time.perf_counter()
    improved = solve(live, time_limit=0.9, warm_start=plan)
    result["replan_0.9s_seconds"] = round(time.perf_counter() - began, 3)
    # The live re-plan's stop rule against the same search run to its limit, in this run.
    began = time.perf_counter()
    stalled = solve(live, time_limit=0.9, warm_start=plan, stall_seconds=LIVE_STALL_SECONDS)
    result["replan_0.9s_stall_seconds"] = round(time.perf_counter() - began, 3)
    result["replan_0.9s_objective"] = improved.stats.objective if improved.stats else None
    result["replan_0.9s_stall_objective"] = stalled.stats.objective if stalled.stats else None
    result["replan_stall_checker_violations"] = len(check(live, stalled))
    result["replan"] = {
        **_record(improved, live),
        "alarm_planned_first": "ALARM" in replanned.assignments(),
        "alarm_planned": "ALARM" in improved.assignments(),
    }

    latencies = []
    for asked, call in quote_calls(live, visits, seed):
        began = time.perf_counter()
        quote(asked, improved, call)
        latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    result["quote_ms_median"] = round(statistics.median(latencies), 2)
    result["quote_ms_p95"] = round(latencies[int(0.95 * (len(latencies) - 1))], 2)
    result["quote_vs_replan_speedup"] = round(
        result["replan_first_seconds"] * 1000 / max(result["quote_ms_median"], 1e-3), 1
    )
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    # The portfolio's forked search processes: the largest one's peak.
    result["peak_rss_search_process_mb"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    )
    return result


def _child(args: tuple[int, int, float, int]) -> dict[str, Any]:
    nurses, visits, long_limit, seed = args
    return measure_night(nurses, visits, long_limit=long_limit, seed=seed)


def run_night_benchmark(
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    *,
    long_limit: float = 10.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure every size, each in its own process; results in the order of ``sizes``."""
    results = []
    context = multiprocessing.get_context("spawn")
    for nurses, visits in sizes:
        if progress is not None:
            progress(f"night of {nurses} nurses x {visits} visits ...")
        # Not multiprocessing.Pool: its workers are daemonic and may not fork the solver's
        # portfolio processes.
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            results.append(pool.submit(_child, (nurses, visits, long_limit, seed)).result())
    return results
