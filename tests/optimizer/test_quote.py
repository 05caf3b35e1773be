"""Insertion quotes answer "can a nurse be there in time?" without a full solve."""

from __future__ import annotations

from optimizer.evaluate import evaluate
from optimizer.live import with_visit
from optimizer.model import Visit
from optimizer.plan import StepType
from optimizer.quote import quote
from optimizer.replan import quick_replan
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned


def test_quote_ranks_the_nearer_free_nurse_first() -> None:
    """N2 sits next to the caller; N1 is far away: N2 comes first, with the right ETA."""
    nurses = [nurse("N1"), nurse("N2", start_location=20, end_location=20)]
    problem = line_problem(nurses, [planned("A", 2, HOUR, 2 * HOUR)], now=10 * MINUTE)
    plan = solve(problem, time_limit=0.5)
    call = Visit(
        id="CALL",
        client_ref="ref-call",
        location=21,
        service_seconds=15 * MINUTE,
        urgency="acute",
        call_time=10 * MINUTE,
    )
    options = quote(with_visit(problem, call), plan, call)
    assert [o.nurse_id for o in options] == ["N2", "N1"]
    best = options[0]
    assert best.feasible
    assert best.eta == 10 * MINUTE + 60  # leaves at the call, one minute away
    assert best.lateness_seconds == 0


def test_quote_refuses_what_breaks_a_planned_window() -> None:
    """A one-hour visit that would push a tight planned window is infeasible there."""
    problem = line_problem([nurse()], [planned("A", 1, HOUR, HOUR + 60)])
    plan = solve(problem, time_limit=0.5)
    call = Visit(
        id="CALL",
        client_ref="ref-call",
        location=1,
        service_seconds=2 * HOUR,
        urgency="soon",
        call_time=50 * MINUTE,
    )
    [option] = quote(with_visit(problem, call), plan, call)
    assert option.position == 1  # after A, since before it would miss A's window
    assert option.start >= HOUR + 10 * MINUTE


def test_quote_skips_nurses_without_the_skill() -> None:
    """Only nurses with the needed skill are quoted."""
    nurses = [nurse("N1", skills=["basic"]), nurse("N2")]
    problem = line_problem(nurses, [])
    plan = solve(problem, time_limit=0.2)
    call = Visit(
        id="CALL",
        client_ref="ref",
        location=3,
        service_seconds=600,
        urgency="urgent",
        call_time=0,
        required_skills=frozenset({"iv"}),
    )
    assert [o.nurse_id for o in quote(with_visit(problem, call), plan, call)] == ["N2"]


def test_quote_takes_a_break_not_yet_begun_after_the_call() -> None:
    """Her break is planned to begin in 5 minutes; a re-plan may take it after an acute call
    15 minutes away (its window allows), so the quote must too: on site in 15 minutes, not
    45 (after the break).
    The quick first answer (`optimizer.replan.quick_replan`) lays the plan out the same way."""
    rule = {"duration_seconds": 30 * MINUTE, "window": {"start": HOUR, "end": 4 * HOUR}}
    problem = line_problem(
        [nurse(break_rule=rule)], [planned("A", 2, 3 * HOUR, 4 * HOUR)], now=55 * MINUTE
    )
    plan = evaluate(problem, {"N1": ["A"]}, break_starts={"N1": HOUR})
    assert [s.start for s in plan.routes[0].steps if s.type == StepType.BREAK] == [HOUR]
    call = Visit(
        id="CALL",
        client_ref="ref-call",
        location=15,
        service_seconds=10 * MINUTE,
        urgency="acute",
        call_time=55 * MINUTE,
    )
    trial = with_visit(problem, call)
    [option] = quote(trial, plan, call)
    assert option.feasible, option.reason
    assert option.eta == 70 * MINUTE  # leaves at the call, 15 minutes away
    assert option.break_start == 80 * MINUTE  # the break follows the call's care
    first = quick_replan(trial, plan, list(trial.visits), [])
    assert first is not None
    [step] = [s for s in first.routes[0].steps if s.visit_id == "CALL"]
    assert step.arrival == option.eta and not first.violations


def test_quote_keeps_a_break_that_cannot_wait() -> None:
    """A break whose window closes before the call's care would end stays first: the quote
    never moves it out of its window (the call then waits for it)."""
    rule = {"duration_seconds": 30 * MINUTE, "window": {"start": HOUR, "end": 90 * MINUTE}}
    problem = line_problem([nurse(break_rule=rule)], [], now=55 * MINUTE)
    plan = evaluate(problem, {"N1": []}, break_starts={"N1": HOUR})
    call = Visit(
        id="CALL",
        client_ref="ref-call",
        location=15,
        service_seconds=10 * MINUTE,
        urgency="acute",
        call_time=55 * MINUTE,
    )
    [option] = quote(with_visit(problem, call), plan, call)
    assert option.feasible and option.break_start is None
    assert option.eta >= 90 * MINUTE


def test_quote_moves_one_planned_visit_up_to_make_room_for_an_acute_call() -> None:
    """Her route is an urgent call (20 min of care), then planned care due by minute 40.
    Inserted alone an acute call 5 minutes away either pushes the planned care past its window
    (first) or is late (after the urgent call); a re-plan would do the planned care second and
    the urgent call last, all in time, and so must the quote. The first answer follows it."""
    problem = line_problem(
        [nurse()],
        [
            unplanned("U", 10, 0, "urgent", service_seconds=20 * MINUTE),
            planned("P", 12, 0, 40 * MINUTE),
        ],
        now=0,
    )
    plan = evaluate(problem, {"N1": ["U", "P"]})
    assert not plan.violations
    call = Visit(
        id="CALL",
        client_ref="ref-call",
        location=5,
        service_seconds=20 * MINUTE,
        urgency="acute",
        call_time=0,
    )
    trial = with_visit(problem, call)
    [option] = quote(trial, plan, call)
    assert option.feasible and option.lateness_seconds == 0
    assert option.eta == 5 * MINUTE
    assert option.sequence == ("CALL", "P", "U")
    first = quick_replan(trial, plan, list(trial.visits), [])
    assert first is not None and not first.violations
    order = [s.visit_id for s in first.routes[0].steps if s.visit_id is not None]
    assert order == ["CALL", "P", "U"]
