"""`evaluate`: the timeline of routes as the planner arranged them, and every rule they break.

No optimising: the order is kept as given; each visit starts as early as its rules allow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from optimizer.assemble import finish, in_step, with_own_check
from optimizer.model import Problem
from optimizer.plan import Plan, Violation

__all__ = ["RESTOCK", "evaluate"]

#: The word for a restock stop at the base in a hand-made route.
RESTOCK = "restock"


def evaluate(
    problem: Problem,
    routes: Mapping[str, Sequence[str]],
    *,
    break_starts: Mapping[str, int] | None = None,
    explain: bool = True,
) -> Plan:
    """The plan for ``routes`` (nurse id -> visit ids in order, ``"restock"`` for a restock).

    ``break_starts`` (nurse id -> second) keeps each break where an earlier plan had it;
    otherwise a break is taken as soon as its window opens.

    Visits left out of every route are reported unassigned; ``explain=False`` leaves them
    with their general reason instead of looking for the rule that keeps each out (for a
    trial layout whose reasons nobody reads: looking costs a layout per nurse and position
    per left-out visit). Routes, times and violations are the same either way. Raises
    ``ValueError`` naming the route and position of an unknown nurse or visit.
    """
    nurse_ids = {n.id for n in problem.nurses}
    visit_ids = {v.id for v in problem.visits}
    sequences: dict[str, list[str]] = {}
    for nurse_id, stops in routes.items():
        if nurse_id not in nurse_ids:
            raise ValueError(f"routes.{nurse_id}: unknown nurse {nurse_id!r}")
        for position, stop in enumerate(stops):
            if stop != RESTOCK and stop not in visit_ids:
                raise ValueError(f"routes.{nurse_id}[{position}]: unknown visit {stop!r}")
        # Started and finished visits are history: the timeline adds them itself.
        sequences[nurse_id] = [s for s in stops if s == RESTOCK or not problem.visit(s).is_locked]
    hints = dict(break_starts or {})
    plan = in_step(problem, sequences, hints)
    # Reasons for what is left out, and whatever the independent checker finds, listed.
    plan = finish(problem, plan, sequences, hints) if explain else with_own_check(problem, plan)
    return plan.model_copy(update={"violations": _sorted(list(plan.violations))})


def _sorted(violations: list[Violation]) -> list[Violation]:
    return sorted(violations, key=lambda v: (v.nurse_id or "", v.visit_id or "", v.code))
