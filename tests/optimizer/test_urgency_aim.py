"""An urgency class's aim: the search pays lateness from the aim (ahead of the target), so a
call is not planned at the very end of its target, where a slow drive makes it late."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from optimizer.checker import check
from optimizer.model import DEFAULT_URGENCY_CLASSES, UrgencyClass
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned


def _night(**fields: object) -> list[dict[str, object]]:
    # She ends at 20. Planned care at 10 first, then the acute call at 12: 20 minutes of
    # driving, the call begun at 22 min (inside its 30-minute target, past the 20-minute
    # aim). The call first: 24 minutes of driving, the call begun at 12 min.
    return [planned("P", 10, 0, HOUR), unplanned("CALL", 12, 0, "acute", **fields)]


def test_with_the_aim_the_acute_call_comes_first() -> None:
    problem = line_problem([nurse(end_location=20)], _night())
    plan = solve(problem, time_limit=30.0, solution_limit=100)
    assert check(problem, plan) == []
    assert plan.routes[0].visit_ids() == ["CALL", "P"]
    call = next(s for s in plan.routes[0].steps if s.visit_id == "CALL")
    assert call.start == 12 * MINUTE and call.lateness_seconds == 0


def test_without_an_aim_the_shorter_drive_wins_and_the_call_is_late_in_its_target() -> None:
    classes = {
        name: c.model_copy(update={"aim_seconds": None})
        for name, c in DEFAULT_URGENCY_CLASSES.items()
    }
    problem = line_problem([nurse(end_location=20)], _night(), urgency_classes=classes)
    plan = solve(problem, time_limit=30.0, solution_limit=100)
    assert plan.routes[0].visit_ids() == ["P", "CALL"]
    call = next(s for s in plan.routes[0].steps if s.visit_id == "CALL")
    # Still inside the target (reports count from the target, not the aim).
    assert call.start == 22 * MINUTE and call.lateness_seconds == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"target_seconds": 30 * MINUTE, "aim_seconds": 31 * MINUTE},
        {"target_seconds": None, "aim_seconds": 10 * MINUTE},
    ],
)
def test_an_aim_past_the_target_or_without_one_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="aim_seconds"):
        UrgencyClass.model_validate(
            {"lateness_cost_per_minute": 1, "omission_penalty": 1, **fields}
        )
