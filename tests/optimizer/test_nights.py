"""Five small nights replayed from other routing tools' bug reports (issue 9), fictional data.

Times are seconds from 23:00 unless a test says otherwise. Each night stands for a kind of
fault: a rule dropped without a word, a timeline that disagrees with what it reports, a quote
that disagrees with the re-plan, a crash on input the schema accepts, a misleading clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli.optimizer_commands import print_plan
from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.model import Problem
from optimizer.plan import ReasonCode, StepType
from optimizer.quote import quote
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, NIGHT_START, line_problem, nurse, planned, unplanned


def _visit_step(plan, visit_id):  # type: ignore[no-untyped-def]
    return next(s for r in plan.routes for s in r.steps if s.visit_id == visit_id)


# ------------------------------------------------------------------ 1. pins kept or named


def _pin_night(nurses: int) -> Problem:
    """V2 pinned as N1's first stop 10 min out; V1 (23:00-23:20) cannot come after it."""
    return line_problem(
        [nurse(f"N{n + 1}") for n in range(nurses)],
        [
            planned("V1", 15, 0, 20 * MINUTE),
            planned("V2", 10, 0, 4 * HOUR, pin={"nurse": "N1", "position": 0}),
            planned("V3", 5, 0, 4 * HOUR),
        ],
    )


def test_pin_position_holds_and_the_visit_it_keeps_out_names_it() -> None:
    """One nurse: V2 is her first stop, V1 is left out with a reason that names the pin."""
    problem = _pin_night(1)
    plan = solve(problem, time_limit=0.5)
    assert plan.route("N1").visit_ids()[0] == "V2"
    assert check(problem, plan) == []
    left = {u.visit_id: u for u in plan.unassigned}
    assert "V1" in left
    assert left["V1"].reason == ReasonCode.PIN_INFEASIBLE
    assert "V2" in left["V1"].message


def test_pin_position_holds_with_two_nurses() -> None:
    """Two nurses: the pin holds and the second nurse takes V1."""
    problem = _pin_night(2)
    plan = solve(problem, time_limit=0.5)
    assert plan.route("N1").visit_ids()[0] == "V2"
    assert plan.assignments()["V1"] == ["N2"]
    assert check(problem, plan) == []


def test_checker_knows_pin_positions_and_en_route() -> None:
    """A plan that moves a pinned visit or puts a stop before an en-route visit is rejected."""
    problem = _pin_night(1)
    moved = evaluate(problem, {"N1": ["V3", "V2"]})
    assert "pin_position" in {v.code for v in check(problem, moved)}
    en_route = line_problem(
        [nurse("N1")],
        [
            planned("V1", 3, 0, 4 * HOUR, state="en_route", assigned_nurses=["N1"]),
            planned("V2", 1, 0, 4 * HOUR),
        ],
        now=60,
    )
    wrong = evaluate(en_route, {"N1": ["V2", "V1"]})
    assert "en_route_moved" in {v.code for v in check(en_route, wrong)}
    assert "en_route_moved" in {v.code for v in wrong.violations}
    right = solve(en_route, time_limit=0.3)
    assert right.route("N1").visit_ids()[0] == "V1"
    assert check(en_route, right) == []


# ------------------------------------------------- 2. a missed break is no hidden wait


def test_missed_break_is_reported_not_hidden_as_waiting() -> None:
    """At 03:10, the 02:00-03:00 break untaken: the acute call 2 min away starts 03:12."""
    now = 4 * HOUR + 10 * MINUTE
    problem = line_problem(
        [
            nurse(
                "N1",
                break_rule={
                    "duration_seconds": 30 * MINUTE,
                    "window": {"start": 3 * HOUR, "end": 4 * HOUR},
                },
                current_location=0,
                available_at=now,
            )
        ],
        [unplanned("A1", 2, now, "acute")],
        now=now,
    )
    plan = solve(problem, time_limit=0.5)
    step = _visit_step(plan, "A1")
    assert step.start == now + 2 * MINUTE
    assert step.waiting_seconds == 0
    route = plan.route("N1")
    assert not any(s.type == StepType.BREAK and s.start > 4 * HOUR for s in route.steps)
    assert "break_missed" in {v.code for v in plan.violations}
    # Whatever the checker finds is listed in the plan too.
    listed = {(v.code, v.nurse_id, v.visit_id) for v in plan.violations}
    assert {(v.code, v.nurse_id, v.visit_id) for v in check(problem, plan)} <= listed


# ---------------------------------------------- 3. the quote agrees with the re-plan


def test_quote_counts_the_night_bag() -> None:
    """An empty bag 3 min away loses to a full one 20 min away; evaluating and re-planning
    agree (the base is far, so restocking first would be later still)."""
    bag = {"syringe": 2}
    problem = line_problem(
        [
            nurse("NEAR", start_location=3, end_location=3, bag=bag, bag_now={"syringe": 0}),
            nurse("FAR", start_location=20, end_location=20, bag=bag),
        ],
        [unplanned("A1", 0, 0, "acute", materials={"syringe": 1})],
        night={
            "start": NIGHT_START.isoformat(),
            "end": "2026-11-24T07:00:00+01:00",
            "base_location": 30,  # a restock would take her 27 min out of her way
        },
    )
    empty = problem.model_copy(update={"visits": []})
    plan = solve(empty, time_limit=0.3)
    options = quote(problem, plan, problem.visit("A1"))
    best = options[0]
    assert best.feasible
    assert best.nurse_id == "FAR"
    assert best.eta == 20 * MINUTE
    near = next(o for o in options if o.nurse_id == "NEAR")
    # Empty-handed she cannot; only after the long way round by the base, much later.
    assert near.restock_before and near.eta > best.eta
    inserted = evaluate(problem, {"FAR": ["A1"]})
    assert inserted.violations == []
    assert _visit_step(inserted, "A1").arrival == best.eta
    replanned = solve(problem, time_limit=0.5)
    assert replanned.assignments()["A1"] == ["FAR"]


# ---------------------------------------------------- 4. no nurses is not a crash


@pytest.mark.parametrize("with_visits", [True, False])
def test_no_nurses_leaves_every_visit_out_with_a_reason(with_visits: bool) -> None:
    """`"nurses": []`: every visit unassigned with a reason, nothing else."""
    visits = [planned("V1", 1, 0, HOUR), unplanned("A1", 2, 0, "acute")] if with_visits else []
    problem = line_problem([], visits)
    plan = solve(problem, time_limit=0.2)
    assert plan.routes == []
    assert {u.visit_id for u in plan.unassigned} == {v["id"] for v in visits}
    assert all(u.reason == ReasonCode.NOT_ENOUGH_NURSES for u in plan.unassigned)
    assert all("no nurse" in u.message for u in plan.unassigned)
    assert check(problem, plan) == []


def test_no_nurses_on_the_command_line(tmp_path: Path) -> None:
    """`nachtroute solve` on a night without nurses exits 0 and names every visit."""
    problem = line_problem([], [planned("V1", 1, 0, HOUR)])
    path = tmp_path / "night.json"
    path.write_text(problem.model_dump_json())
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from api.cli import main; sys.exit(main(sys.argv[1:]))",
            "solve",
            str(path),
            "--time-limit",
            "0.2",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "V1" in done.stdout and "Traceback" not in done.stderr


def test_travel_beyond_the_schema_bound_is_refused() -> None:
    """Travel times are bounded (a week); larger numbers are refused with the field named."""
    data = json.loads(line_problem([nurse()], []).model_dump_json())
    data["travel"][0]["seconds"][0][1] = 1e300
    with pytest.raises(ValueError, match=r"travel\.0\.seconds"):
        Problem.model_validate(data)


def test_unreachable_visit_says_unreachable() -> None:
    """A visit no road reaches tonight is left out as unreachable, not as 'no room'."""
    problem = line_problem([nurse()], [planned("V1", 1, 0, 4 * HOUR)], size=2)
    data = json.loads(problem.model_dump_json())
    data["travel"][0]["seconds"] = [[0, 7 * 86400], [7 * 86400, 0]]
    problem = Problem.model_validate(data)
    plan = solve(problem, time_limit=0.2)
    (left,) = plan.unassigned
    assert left.reason == ReasonCode.UNREACHABLE_IN_WINDOW
    assert "unreachable" in left.message


# ------------------------------------------ 5. wall-clock in the night's time zone


def test_clock_follows_the_dst_change(capsys: pytest.CaptureFixture[str]) -> None:
    """24-25 Oct 2026: 25200 s after 23:00+02:00 is 05:00, and the night is 23:00-07:00."""
    problem = Problem.model_validate(
        {
            "night": {"start": "2026-10-24T23:00:00+02:00", "end": "2026-10-25T07:00:00+01:00"},
            "travel": [{"profile": "car", "seconds": [[0, 60], [60, 0]]}],
            "nurses": [nurse("N1")],
            "visits": [planned("V1", 1, 25200, 25200)],
        }
    )
    assert problem.night.horizon == 9 * HOUR
    assert problem.night.clock(25200) == "05:00"
    assert problem.night.moment(25200).isoformat() == "2026-10-25T05:00:00+01:00"
    plan = solve(problem, time_limit=0.3)
    print_plan(problem, plan)
    out = capsys.readouterr().out
    assert "23:00-07:00" in out
    assert "05:00  05:10  visit    V1" in out


def test_clock_uses_the_zone_even_when_start_is_given_in_utc() -> None:
    """A night stored in UTC (as the service does) still prints Amsterdam wall-clock."""
    start = NIGHT_START.astimezone(__import__("datetime").UTC)
    problem = line_problem(
        [nurse()], [], night={"start": start.isoformat(), "end": "2026-11-24T07:00:00+01:00"}
    )
    assert problem.night.clock(0) == "23:00"
    assert problem.night.clock(HOUR) == "00:00"


# --------------------------------------------------- reasons that do not mislead


def test_a_visit_kept_out_by_a_break_says_so() -> None:
    """The 01:00-01:30 break fills the only window V1 has: V1's reason names the break."""
    problem = line_problem(
        [
            nurse(
                "N1",
                break_rule={
                    "duration_seconds": 30 * MINUTE,
                    "window": {"start": 2 * HOUR, "end": 2 * HOUR + 30 * MINUTE},
                },
            )
        ],
        [planned("V1", 1, 2 * HOUR, 2 * HOUR + 15 * MINUTE)],
    )
    plan = solve(problem, time_limit=0.3)
    (left,) = plan.unassigned
    assert left.visit_id == "V1"
    assert "break" in left.message and "01:00" in left.message
    assert check(problem, plan) == []


def test_quote_offers_a_restock_first_with_its_later_eta() -> None:
    """With the base on the way, the empty bag 3 min away restocks first: ETA 00:13, and the
    re-plan does the same."""
    bag = {"syringe": 2}
    problem = line_problem(
        [
            nurse("NEAR", start_location=3, end_location=3, bag=bag, bag_now={"syringe": 0}),
            nurse("FAR", start_location=20, end_location=20, bag=bag),
        ],
        [unplanned("A1", 0, 0, "acute", materials={"syringe": 1})],
    )
    plan = solve(problem.model_copy(update={"visits": []}), time_limit=0.3)
    best = quote(problem, plan, problem.visit("A1"))[0]
    assert (best.nurse_id, best.restock_before, best.feasible) == ("NEAR", True, True)
    assert best.eta == 3 * MINUTE + problem.night.restock_seconds
    inserted = evaluate(problem, {"NEAR": ["restock", "A1"]})
    assert inserted.violations == []
    assert _visit_step(inserted, "A1").arrival == best.eta
    # Stopped by its solution count, not the clock: on a loaded machine 0.5 s of search ended
    # at the first plan (FAR, which never considers the restock), so the test measured load.
    replanned = solve(problem, time_limit=60, solution_limit=50)
    assert replanned.assignments()["A1"] == ["NEAR"]
    assert _visit_step(replanned, "A1").start == best.start


def test_quote_without_restocks_names_the_empty_bag() -> None:
    """On a night without restocks the empty bag is simply not an option, and says why."""
    problem = line_problem(
        [
            nurse(
                "NEAR", start_location=3, end_location=3, bag={"syringe": 2}, bag_now={"syringe": 0}
            )
        ],
        [unplanned("A1", 0, 0, "acute", materials={"syringe": 1})],
        night={
            "start": NIGHT_START.isoformat(),
            "end": "2026-11-24T07:00:00+01:00",
            "restocks_allowed": False,
        },
    )
    plan = solve(problem.model_copy(update={"visits": []}), time_limit=0.3)
    (option,) = quote(problem, plan, problem.visit("A1"))
    assert not option.feasible
    assert option.reason == "her night bag has no syringe left"
    assert not option.restock_before


def test_a_visit_kept_out_by_the_bag_says_so() -> None:
    """No restocks tonight and one syringe: the second syringe visit names the empty bag."""
    problem = line_problem(
        [nurse("N1", bag={"syringe": 1})],
        [
            planned("V1", 1, 0, 4 * HOUR, materials={"syringe": 1}),
            planned("V2", 2, 0, 4 * HOUR, materials={"syringe": 1}),
        ],
        night={
            "start": NIGHT_START.isoformat(),
            "end": "2026-11-24T07:00:00+01:00",
            "restocks_allowed": False,
        },
    )
    plan = solve(problem, time_limit=0.3)
    (left,) = plan.unassigned
    assert "syringe" in left.message
    assert check(problem, plan) == []


def test_a_lone_two_person_copy_never_moves_a_pinned_stop() -> None:
    """Found by hypothesis (test_every_plan_passes_the_checker, s19): V2 pinned as N1's
    stop 2; the search put one copy of the two-person V5 (which cannot get both nurses) on
    N1's route before V2, reading the plan dropped that lone copy, and V2 became stop 1: a
    plan with `pin_position` broken. A half comes before a stop pinned at a position only
    with its other half (a tie of the halves everywhere was tried and reverted: it kept the
    search from inserting a two-person call on any live night)."""
    problem = Problem.model_validate_json(
        (Path(__file__).parents[1] / "data" / "pin_position_lone_copy.json").read_text()
    )
    for seed in range(3):
        plan = solve(problem, time_limit=0.3, seed=seed)
        assert check(problem, plan) == []
        assert plan.violations == []
        if "V2" in plan.assignments():
            assert plan.route("N1").visit_ids().index("V2") == 2
