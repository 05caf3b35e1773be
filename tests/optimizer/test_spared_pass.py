"""The first answer's second pass (`replan.insert_new_calls`): calls that come together are
put in again ranked to spare planned care's tolerance when the first pass left care out or
a call late, and the better answer is kept. A rule broken outweighs both; and the pass runs
only when it could do better. Fictional night; times in seconds from 23:00, places on a
line one minute apart."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer import replan
from optimizer.evaluate import evaluate
from optimizer.live import with_visit
from optimizer.model import Problem, Visit
from optimizer.replan import insert_new_calls, quick_replan

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned

TOLERANT = {"late_tolerance_seconds": 15 * MINUTE, "late_cost_per_minute": 1000}


def test_an_answer_that_breaks_a_rule_never_wins_over_one_that_leaves_a_visit_out() -> None:
    """The acute call A first makes P (hard window to 23:15) start at 23:30; P alone leaves A
    out. Counted by visits left out and calls late only, the broken layout cost less."""
    problem = line_problem(
        [nurse()],
        [
            planned("P", 10, 0, 15 * MINUTE),
            unplanned("A", 1, 0, "acute", service_seconds=20 * MINUTE),
        ],
        now=0,
    )
    broken = evaluate(problem, {"N1": ["A", "P"]}, explain=False)
    left_out = evaluate(problem, {"N1": ["P"]}, explain=False)
    assert broken.violations and not left_out.violations
    assert [u.visit_id for u in left_out.unassigned] == ["A"] and not broken.unassigned
    assert replan._answer_cost(problem, broken) > replan._answer_cost(problem, left_out)


def _passes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``spare_tolerance`` of each pass `insert_new_calls` runs from now on."""
    seen: list[bool] = []
    answer = replan._answer

    def counted(*args: Any, spare_tolerance: bool) -> Any:
        seen.append(spare_tolerance)
        return answer(*args, spare_tolerance=spare_tolerance)

    monkeypatch.setattr(replan, "_answer", counted)
    return seen


def _night(*calls: dict[str, Any]) -> Problem:
    """Two nurses at 0 with planned care that has a tolerance (far from its end), and
    ``calls`` made at 23:00."""
    night = line_problem(
        [nurse("N1"), nurse("N2")],
        [planned("P", 20, 2 * HOUR, 3 * HOUR, **TOLERANT)],
        now=0,
    )
    for call in calls:
        night = with_visit(night, Visit.model_validate(call))
    return night


def test_a_two_person_call_alone_does_not_run_the_second_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No first answer places a two-person call (the search does), so it is left out of both
    passes: counted as a visit the first left out, every batch with one ran the second pass
    for nothing. Here the one-nurse call is in time and nothing else is out."""
    problem = _night(
        unplanned("A", 5, 0, "acute"),
        unplanned("TWO", 8, 0, "urgent", nurses_needed=2),
    )
    current = evaluate(problem, {"N1": ["P"]}, explain=False)
    passes = _passes(monkeypatch)
    first = insert_new_calls(problem, current)
    assert [u.visit_id for u in first.unassigned] == ["TWO"]
    assert passes == [False]


def test_the_second_pass_runs_when_a_call_of_the_batch_is_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three acute calls 25-27 minutes out for two nurses: one of them starts past its 30
    minutes, and the sparing rank might do better, so the second pass is tried."""
    problem = _night(
        unplanned("A", 25, 0, "acute"),
        unplanned("B", 26, 0, "acute"),
        unplanned("C", 27, 0, "acute"),
    )
    current = evaluate(problem, {"N1": ["P"]}, explain=False)
    passes = _passes(monkeypatch)
    first = insert_new_calls(problem, current)
    assert not first.unassigned
    assert replan._answer_cost(problem, first)[-1] > 0  # a call late
    assert passes == [False, True]


def test_care_left_out_before_that_the_pass_was_not_given_does_not_run_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The live answer (`quick_replan`) puts in only the new calls, not the care its plan
    left out before (X, whose window closed while she was on her way): X still out is no
    reason for a second pass over two calls that are both in time."""
    night = _night(
        unplanned("A", 5, 0, "acute"),
        unplanned("B", 6, 0, "acute"),
    )
    gone = Visit.model_validate(planned("X", 30, 0, 0))
    problem = night.model_copy(update={"visits": [*night.visits, gone]})
    current = evaluate(problem, {"N1": ["P"]}, explain=False)
    assert {u.visit_id for u in current.unassigned} == {"A", "B", "X"}
    current = current.model_copy(
        update={"unassigned": [u for u in current.unassigned if u.visit_id == "X"]}
    )
    passes = _passes(monkeypatch)
    live = quick_replan(problem, current, [v for v in problem.visits if v.id != "X"], [])
    assert live is not None and {"A", "B"} <= set(live.assignments())
    assert passes == [False]
