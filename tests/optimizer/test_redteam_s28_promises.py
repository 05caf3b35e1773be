"""Red team s28 of the shared first answer (`replan._first_answer`): what triage says yes to
against what the live re-plans then keep. Fictional nights; times in seconds from 23:00,
places on a line one minute apart."""

from __future__ import annotations

import pytest

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.live import state_at, with_visit
from optimizer.model import Visit
from optimizer.plan import Plan, StepType
from optimizer.replan import first_answer_arrival, hold_promises, insert_new_calls

from .conftest import MINUTE, line_problem, nurse, planned, unplanned


def _start(plan: Plan, visit_id: str) -> int:
    return next(
        step.start
        for route in plan.routes
        for step in route.steps
        if step.type == StepType.VISIT and step.visit_id == visit_id
    )


@pytest.mark.xfail(
    strict=True,
    reason=(
        "red team s28 R1, not fixed: a call is held to its urgency target (or the start "
        "answered, if later), never to the within_minutes triage said yes to, which the "
        "service does not keep; a fix stores the answered time with the call"
    ),
)
def test_redteam_s28_an_urgent_call_triage_said_yes_to_in_30_minutes_is_kept_there() -> None:
    """N1 is on a 30-minute visit P from 23:02. At 23:05 triage asks for an urgent call U
    at 5 "within 30 minutes": yes, N1 at 23:35 (after P), and the partner's first answer
    stores that. At 23:06 an acute call A comes in at P's address: the first answer puts
    A first and U at 23:55, 50 minutes after its call, inside the urgent target (60) that
    is all the re-plan holds it to; the partner was told 30 and sent no back-up."""
    night = line_problem(
        [nurse("N1")], [planned("P", 2, 2 * MINUTE, 2 * MINUTE, service_seconds=30 * MINUTE)]
    )
    current = evaluate(night, {"N1": ["P"]})
    asked = 5 * MINUTE
    call = Visit.model_validate(unplanned("U", 5, asked, "urgent"))
    live = with_visit(state_at(night, current, asked), call)
    trial, _ = hold_promises(live, current)
    told = first_answer_arrival(trial, current, "U")
    assert told is not None and told[1] <= asked + 30 * MINUTE  # triage: yes, in 30 minutes
    stored = insert_new_calls(live, current)
    assert _start(stored, "U") == told[1]

    later = 6 * MINUTE
    acute = Visit.model_validate(unplanned("A", 2, later, "acute", service_seconds=20 * MINUTE))
    problem = with_visit(state_at(with_visit(night, call), stored, later), acute)
    answer = insert_new_calls(problem, stored)
    assert check(hold_promises(problem, stored)[0], answer) == []
    assert _start(answer, "U") <= asked + 30 * MINUTE
