"""The triage answer's promise binds the first answer: the nurse and arrival the quote
promised are the nurse and arrival of the plan stored right after (issue 11's simulated
nights: triage said yes to acute calls that the first answer then put after a break, and
the nurse, sent on her break, came 40-43 minutes after the call).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.evaluate import evaluate
from optimizer.live import state_at, with_visit
from optimizer.model import Problem, Visit
from optimizer.plan import Plan, StepType
from optimizer.quote import promised, quote
from optimizer.replan import first_answer_arrival, hold_promises, insert_new_calls, quick_replan
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned
from .test_properties import nights

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _call(location: int, at: int, urgency: str = "acute", **fields: Any) -> Visit:
    return Visit(
        id="CALL",
        client_ref="ref-call",
        location=location,
        service_seconds=10 * MINUTE,
        urgency=urgency,
        call_time=at,
        **fields,
    )


def _arrival(plan: Plan, visit_id: str) -> tuple[str, int]:
    return next(
        (route.nurse_id, step.arrival)
        for route in plan.routes
        for step in route.steps
        if step.visit_id == visit_id
    )


def test_first_answer_takes_the_break_after_the_call_as_the_quote_promised() -> None:
    """Her break is planned to begin in 5 minutes; the quote (and triage) says she is on site
    in 15 minutes with the break after the call. The first answer stored for the partner
    used to lay her route out with the break first: on site 30 minutes later than promised
    (night 2 of `simulate --seed 11`: promised 10 and 12.6 minutes, answered 40 and 42.6,
    on site 39.5 and 42.9)."""
    rule = {"duration_seconds": 30 * MINUTE, "window": {"start": HOUR, "end": 4 * HOUR}}
    problem = line_problem(
        [nurse(break_rule=rule)], [planned("A", 2, 3 * HOUR, 4 * HOUR)], now=55 * MINUTE
    )
    plan = evaluate(problem, {"N1": ["A"]}, break_starts={"N1": HOUR})
    call = _call(15, 55 * MINUTE)
    trial = with_visit(problem, call)
    option = promised(trial, call, quote(trial, plan, call))
    assert option is not None and option.eta == 70 * MINUTE
    first = insert_new_calls(trial, plan)
    assert _arrival(first, "CALL") == ("N1", 70 * MINUTE)
    assert not first.violations


def test_first_answer_sends_the_nurse_triage_promised() -> None:
    """N1 is free at base, 10 minutes from the caller; N2 passes by the caller on her way
    to planned care, 15 minutes away, adding no driving. Triage promises the soonest nurse
    (N1, 10 minutes); the first answer used to take the quote's cheapest (N2, 15 minutes:
    past the class's 20-minute aim with a drive that runs over; night 0 of the same run:
    promised 4 minutes, answered 23.9)."""
    problem = line_problem(
        [nurse("N1"), nurse("N2", start_location=25, end_location=25)],
        [planned("P", 5, 2 * HOUR, 3 * HOUR)],
        now=0,
    )
    plan = evaluate(problem, {"N1": [], "N2": ["P"]})
    call = _call(10, 0)
    trial = with_visit(problem, call)
    option = promised(trial, call, quote(trial, plan, call))
    assert option is not None and (option.nurse_id, option.eta) == ("N1", 10 * MINUTE)
    for first in (insert_new_calls(trial, plan), quick_replan(trial, plan, list(trial.visits), [])):
        assert first is not None
        assert _arrival(first, "CALL") == ("N1", 10 * MINUTE)


@st.composite
def calls(draw: st.DrawFn, problem: Problem, now: int) -> Visit:
    """An acute or urgent one-nurse call at ``now`` somewhere on the night's map."""
    return Visit.model_validate(
        {
            "id": "CALL",
            "client_ref": "ref-call",
            "location": draw(st.integers(0, len(problem.travel[0].seconds) - 1)),
            "service_seconds": draw(st.sampled_from([300, 900])),
            "urgency": draw(st.sampled_from(["acute", "acute", "urgent"])),
            "call_time": now,
            "materials": {"kit": draw(st.integers(0, 1))},
        }
    )


@FAST
@given(st.data())
def test_the_first_answer_keeps_the_quotes_promise(data: st.DataObject) -> None:
    """Whatever the night and the moment: triage promises what the first answer does
    (`first_answer_arrival`), and the quick re-plan that follows keeps it; where the
    first answer took the quote's soonest option it arrives when the quote said.

    CI's fixed draw (s19) found the quote's soonest option alone is not a promise: on a
    night of acute calls the first answer refused it (the urgent call would have pushed
    them later) and placed the call 35 minutes later, or not at all."""
    problem = data.draw(nights())
    now = data.draw(st.integers(0, 7 * HOUR))
    solved = solve(problem, time_limit=5, solution_limit=20)
    live = state_at(problem, solved, now)
    # The night as the service has it when the call comes: its current plan laid out at
    # ``now`` (what still fits put in: a waiting call goes before a new one).
    plan = insert_new_calls(live, solved)
    call = data.draw(calls(live, now))
    trial = with_visit(live, call)
    # Quoted as every re-plan sees the night: each call answered before held to its
    # promise (`hold_promises`; the service's triage quotes the same way).
    held, _ = hold_promises(trial, plan)
    options = quote(held, plan, call)
    option = promised(held, call, options)
    answer = first_answer_arrival(trial, plan, "CALL")
    if answer is None:
        return
    nurse_id, arrival = answer
    if option is not None and nurse_id == option.nurse_id:
        assert arrival <= option.eta, (option, answer)
    quick = quick_replan(held, plan, [v for v in held.visits if not v.is_locked], [])
    if quick is not None:
        assert _arrival(quick, "CALL")[1] <= arrival, (answer, quick.routes)


def test_the_plan_lays_out_no_break_the_quote_did_not() -> None:
    """The first answer keeps each break where the current plan has it (a break laid out
    at its window's opening instead moved every nurse's route, not just the one the call
    went to)."""
    rule = {"duration_seconds": 30 * MINUTE, "window": {"start": HOUR, "end": 4 * HOUR}}
    problem = line_problem(
        [nurse("N1", break_rule=rule), nurse("N2", break_rule=rule)],
        [planned("A", 2, HOUR, 90 * MINUTE), planned("B", 3, 2 * HOUR, 4 * HOUR)],
        now=30 * MINUTE,
    )
    plan = evaluate(problem, {"N1": ["A"], "N2": ["B"]}, break_starts={"N1": 3 * HOUR})
    breaks = [s.start for s in plan.route("N1").steps if s.type == StepType.BREAK]
    call = _call(20, 30 * MINUTE)
    trial = with_visit(problem, call)
    first = insert_new_calls(trial, plan)
    assert [s.start for s in first.route("N1").steps if s.type == StepType.BREAK] == breaks


def test_the_search_after_the_first_answer_keeps_the_promised_arrival() -> None:
    """The search that follows the first answer (warm-started from it) was free to move the
    call anywhere before the class's 20-minute aim: here behind planned care it puts in
    first (the care then less late inside its tolerance), on site 20 minutes after the call
    instead of the 10 the first answer (and triage) said. Past the start the call was
    answered with it now costs as past the aim (`replan.promises_of`)."""
    problem = line_problem(
        [nurse()],
        [planned("P", 1, 0, 10 * MINUTE, late_tolerance_seconds=HOUR, late_cost_per_minute=100)],
        now=20 * MINUTE,
    )
    plan = evaluate(problem, {"N1": []})
    call = _call(10, 20 * MINUTE)
    trial = with_visit(problem, call)
    first = insert_new_calls(trial, plan)
    assert _arrival(first, "CALL") == ("N1", 30 * MINUTE)
    searched = solve(trial, time_limit=1.0, warm_start=first)
    assert _arrival(searched, "CALL")[1] <= 30 * MINUTE
    assert "P" in searched.assignments()  # after the call, inside its tolerance


def test_a_visit_put_in_after_the_call_does_not_make_it_later() -> None:
    """Planned care left out before (past its window, still inside its 60-minute tolerance)
    is put in by the same first answer after the call; in front of the call it fitted best
    and made the call 11 minutes later than triage had said (night 1 of `simulate --seed
    11`: promised 8.9 minutes, answered 20.4). It may not push the call later."""
    problem = line_problem(
        [nurse()],
        [planned("P", 1, 0, 10 * MINUTE, late_tolerance_seconds=HOUR, late_cost_per_minute=100)],
        now=20 * MINUTE,
    )
    plan = evaluate(problem, {"N1": []})
    assert [u.visit_id for u in plan.unassigned] == ["P"]
    call = _call(10, 20 * MINUTE)
    trial = with_visit(problem, call)
    option = promised(trial, call, quote(trial, plan, call))
    assert option is not None and option.eta == 30 * MINUTE
    first = insert_new_calls(trial, plan)
    assert _arrival(first, "CALL") == ("N1", 30 * MINUTE)
