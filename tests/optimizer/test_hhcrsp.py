"""The HHCRSP benchmark: reader, independent objective checker, and a solve through
`optimizer.solve` on two small published instances (tests/data/hhcrsp/README.md)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optimizer.checker import check
from optimizer.hhcrsp import (
    check_hhcrsp,
    escalation_configs,
    problem_from_hhcrsp,
    published_cost,
    read_hhcrsp,
    scale_of,
    solve_hhcrsp,
)

DATA = Path(__file__).parents[1] / "data" / "hhcrsp"
MANKOWSKA_A1 = DATA / "InstanzCPLEX_HCSRP_10_1.json"
KUMMER_10 = DATA / "HHCRSP_10_3_88_1.6_R_C.json"


def _solution(instance: Path) -> Path:
    [path] = DATA.glob(f"sol-{instance.stem}-*.json")
    return path


@pytest.mark.parametrize(
    ("path", "cost", "distance", "tardiness", "max_tardiness"),
    [
        (MANKOWSKA_A1, 218.200, 654.596, 0.0, 0.0),
        (KUMMER_10, 150.667, 335.0, 79.0, 38.0),
    ],
)
def test_published_best_solutions_check_to_their_published_cost(
    path: Path, cost: float, distance: float, tardiness: float, max_tardiness: float
) -> None:
    instance = read_hhcrsp(path)
    report = published_cost(instance, _solution(path))
    assert report.feasible, report.problems
    assert report.distance == pytest.approx(distance, abs=1e-3)
    assert report.total_tardiness == pytest.approx(tardiness, abs=1e-3)
    assert report.max_tardiness == pytest.approx(max_tardiness, abs=1e-3)
    assert report.cost == pytest.approx(cost, abs=5e-3)


def test_the_reader_reads_double_services_and_their_gaps() -> None:
    instance = read_hhcrsp(MANKOWSKA_A1)
    assert len(instance.patients) == 10
    assert [c for c, _ in instance.caregivers] == ["c1", "c2", "c3"]
    doubles = {p.id: p.gap for p in instance.patients if len(p.services) == 2}
    assert doubles == {"p8": None, "p9": (51.0, 102.0), "p10": (8.0, 16.0)}
    assert scale_of(instance) == 100  # three-decimal distances
    assert scale_of(read_hhcrsp(KUMMER_10)) == 1  # integer road times


def _broken(path: Path, change: Any) -> list[str]:
    instance = read_hhcrsp(path)
    solution = json.loads(_solution(path).read_text())
    change(solution)
    return list(check_hhcrsp(instance, solution).problems)


def test_the_checker_catches_what_a_solution_gets_wrong() -> None:
    def drop_first(solution: dict[str, Any]) -> None:
        solution["routes"][0]["locations"].pop(0)

    def too_early(solution: dict[str, Any]) -> None:
        stop = solution["routes"][0]["locations"][0]
        stop["arrival_time"] = 0.0
        stop["departure_time"] = stop["departure_time"] - stop["arrival_time"]

    def wrong_caregiver(solution: dict[str, Any]) -> None:
        solution["routes"][0]["caregiver_id"] = solution["routes"][1]["caregiver_id"]

    assert any("not performed" in p for p in _broken(MANKOWSKA_A1, drop_first))
    assert any("before" in p for p in _broken(MANKOWSKA_A1, too_early))
    assert any("cannot perform" in p for p in _broken(MANKOWSKA_A1, wrong_caregiver))


def test_the_instance_as_a_night_links_double_services() -> None:
    instance = read_hhcrsp(MANKOWSKA_A1)
    problem, scale = problem_from_hhcrsp(instance)
    links = {(d.first, d.second): (d.min_seconds, d.max_seconds) for d in problem.dependencies}
    assert links == {
        ("p8:s5", "p8:s6"): (0, 0),
        ("p9:s1", "p9:s4"): (51 * scale, 102 * scale),
        ("p10:s3", "p10:s6"): (8 * scale, 16 * scale),
    }
    assert len(problem.visits) == 13


@pytest.mark.parametrize("path", [MANKOWSKA_A1, KUMMER_10])
def test_solving_gives_a_feasible_solution_the_checkers_agree_on(path: Path) -> None:
    instance = read_hhcrsp(path)
    result = solve_hhcrsp(instance, time_limit=2.0, processes=1)
    assert result.report.feasible, result.report.problems
    # Re-checked from the printed solution alone: the same objective.
    again = check_hhcrsp(instance, copy.deepcopy(result.solution))
    assert again.cost == pytest.approx(result.report.cost)
    assert again.cost >= {MANKOWSKA_A1: 218.19, KUMMER_10: 150.66}[path]


def _crowded_instance(path: Path) -> Path:
    """Three patients 10 from the depot and 0 apart, every window [0, 10], services of 10:
    two caregivers (one with both services) cannot start all four services by 10. Best:
    both start at 10 and at 20 (two services 10 late), distance 40; cost (40 + 20 + 10) / 3."""
    data = {
        "patients": [
            {
                "id": f"p{k}",
                "location": [0, k],
                "time_window": [0, 10],
                "required_caregivers": needs,
                **({"synchronization": {"type": "simultaneous"}} if len(needs) == 2 else {}),
            }
            for k, needs in enumerate(
                (
                    [{"service": "s1", "duration": 10}],
                    [{"service": "s1", "duration": 10}],
                    [{"service": "s1", "duration": 10}, {"service": "s2", "duration": 10}],
                ),
                start=1,
            )
        ],
        "services": [{"id": "s1", "default_duration": 10}, {"id": "s2", "default_duration": 10}],
        "caregivers": [{"id": "c1", "abilities": ["s1"]}, {"id": "c2", "abilities": ["s1", "s2"]}],
        "central_offices": [{"id": "d", "location": [0, 0]}],
        "distances": [[0, 10, 10, 10], [10, 0, 0, 0], [10, 0, 0, 0], [10, 0, 0, 0]],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_an_instance_that_must_be_late_is_solved_to_its_optimum(tmp_path: Path) -> None:
    # No plan without tardiness exists, so the search runs at a cap on tardiness and
    # loosens it while a service is out (`solve_hhcrsp`): the optimum needs a cap of 10.
    instance = read_hhcrsp(_crowded_instance(tmp_path / "crowded.json"))
    result = solve_hhcrsp(instance, time_limit=3.0, processes=1)
    assert result.report.feasible, result.report.problems
    assert result.report.max_tardiness == pytest.approx(10)
    assert result.report.total_tardiness == pytest.approx(20)
    assert result.report.cost == pytest.approx(70 / 3)


def test_a_little_tardiness_is_taken_where_it_buys_a_shorter_route(tmp_path: Path) -> None:
    # Two patients 1 apart, 10 and 15 from the depot, windows [0, 10] and [0, 20], services
    # of 10. On time needs both caregivers (distance 50, cost 50 / 3); one caregiver doing
    # both starts the second 1 late (distance 26, cost (26 + 1 + 1) / 3): the search at no
    # tardiness goes on one rung looser (`solve_hhcrsp`) and must find it.
    data = {
        "patients": [
            {
                "id": f"p{k}",
                "location": [0, k],
                "time_window": [0, end],
                "required_caregivers": [{"service": "s1", "duration": 10}],
            }
            for k, end in ((1, 10), (2, 20))
        ],
        "services": [{"id": "s1", "default_duration": 10}],
        "caregivers": [{"id": "c1", "abilities": ["s1"]}, {"id": "c2", "abilities": ["s1"]}],
        "central_offices": [{"id": "d", "location": [0, 0]}],
        "distances": [[0, 10, 15], [10, 0, 1], [15, 1, 0]],
    }
    path = tmp_path / "near.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    instance = read_hhcrsp(path)
    result = solve_hhcrsp(instance, time_limit=3.0, processes=1)
    assert result.report.feasible, result.report.problems
    assert result.report.distance == pytest.approx(26)
    assert result.report.cost == pytest.approx(28 / 3)


def test_the_night_plan_itself_passes_the_night_checker() -> None:
    from optimizer.solve import solve

    problem, _ = problem_from_hhcrsp(read_hhcrsp(KUMMER_10))
    plan = solve(problem, time_limit=1.0, processes=1)
    assert plan.unassigned == []
    assert check(problem, plan) == []


def test_cli_prints_one_json_line_per_instance_and_refuses_a_bad_file(tmp_path: Path) -> None:
    # What is tested is the command line, not the speed: 4 s, because with 1 s a fresh
    # process on a machine paused 0.5 s in every 0.55 s found no plan with every service
    # (its first 0.5 s construction cut short) in 4 runs of 5 and exited 1 as INFEASIBLE.
    command = [sys.executable, "-m", "api.cli", "bench", "hhcrsp", "--time-limit", "4", "--json"]
    done = subprocess.run([*command, str(KUMMER_10)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert set(line) == {
        "instance",
        "cost",
        "distance",
        "tardiness",
        "max_tardiness",
        "seconds",
        "feasible",
        "solution",
    }
    assert line["feasible"] is True
    assert {r["caregiver_id"] for r in line["solution"]["routes"]} == {"c1", "c2", "c3"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"patients": [{"id": "p1"}], "services": []}')
    refused = subprocess.run([*command, str(bad)], capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "not a UniUD HHCRSP instance" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_tardy_instance_is_searched_from_the_construction_that_placed_every_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # K10-88 needs tardiness; at the smallest cap with a complete first plan only local
    # cheapest cost insertion places every service (parallel cheapest insertion leaves a
    # pair out). The search at the tighter cap must start from that construction: from the
    # other one it starts with the pair out (E1: 6 services out, 30 s at +73 %). The real
    # `optimizer.solve` runs; the spy only records what it was asked and what it answered.
    import optimizer.hhcrsp as hhcrsp

    real = hhcrsp.solve
    calls: list[tuple[bool, bool, tuple[str, ...], int, int]] = []

    def recording(problem: Any, **kwargs: Any) -> Any:
        plan = real(problem, **kwargs)
        strategies = tuple(c.first_solution for c in kwargs.get("configs") or ())
        first_only = bool(kwargs.get("first_only"))
        warm = kwargs.get("warm_start") is not None
        cap = problem.visits[0].late_tolerance_seconds
        calls.append((first_only, warm, strategies, len(plan.unassigned), cap))
        return plan

    monkeypatch.setattr(hhcrsp, "solve", recording)
    result = solve_hhcrsp(read_hhcrsp(KUMMER_10), time_limit=3.0, processes=1)
    assert result.report.feasible, result.report.problems
    complete = [(cap, s[0]) for first, _, s, out, cap in calls if first and out == 0]
    smallest = min(cap for cap, _ in complete)
    placed_all = {name for cap, name in complete if cap == smallest}
    cold = [s for first, warm, s, _, _ in calls if not first and not warm and s]
    assert cold, calls
    for strategies in cold:
        assert set(strategies) <= placed_all, (strategies, placed_all)


def test_the_tardy_search_runs_on_both_cores_from_the_given_construction() -> None:
    for name in ("PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_COST_INSERTION"):
        configs = escalation_configs(name, seed=3)
        assert [c.first_solution for c in configs] == [name, name]
        assert len({c.seed for c in configs}) == 2
