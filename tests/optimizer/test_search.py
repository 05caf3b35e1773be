"""The night solver's search: the tuned portfolio, its watchdog, seeds, and a model that has
only the parts a problem uses."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from optimizer import search, solomon
from optimizer.checker import check
from optimizer.generate import generated_night
from optimizer.model import Problem
from optimizer.plan import StepType
from optimizer.routing_model import NightModel
from optimizer.solve import solve
from optimizer.timeline import departure
from tests.optimizer.conftest import HOUR, line_problem, nurse, planned

TINY = Path(__file__).parents[1] / "data" / "solomon_tiny.txt"


def _bag_night(*, restocks_allowed: bool) -> Problem:
    """One nurse with one syringe and two visits that each need one."""
    visits = [planned(f"V{k}", 5 + 5 * k, 0, 6 * HOUR, materials={"syringe": 1}) for k in range(2)]
    return _with_restocks(line_problem([nurse(bag={"syringe": 1})], visits), restocks_allowed)


def _with_restocks(problem: Problem, allowed: bool) -> Problem:
    night = problem.night.model_copy(update={"restocks_allowed": allowed})
    return problem.model_copy(update={"night": night})


def _model(problem: Problem) -> NightModel:
    departures = {n.id: departure(problem, n) for n in problem.nurses}
    return NightModel(problem, list(problem.visits), departures)


def test_solomon_instance_goes_through_solve_and_passes_both_checkers() -> None:
    """TINY6 as a night: the plan passes the night checker, its routes the Solomon checker."""
    instance = solomon.read_solomon(TINY)
    problem = solomon.problem_from_solomon(instance)
    plan = solve(problem, time_limit=0.5, processes=1)
    assert check(problem, plan) == []
    assert not plan.unassigned
    routes = solomon.routes_from_plan(plan)
    report = solomon.check_solomon(instance, routes)
    assert report.feasible, report.violations
    assert report.distance == plan.summary.travel_seconds / 10


def test_forbidden_restocks_give_no_restock_step() -> None:
    """With restocks forbidden the second syringe visit is left out, never restocked for."""
    allowed = solve(_bag_night(restocks_allowed=True), time_limit=0.5)
    assert any(s.type == StepType.RESTOCK for r in allowed.routes for s in r.steps)
    problem = _bag_night(restocks_allowed=False)
    plan = solve(problem, time_limit=0.5)
    assert not any(s.type == StepType.RESTOCK for r in plan.routes for s in r.steps)
    assert len(plan.unassigned) == 1
    assert check(problem, plan) == []


def test_model_builds_only_the_parts_a_problem_uses() -> None:
    """No restock nodes when forbidden, no position or stability dimension without their use."""
    assert _model(_bag_night(restocks_allowed=True)).restock_nodes
    plain = _model(_bag_night(restocks_allowed=False))
    assert not plain.restock_nodes
    assert sorted(plain.routing.GetAllDimensionNames()) == ["syringe", "time"]
    pinned = line_problem(
        [nurse("N1"), nurse("N2")],
        [planned("P", 3, 0, HOUR, pin={"nurse": "N2", "position": 0})],
    )
    assert "position" in _model(pinned).routing.GetAllDimensionNames()


def test_same_seed_and_solution_limit_repeat_the_plan() -> None:
    """Stopped by a solution count rather than the clock, a seeded run is repeated exactly,
    in this process and in the forked portfolio alike."""
    problem = solomon.problem_from_solomon(solomon.read_solomon(TINY))
    for processes in (1, None):
        plans = [
            solve(problem, time_limit=30, seed=7, solution_limit=40, processes=processes)
            for _ in range(2)
        ]
        assert plans[0].routes == plans[1].routes
        assert plans[0].stats is not None and plans[1].stats is not None
        assert plans[0].stats.objective == plans[1].stats.objective


def test_tuned_search_on_a_night_with_fewer_visits_than_nurses_returns() -> None:
    """OR-Tools' iterated local search can loop on such nights; solve still answers."""
    problem = line_problem([nurse("N1"), nurse("N2")], [planned("A", 4, 0, HOUR)])
    plan = solve(problem, time_limit=2.2, configs=[search.tuned_config(1)])
    assert plan.assignments() == {"A": ["N1"]} or plan.assignments() == {"A": ["N2"]}


def _sleeper(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_portfolio_watchdog_kills_a_worker_that_overruns() -> None:
    """A worker still busy at the timeout is dropped; the one that answered wins."""
    # The watchdog's limit leaves a loaded machine time to start a process and answer.
    best = search.run_portfolio(_sleeper, [(60.0,), (0.01,)], key=lambda s: -s, timeout=8.0)
    assert best == 0.01
    assert search.run_portfolio(_sleeper, [(60.0,)], key=lambda s: s, timeout=0.2) is None


def _either(what: str) -> float:
    if what == "die":
        os._exit(3)  # as a worker killed by the kernel or crashed in native code
    return 0.01


def _in_a_thread(jobs: list[tuple[str]]) -> list[object]:
    """`run_portfolio` on ``jobs`` with no watchdog, in a thread, so a regression fails the
    test instead of hanging it: ``[]`` if it did not end in 120 s, else its answer or error."""
    ended: list[object] = []

    def run() -> None:
        try:
            ended.append(search.run_portfolio(_either, jobs, key=lambda s: s, processes=2))
        except RuntimeError as error:
            ended.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    return ended


def test_a_portfolio_worker_that_dies_is_ignored_and_nothing_waits_for_it() -> None:
    """A worker that exits without answering, with no watchdog set: the other worker's
    answer is returned; with every worker dead, an error. (`multiprocessing.Pool` waited for
    a dead worker's answer forever.)"""
    assert _in_a_thread([("die",), ("answer",)]) == [0.01]
    ended = _in_a_thread([("die",), ("die",)])
    assert len(ended) == 1 and isinstance(ended[0], RuntimeError), ended


def test_ils_requires_every_visit_only_when_leaving_one_out_cannot_pay() -> None:
    """With every visit in the first plan and each omission penalty above that plan's whole
    objective, ILS searches without the visits' disjunctions; a penalty below it keeps them
    (dropping a visit might then pay). Both plans pass the checker with every visit."""
    problem = solomon.problem_from_solomon(solomon.read_solomon(TINY))
    plan = solve(problem, time_limit=2.2, configs=[search.tuned_config(1)])
    assert plan.stats is not None and "every visit required" in plan.stats.method
    assert not plan.unassigned and check(problem, plan) == []

    classes = dict(problem.urgency_classes)
    classes["planned"] = classes["planned"].model_copy(update={"omission_penalty": 1})
    cheap = problem.model_copy(update={"urgency_classes": classes})
    plan = solve(cheap, time_limit=2.2, configs=[search.tuned_config(1)])
    assert plan.stats is not None and "every visit required" not in plan.stats.method
    assert check(cheap, plan) == []


def test_guided_search_improves_lateness_from_the_first_plan() -> None:
    """GLS starts from a first plan built apart and cuts urgency lateness (run inside one
    OR-Tools call it stayed at its construction on such nights); stopped by a solution
    count, so the test does not depend on the machine's speed."""
    problem = generated_night(nurses=3, visits=45, seed=0)
    first = solve(problem, time_limit=60, first_only=True)
    plan = solve(
        problem, time_limit=60, configs=[search.SearchConfig()], processes=1, solution_limit=60
    )
    late = sum(plan.summary.lateness_seconds_by_urgency.values())
    assert late < sum(first.summary.lateness_seconds_by_urgency.values())
    assert check(problem, plan) == []


def test_nights_with_lateness_costs_search_with_guided_local_search() -> None:
    """The ILS recipe (tuned on distance) is kept for distance-only nights."""
    problem = generated_night(nurses=3, visits=45, seed=0)
    plan = solve(problem, time_limit=2.2)
    assert plan.stats is not None and plan.stats.method.startswith("or-tools: gls-pci")
