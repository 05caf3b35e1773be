"""A promise the partner was given holds in every later re-plan (issue 11: on 30 simulated
nights 3 of the 5 acute calls on site past 30 minutes had been answered in time and were
then moved later by re-plans). The promise is a hard end (`Visit.promised_by`: the start the
call was answered with, or its target if later), relaxed only when the night's facts already
break it, and then reported (`Plan.promises_relaxed`).
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from optimizer.evaluate import evaluate
from optimizer.live import state_at, with_visit
from optimizer.plan import Plan, ReasonCode
from optimizer.replan import hold_promises, insert_new_calls, promises_of
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned
from .test_promise import calls
from .test_properties import nights, plain_places


def _start(plan: Plan, visit_id: str) -> int | None:
    """The visit's start in ``plan`` (a two-person visit's later copy)."""
    starts = [
        step.start for route in plan.routes for step in route.steps if step.visit_id == visit_id
    ]
    return max(starts) if starts else None


def test_the_search_does_not_move_an_answered_call_past_its_target() -> None:
    """Acute call A was answered with a nurse in 10 minutes. Planned care P, new in this
    re-plan, fits only before A: P's window, then A at 40 minutes, past its 30. Costed
    lateness (100,000 a minute) is cheaper than leaving P out (3 * 10**8), so the search
    took P and made A late; the promise now holds and P stays out."""
    problem = line_problem(
        [nurse()],
        [unplanned("A", 10, 0, "acute"), planned("P", 20, 20 * MINUTE, 25 * MINUTE)],
        now=0,
    )
    current = evaluate(problem, {"N1": ["A"]})
    assert _start(current, "A") == 10 * MINUTE
    searched = solve(problem, time_limit=1.0, warm_start=current)
    start = _start(searched, "A")
    assert start is not None and start <= 30 * MINUTE, searched.routes
    assert "P" not in searched.assignments()
    assert not searched.promises_relaxed


def test_a_place_that_breaks_a_promise_is_no_room() -> None:
    """The night above as `test_no_room_is_said_only_of_a_visit_that_fits_nowhere` asks
    it: P, left out as ``no_capacity``, has no plain place on the night as the re-plan held
    it (A by its 30 minutes). Its one place on the night without the holds, where urgency
    targets are soft, starts A 10 minutes past its promise, a place the search and the fill
    refuse: the property asked the quote there and failed on a Hypothesis night (seed 7:
    planned care before an acute call, the call 5 minutes past its promise)."""
    problem = line_problem(
        [nurse()],
        [unplanned("A", 10, 0, "acute"), planned("P", 20, 20 * MINUTE, 25 * MINUTE)],
        now=0,
    )
    current = evaluate(problem, {"N1": ["A"]})
    searched = solve(problem, time_limit=0.5, warm_start=current, solution_limit=1)
    assert [(u.visit_id, u.reason) for u in searched.unassigned] == [("P", ReasonCode.NO_CAPACITY)]
    held, _ = hold_promises(problem, current)
    assert held.visit("A").promised_by == 30 * MINUTE
    assert plain_places(held, searched, problem.visit("P")) == []
    unheld = plain_places(problem, searched, problem.visit("P"))
    assert [(o.position, o.added_lateness_others_seconds) for o in unheld] == [(0, 10 * MINUTE)]


def test_a_promise_her_delay_already_breaks_is_relaxed_and_reported() -> None:
    """She is held up at a visit until minute 35: A (promised at 10) cannot be kept by any
    plan. It is not held (the search would leave it out) but reported with its reason."""
    problem = line_problem(
        [nurse(available_at=35 * MINUTE, current_location=5)],
        [unplanned("A", 10, 0, "acute")],
        now=0,
    )
    current = evaluate(
        problem.model_copy(
            update={
                "nurses": [
                    problem.nurses[0].model_copy(
                        update={"available_at": None, "current_location": None}
                    )
                ]
            }
        ),
        {"N1": ["A"]},
    )
    assert _start(current, "A") == 10 * MINUTE
    held, relaxed = hold_promises(problem, current)
    assert held.visit("A").promised_by is None
    assert [(r.visit_id, r.reason, r.start) for r in relaxed] == [
        ("A", "running_late", 40 * MINUTE)
    ]
    searched = solve(problem, time_limit=0.5, warm_start=current)
    assert "A" in searched.assignments()
    assert [r.visit_id for r in searched.promises_relaxed] == ["A"]


FAST = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # Shrinking a night with searches in it took over 5 minutes; the draw is printed whole.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@FAST
@given(st.data())
def test_a_re_plan_keeps_every_promise_it_does_not_report(data: st.DataObject) -> None:
    """Whatever the night, the moment and the new call: every call the current plan has
    (answered) starts in the re-plan no later than its start there or its target, whichever
    is later, unless the re-plan reports the promise relaxed."""
    problem = data.draw(nights())
    now = data.draw(st.integers(0, 7 * HOUR))
    solved = solve(problem, time_limit=2, solution_limit=10)
    live = state_at(problem, solved, now)
    current = insert_new_calls(live, solved)
    trial = with_visit(live, data.draw(calls(live, now)))
    promised = {
        key: max(_start(current, key) or 0, trial.target(trial.visit(key)).end)
        for key in promises_of(trial, current)
    }
    for plan in (
        insert_new_calls(trial, current),
        solve(trial, time_limit=0.3, warm_start=current),
    ):
        relaxed = {r.visit_id for r in plan.promises_relaxed}
        for key, limit in promised.items():
            start = _start(plan, key)
            if key not in relaxed and start is not None:
                assert start <= limit, (key, start, limit)
