"""Reusable OR-Tools search recipes and a multi-process portfolio runner.

A :class:`SearchConfig` names one way to search (construction, metaheuristic, ruin and
recreate); :func:`search_parameters` turns it into ``RoutingSearchParameters``;
:func:`run_portfolio` runs several configurations at once, one process each, and keeps the
best answer. Any routing model can use them: the worker is a module-level function that
builds its own model, so only plain data crosses process boundaries.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal, TypeVar

from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
    routing_heuristic_parameters_pb2,
    routing_ils_pb2,
)

__all__ = [
    "ILS_SKIPPED_OPERATORS",
    "INSERTION_LNS_OPERATORS",
    "PORTFOLIO_OVERHEAD_SECONDS",
    "SLOW_OPERATORS",
    "SearchConfig",
    "baseline_config",
    "default_portfolio",
    "run_portfolio",
    "search_parameters",
    "solve_routing",
    "tuned_config",
]

#: Wall-clock seconds a portfolio call keeps back for process start-up and collection.
PORTFOLIO_OVERHEAD_SECONDS = 0.4

Ruin = Literal["sisr", "random_walk", "spatially_close_routes"]
Acceptance = Literal["simulated_annealing", "greedy_descent"]
Cooling = Literal["exponential", "linear"]

R = TypeVar("R")

_BOOL_TRUE = 3  # ortools.util.optional_boolean_pb2.BOOL_TRUE
_BOOL_FALSE = 2

#: The insertion-LNS operators: each move re-runs a cheapest-insertion heuristic, which makes
#: every local-search descent slow; iterated local search already ruins and recreates.
INSERTION_LNS_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
)


@dataclass(frozen=True)
class SearchConfig:
    """One search recipe; every field has a default that works on its own."""

    label: str = "gls-pci"
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    #: Used when ``ils`` is false: GUIDED_LOCAL_SEARCH, SIMULATED_ANNEALING, TABU_SEARCH, ...
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    gls_lambda: float = 0.1
    #: Iterated local search: ruin part of the solution, recreate it, improve, accept.
    ils: bool = False
    #: Several ruins: one of them, drawn at random, per perturbation.
    ruins: tuple[Ruin, ...] = ("sisr",)
    ruin_visits: int = 10
    ruined_routes: int = 2
    sisr_max_sequence: int = 10
    sisr_bypass_factor: float = 0.01
    recreate: str = "LOCAL_CHEAPEST_INSERTION"
    #: Order in which LOCAL_CHEAPEST_INSERTION re-inserts, e.g. ("SORTING_PROPERTY_RANDOM",).
    recreate_sorting: tuple[str, ...] = ()
    acceptance: Acceptance = "simulated_annealing"
    #: Simulated annealing (initial, final) temperature in cost units; None: automatic.
    temperatures: tuple[float, float] | None = None
    #: The same as multiples of the model's mean arc cost (scale-free, so one setting fits
    #: instances of any size or unit); used when the caller passes ``mean_arc_cost``.
    relative_temperatures: tuple[float, float] | None = None
    #: How the annealing temperature falls from initial to final over the time limit.
    cooling: Cooling = "exponential"
    improve_perturbed: bool = True
    #: Seconds for each LNS operator's inner search; None keeps OR-Tools' default.
    lns_time_limit: float | None = None
    bandit: bool = False
    #: Granular neighbourhoods: operators only try each node's nearest neighbours. Measured
    #: in OR-Tools 9.15 with iterated local search: descents became 30x slower, so keep 1.0.
    neighbors_ratio: float = 1.0
    min_neighbors: int = 1
    #: Model hint for the builder: visits get a large drop penalty so a first solution exists.
    optional_visits: bool = False
    #: Extra local-search operators switched on (names of ``local_search_operators`` fields).
    extra_operators: tuple[str, ...] = ()
    #: Local-search operators switched off, e.g. the slow insertion LNS ones.
    disabled_operators: tuple[str, ...] = ()
    #: OR-Tools routing has no random seed; builders use this to permute node order.
    seed: int = 0

    def with_seed(self, seed: int) -> SearchConfig:
        """Return a copy with another seed."""
        return replace(self, seed=seed)


def baseline_config() -> SearchConfig:
    """The plain setup most OR-Tools examples use: cheapest arc, then guided local search."""
    return SearchConfig(label="baseline", first_solution="PATH_CHEAPEST_ARC")


#: Operators whose moves cost much and rarely pay within a few seconds of iterated local
#: search on 100-customer VRPTW; measured with ``bench/solomon_tune.py``. Pickup-and-delivery
#: and inactive-chain operators are among them: a model that uses those features (pairs,
#: optional visits) should measure before it reuses this list.
SLOW_OPERATORS = (
    *INSERTION_LNS_OPERATORS,
    "use_relocate_expensive_chain",
    "use_relocate_subtrip",
    "use_exchange_subtrip",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
    "use_swap_active_chain",
    "use_lin_kernighan",
    "use_make_chain_inactive",
    "use_relocate_pair",
    "use_light_relocate_pair",
    "use_exchange_pair",
)


#: Operators left out of iterated local search's descent after each perturbation (besides
#: `SLOW_OPERATORS`): swapping two visits (exchange) and moving a chain of up to three
#: (or-opt) are moves the SISR ruin and recreate of neighbouring strings also makes, and
#: without them each descent is shorter, so more perturbations fit in the budget. Measured
#: with ``bench/solomon_tune.py`` (9.6 s, one core per run, recipes alternating, load 13-17),
#: mean gap over the 8 development files: seeds 0-2 tuned +3.49 %, without exchange +2.62 %,
#: without or-opt +3.01 %; seeds 3-5 tuned +3.56 %, without exchange +3.08 %, without both
#: +2.85 % (better of two runs from different seeds: +2.63 % against +2.19 %). Leaving out
#: cross or two-opt instead was worse (+6.54 %, +4.20 %).
ILS_SKIPPED_OPERATORS = ("use_exchange", "use_or_opt")


def tuned_config(seed: int = 0, *, temperature: float = 0.75) -> SearchConfig:
    """Iterated local search: SISR ruin, random-order cheapest insertion, simulated
    annealing acceptance, a lean set of local-search operators after each perturbation
    (relocate, cross, two-opt and the moves in and out of a route: `ILS_SKIPPED_OPERATORS`).

    ``temperature`` is the starting annealing temperature as a multiple of the mean arc
    cost (it cools to a hundredth of that); OR-Tools' automatic choice (0.1) accepted too
    few worse solutions to leave local optima within seconds.
    """
    return SearchConfig(
        label=f"ils-sisr-t{temperature:g}-s{seed}",
        first_solution="PARALLEL_CHEAPEST_INSERTION",
        metaheuristic="GREEDY_DESCENT",
        ils=True,
        ruins=("sisr",),
        recreate_sorting=("SORTING_PROPERTY_RANDOM",),
        relative_temperatures=(temperature, temperature / 100),
        disabled_operators=(*SLOW_OPERATORS, *ILS_SKIPPED_OPERATORS),
        seed=seed,
    )


def default_portfolio() -> tuple[SearchConfig, ...]:
    """The tuned pair run on two cores: the same recipe from two node orders.

    Runs of one recipe differ by seed more than recipes differ on average, so two independent
    runs of the best recipe beat pairing it with a hotter one (t=2.5), a linear cooling, a
    larger ruin or guided local search: measured with ``bench/solomon_tune.py`` over six
    seeds (better of two runs from different seeds, mean gap +1.42 % against +1.46 % for the
    previous moderate + hot pair, +1.46 % with linear cooling, +1.80 % with GLS).
    """
    return (tuned_config(1), tuned_config(0))


def search_parameters(
    *,
    time_limit: float,
    config: SearchConfig | None = None,
    mean_arc_cost: float | None = None,
    log: bool = False,
) -> Any:
    """Return ``RoutingSearchParameters`` for ``config`` stopping after ``time_limit`` s.

    ``mean_arc_cost`` (the model's average arc cost) turns ``relative_temperatures`` into
    absolute ones; without it they are ignored.
    """
    config = config if config is not None else SearchConfig()
    if config.relative_temperatures is not None and mean_arc_cost is not None:
        high, low = config.relative_temperatures
        config = replace(config, temperatures=(high * mean_arc_cost, low * mean_arc_cost))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        config.first_solution
    )
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.Value.Value(
        config.metaheuristic
    )
    params.guided_local_search_lambda_coefficient = config.gls_lambda
    params.time_limit.FromNanoseconds(int(time_limit * 1e9))
    if config.lns_time_limit is not None:
        params.lns_time_limit.FromNanoseconds(int(config.lns_time_limit * 1e9))
    params.use_multi_armed_bandit_concatenate_operators = config.bandit
    params.ls_operator_neighbors_ratio = config.neighbors_ratio
    params.ls_operator_min_neighbors = config.min_neighbors
    for name in config.extra_operators:
        setattr(params.local_search_operators, name, _BOOL_TRUE)
    for name in config.disabled_operators:
        setattr(params.local_search_operators, name, _BOOL_FALSE)
    if config.ils:
        _set_iterated_local_search(params, config)
    params.log_search = log
    return params


def solve_routing(
    routing: Any,
    config: SearchConfig,
    *,
    time_limit: float,
    mean_arc_cost: float | None = None,
    log: bool = False,
) -> Any:
    """Solve a ``RoutingModel`` with ``config``; the assignment, or None if none was found.

    Iterated local search has its own entry point in OR-Tools: with plain
    ``SolveWithParameters`` the ILS parameters are silently ignored.
    """
    params = search_parameters(
        time_limit=time_limit, config=config, mean_arc_cost=mean_arc_cost, log=log
    )
    if config.ils:
        return routing.SolveWithIteratedLocalSearch(params)
    return routing.SolveWithParameters(params)


def _set_iterated_local_search(params: Any, config: SearchConfig) -> None:
    params.use_iterated_local_search = True
    ils = params.iterated_local_search_parameters
    ils.improve_perturbed_solution = config.improve_perturbed
    rr = ils.ruin_recreate_parameters
    del rr.ruin_strategies[:]
    for name in config.ruins:
        ruin = rr.ruin_strategies.add()
        if name == "sisr":
            ruin.sisr.max_removed_sequence_size = config.sisr_max_sequence
            ruin.sisr.avg_num_removed_visits = config.ruin_visits
            ruin.sisr.bypass_factor = config.sisr_bypass_factor
        elif name == "random_walk":
            ruin.random_walk.num_removed_visits = config.ruin_visits
        else:
            ruin.spatially_close_routes.num_ruined_routes = config.ruined_routes
    if len(config.ruins) > 1:
        rr.ruin_composition_strategy = routing_ils_pb2.RuinCompositionStrategy.RUN_ONE_RANDOMLY
    rr.recreate_strategy.heuristic = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        config.recreate
    )
    if config.recreate_sorting:
        lci = rr.recreate_strategy.parameters.local_cheapest_insertion
        sorting = routing_heuristic_parameters_pb2.LocalCheapestInsertionParameters
        for prop in config.recreate_sorting:
            lci.insertion_sorting_properties.append(sorting.InsertionSortingProperty.Value(prop))
    accept = ils.reference_solution_acceptance_strategy
    if config.acceptance == "simulated_annealing":
        annealing = accept.simulated_annealing
        if config.temperatures is None:
            annealing.automatic_temperatures = True
        else:
            annealing.automatic_temperatures = False
            annealing.initial_temperature, annealing.final_temperature = config.temperatures
        annealing.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.Value.Value(
            config.cooling.upper()
        )
    else:
        accept.greedy_descent.SetInParent()


#: prctl(2)'s option: the signal this process gets when the thread that forked it ends.
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In a forked portfolio process on Linux: be killed when the process that forked it
    ends, however it ends. Its ``finally`` kills the searches it waits for, but a SIGKILL
    (the OOM killer, the service stopping an overrunning solver process, the solver process
    leaving with its killed server) runs no ``finally``: the searches went on at full CPU
    to their time limit, or for ever in the ruin step that loops (R21-02). A watcher thread
    cannot do this: OR-Tools holds the interpreter lock for the whole search."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the parent's finally is all there is
        return
    if os.getppid() != parent:  # it ended before the signal was asked for
        os._exit(0)


def _answer(
    sender: Connection, worker: Callable[..., Any], job: tuple[Any, ...], parent: int
) -> None:
    """A portfolio process: run one job, send ``(True, result)`` or ``(False, error)``."""
    _die_with_parent(parent)
    try:
        answer: tuple[bool, Any] = (True, worker(*job))
    except Exception as error:
        answer = (False, error)
    try:
        sender.send(answer)
    except Exception as error:  # an answer or error that does not pickle
        sender.send((False, RuntimeError(f"portfolio answer not sent: {type(error).__name__}")))
    finally:
        sender.close()


def run_portfolio(
    worker: Callable[..., R],
    jobs: Sequence[tuple[Any, ...]],
    *,
    key: Callable[[R], Any],
    processes: int | None = None,
    timeout: float | None = None,
) -> R | None:
    """Run ``worker(*job)`` for every job in parallel processes and return the best result.

    ``worker`` must be a module-level function and the jobs picklable. The best result has
    the smallest ``key`` (on a tie, the earlier job's). A worker that fails or dies is ignored
    as long as another one answers. With one job or one process and no ``timeout``,
    everything runs in this process.

    ``timeout`` (seconds) is a watchdog: workers that have not answered by then are killed
    and ``None`` is returned if none answered. OR-Tools 9.15's iterated local search can loop
    in its ruin step without ever checking its time limit (e.g. one visit, two vehicles with
    their own start and end nodes), so a search that must end needs a process it can kill.

    One process and one pipe per job, no `multiprocessing.Pool`: the pool's ``terminate``
    joins its handler threads and was seen to wait for one of them forever on a loaded
    machine (a test, and so a re-plan, that never ended); killing a plain process and
    joining it with a timeout cannot hang.
    """
    if not jobs:
        raise ValueError("run_portfolio needs at least one job")
    workers = min(len(jobs), processes if processes is not None else (os.cpu_count() or 1))
    if workers <= 1 and timeout is None:
        return min((worker(*job) for job in jobs), key=key)
    # fork starts in milliseconds and needs no re-import; elsewhere spawn is the only choice.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    # Typed as BaseContext, which lacks Process; every concrete context has it.
    context: Any = multiprocessing.get_context(method)
    results: list[tuple[int, R]] = []
    errors: list[BaseException] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting = list(enumerate(jobs))
    running: dict[Connection, tuple[int, BaseProcess]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, workers):
                index, job = waiting.pop(0)
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=_answer, args=(sender, worker, job, os.getpid()), daemon=True
                )
                process.start()
                sender.close()  # the child's end: EOF here once the child is gone
                running[receiver] = (index, process)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            for ready in wait(list(running), left):
                assert isinstance(ready, Connection)
                index, process = running.pop(ready)
                try:
                    ok, value = ready.recv()
                except (EOFError, OSError):  # died without answering (a crash, a kill)
                    ok, value = False, RuntimeError("a portfolio process died without answering")
                ready.close()
                process.join(5)
                if ok:
                    results.append((index, value))
                else:
                    errors.append(value)
    finally:
        for receiver, (_, process) in running.items():
            process.kill()  # still searching at the watchdog's limit
            receiver.close()
        for _, process in running.values():
            process.join(5)
    if not results:
        if errors:
            raise errors[0]
        return None
    return min((result for _, result in sorted(results, key=lambda r: r[0])), key=key)
