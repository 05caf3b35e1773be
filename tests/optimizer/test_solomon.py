"""Solomon VRPTW: the reader, the independent checker, the solver and the bench command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.cli import main
from optimizer import search, solomon

DATA = Path(__file__).parents[1] / "data"
TINY = DATA / "solomon_tiny.txt"
ROOT = Path(__file__).parents[2]
# CI keeps ../shared beside the repository; a git worktree under wt/ sits one level deeper.
SHARED = (
    next(
        (p for p in (ROOT / ".." / "shared", ROOT / ".." / ".." / "shared") if p.is_dir()),
        ROOT / ".." / "shared",
    )
    / "bench"
    / "solomon"
)

# A hand-checked solution of TINY6: 20.0 + 20.0 + 12.4 (5.0 + 6.0 + 1.4, truncated arcs).
TINY_ROUTES = [[1, 2], [3, 4], [5, 6]]
TINY_DISTANCE = 52.4


@pytest.fixture
def tiny() -> solomon.SolomonInstance:
    """The six-customer instance in tests/data."""
    return solomon.read_solomon(TINY)


def test_reader_parses_header_and_rows(tiny: solomon.SolomonInstance) -> None:
    """The reader takes name, fleet, capacity and every column of every row."""
    assert tiny.name == "TINY6"
    assert (tiny.num_vehicles, tiny.capacity, tiny.num_customers) == (3, 10, 6)
    assert (tiny.x[2], tiny.y[2], tiny.demand[2]) == (6, 8, 4)
    assert (tiny.ready[6], tiny.due[6], tiny.service[6]) == (60, 80, 2)
    assert tiny.due[0] == 100


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.replace("    3      -3", "    3      x3"), "7 integers"),
        (lambda t: t.replace("    4      -6", "    9      -6"), "out of sequence"),
        (lambda t: t.replace("10         50", "60         50"), "before ready time"),
        (lambda t: t.replace("VEHICLE", "VEHICLES"), "missing VEHICLE"),
        (lambda t: t.replace("   3          10", "   3"), "expected '<number> <capacity>'"),
    ],
)
def test_reader_rejects_malformed_input_naming_file_and_line(
    tmp_path: Path, mangle: object, message: str
) -> None:
    """A malformed file gives a ValueError that names the file, the line and the problem."""
    bad = tmp_path / "bad.txt"
    bad.write_text(mangle(TINY.read_text()))  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as error:
        solomon.read_solomon(bad)
    assert str(error.value).startswith(f"{bad}:")


def test_checker_accepts_hand_solution_and_recomputes_distance(
    tiny: solomon.SolomonInstance,
) -> None:
    """A feasible hand-made solution passes with its truncated-arc distance."""
    report = solomon.check_solomon(tiny, TINY_ROUTES)
    assert report.feasible, report.violations
    assert report.distance == pytest.approx(TINY_DISTANCE)


@pytest.mark.parametrize(
    ("routes", "violation"),
    [
        ([[6, 1], [2], [3, 4], [5]], "customer 1 starts at 65.6"),
        ([[1, 3, 2], [4], [5, 6]], "load 14 exceeds capacity 10"),
        ([[1, 2], [3, 4]], "customer 5 visited 0 times"),
        ([[1, 2], [3, 4], [5, 6, 1]], "customer 1 visited 2 times"),
        ([[1], [2], [3], [4, 5, 6]], "4 routes but only 3 vehicles"),
        ([[1, 2], [3, 4], [5, 6, 7]], "7 is not a customer"),
    ],
)
def test_checker_rejects_infeasible_solutions(
    tiny: solomon.SolomonInstance, routes: list[list[int]], violation: str
) -> None:
    """Late service, overload, a missing or repeated customer, too many routes are caught."""
    report = solomon.check_solomon(tiny, routes)
    assert not report.feasible
    assert any(violation in v for v in report.violations), report.violations


def test_checker_enforces_the_depot_closing_time(tiny: solomon.SolomonInstance) -> None:
    """A route that is back at the depot after its due date is rejected."""
    early_close = dataclasses.replace(tiny, due=(62, *tiny.due[1:]))
    report = solomon.check_solomon(early_close, TINY_ROUTES)
    assert any("back at the depot at 63.4" in v for v in report.violations)


def test_solver_solves_tiny_instance_to_a_checked_solution(
    tiny: solomon.SolomonInstance,
) -> None:
    """The solver's answer on TINY6 passes the checker and is at least as short as by hand."""
    result = solomon.solve_solomon(tiny, time_limit=0.5, processes=1)
    report = solomon.check_solomon(tiny, result.routes)
    assert result.feasible
    assert report.feasible
    assert result.distance == pytest.approx(report.distance)
    assert result.distance <= TINY_DISTANCE


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/bench/solomon is not beside the repo")
def test_portfolio_solves_cut_of_r101_feasibly() -> None:
    """Two processes on the first 25 customers of R101 (tight windows) give a checked answer."""
    instance = solomon.read_solomon(SHARED / "R101.txt").head(25)
    result = solomon.solve_solomon(instance, time_limit=2.0)
    assert result.feasible
    assert solomon.check_solomon(instance, result.routes).feasible


def test_baseline_config_finds_the_same_kind_of_answer(tiny: solomon.SolomonInstance) -> None:
    """The plain OR-Tools setup runs through the same path and is checked the same way."""
    result = solomon.solve_solomon(
        tiny, time_limit=0.3, configs=[search.baseline_config()], processes=1
    )
    assert result.feasible


def test_search_parameters_carry_the_iterated_local_search_settings() -> None:
    """Relative temperatures scale by the mean arc cost; the cooling schedule is passed on."""
    config = dataclasses.replace(search.tuned_config(temperature=2.0), cooling="linear")
    params = search.search_parameters(time_limit=1.0, config=config, mean_arc_cost=50.0)
    ils = params.iterated_local_search_parameters
    annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
    assert annealing.initial_temperature == pytest.approx(100.0)
    assert annealing.final_temperature == pytest.approx(1.0)
    assert annealing.cooling_schedule_strategy == 2  # LINEAR
    assert ils.ruin_recreate_parameters.ruin_strategies[0].sisr.avg_num_removed_visits == 10


@st.composite
def instances(draw: st.DrawFn) -> solomon.SolomonInstance:
    """Random small VRPTW instances in which every customer can be served alone."""
    n = draw(st.integers(1, 8))
    capacity = draw(st.integers(5, 30))
    horizon = 300
    xs, ys, demand, ready, due, service = [50], [50], [0], [0], [horizon], [0]
    for _ in range(n):
        x, y = draw(st.integers(0, 100)), draw(st.integers(0, 100))
        reach = ((x - 50) ** 2 + (y - 50) ** 2) ** 0.5  # at most 70.8
        start = draw(st.integers(0, 150))
        width = draw(st.integers(0, 60))
        xs.append(x)
        ys.append(y)
        demand.append(draw(st.integers(0, capacity)))
        ready.append(start)
        due.append(max(start + width, int(reach) + 1))
        service.append(draw(st.integers(0, 20)))
    return solomon.SolomonInstance(
        name="random",
        num_vehicles=n,  # one vehicle per customer always suffices
        capacity=capacity,
        x=tuple(xs),
        y=tuple(ys),
        demand=tuple(demand),
        ready=tuple(ready),
        due=tuple(due),
        service=tuple(service),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_every_solution_the_solver_returns_passes_the_checker(
    instance: solomon.SolomonInstance,
) -> None:
    """On random feasible instances the solver's routes pass the checker, distance agreed."""
    result = solomon.solve_solomon(instance, time_limit=0.2, processes=1)
    report = solomon.check_solomon(instance, result.routes)
    assert report.feasible, report.violations
    assert result.feasible
    assert result.distance == pytest.approx(report.distance)


def test_cli_prints_one_json_line_per_instance(capsys: pytest.CaptureFixture[str]) -> None:
    """`bench solomon --json` prints the documented fields for each file."""
    code = main(["bench", "solomon", str(TINY), "--time-limit", "0.5", "--json"])
    line = json.loads(capsys.readouterr().out.strip())
    assert code == 0
    assert set(line) == {"instance", "vehicles", "distance", "seconds", "feasible", "routes"}
    assert line["feasible"] is True
    assert sorted(c for route in line["routes"] for c in route) == [1, 2, 3, 4, 5, 6]


def test_cli_rejects_a_malformed_file_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad file is one message on stderr and exit code 2, no traceback."""
    bad = tmp_path / "bad.txt"
    bad.write_text("NAME\nVEHICLE\n")
    code = main(["bench", "solomon", str(bad), "--time-limit", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("nachtroute: error: ")
    assert "bad.txt" in err


def test_cli_rejects_an_instance_too_long_for_a_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A depot due date beyond 24 hours (x 10 seconds) is exit 2 naming the instance."""
    long = tmp_path / "long.txt"
    long.write_text(
        TINY.read_text().replace("0        100          0", "0       9000          0", 1)
    )
    code = main(["bench", "solomon", str(long), "--time-limit", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "TINY6" in err
    assert "night of 90000 s" in err


def test_solomon_plan_is_the_night_solvers_plan(tiny: solomon.SolomonInstance) -> None:
    """`solve_solomon` goes through `optimizer.solve`: its method names the night solver's
    search, and the routes it reports are those of the plan."""
    result = solomon.solve_solomon(tiny, time_limit=0.3, processes=1, solution_limit=20)
    problem = solomon.problem_from_solomon(tiny)
    assert problem.night.restocks_allowed is False
    assert result.config.startswith("or-tools: ")
    assert sorted(c for route in result.routes for c in route) == [1, 2, 3, 4, 5, 6]
