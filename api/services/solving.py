"""The solver in worker processes, never in the serving process's interpreter.

OR-Tools holds Python's global interpreter lock for the whole search, so a solve in a thread
of the serving process would freeze every request (``/health`` included) for its budget.
Solves run in processes of their own instead: one pool for live re-plans (short budgets, so
a call is never queued behind a long search) and one for the planner's re-optimise jobs.
The pools are made on first use and shared by every app of the process; a worker that dies
or overruns is replaced and the caller gets the exception (it falls back, see
`api.services.planning`).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from optimizer import model as om
from optimizer.plan import Plan
from optimizer.solve import solve

__all__ = ["SolverOverrun", "run_solve", "shutdown_pools"]

logger = logging.getLogger("nachtroute.solving")

#: Beyond its budget, how long a solve may take to hand its plan back before it is given up.
_GRACE_SECONDS = 30.0

_pools: dict[str, ProcessPoolExecutor] = {}
_guard = threading.Lock()


class SolverOverrun(RuntimeError):
    """The solver process did not answer within its budget and the grace period."""


#: How often an idle solver process checks that the server that started it is still alive.
_PARENT_POLL_SECONDS = 2.0


def _exit_with_parent(parent: int) -> None:
    """In a solver process: leave once the server is gone (killed with SIGKILL, nothing ran
    its shutdown), so a crash-and-restart leaves no orphaned solver behind, ~100 MB each."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _pool(kind: str) -> ProcessPoolExecutor:
    with _guard:
        pool = _pools.get(kind)
        if pool is None:
            # spawn: a fresh interpreter, none of the server's threads or connections copied.
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            _pools[kind] = pool
        return pool


def _discard(kind: str, pool: ProcessPoolExecutor) -> None:
    with _guard:
        if _pools.get(kind) is pool:
            del _pools[kind]
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()  # an overrunning search is stopped, not waited for
    pool.shutdown(wait=False, cancel_futures=True)


def run_solve(
    problem: om.Problem,
    *,
    time_limit: float,
    warm_start: Plan | None = None,
    kind: str = "live",
    first_only: bool = False,
    stall_seconds: float | None = None,
) -> Plan:
    """`optimizer.solve` in a worker process of ``kind`` (``"live"`` or ``"job"``);
    ``first_only``: its first complete plan, without the search after it; ``stall_seconds``:
    the search's stop rule (see `optimizer.solve`).

    Raises what the solver raises, `BrokenProcessPool` when the worker died, or
    `SolverOverrun` after ``time_limit`` plus a grace period.
    """
    pool = _pool(kind)
    try:
        future: Future[Plan] = pool.submit(
            solve,
            problem,
            time_limit=time_limit,
            warm_start=warm_start,
            first_only=first_only,
            stall_seconds=stall_seconds,
        )
    except (BrokenProcessPool, RuntimeError):
        _discard(kind, pool)
        pool = _pool(kind)
        future = pool.submit(
            solve,
            problem,
            time_limit=time_limit,
            warm_start=warm_start,
            first_only=first_only,
            stall_seconds=stall_seconds,
        )
    try:
        return future.result(timeout=time_limit + _GRACE_SECONDS)
    except FutureTimeout:
        _discard(kind, pool)
        raise SolverOverrun(f"no answer within {time_limit + _GRACE_SECONDS:g} s") from None
    except BrokenProcessPool:
        _discard(kind, pool)
        raise


def warm_up() -> None:
    """Start the live pool's worker now (its first solve would otherwise pay the start)."""
    _pool("live").submit(int)


def shutdown_pools() -> None:
    """Stop every solver process (at exit)."""
    with _guard:
        pools = list(_pools.items())
        _pools.clear()
    for _kind, pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(shutdown_pools)
