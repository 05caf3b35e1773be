"""The re-plan's fallback (the last good plan with the new calls inserted) never loses a
visit: property tests on generated nights, no database, no solver search."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services.planning import keep_with_new_calls, sequences_of
from optimizer.evaluate import evaluate
from optimizer.generate import generated_night
from optimizer.plan import Plan
from optimizer.replan import break_starts_of
from optimizer.solve import plan_from_routes


def _placements(plan: Plan) -> tuple[Counter[str], Counter[str]]:
    routed: Counter[str] = Counter(v for r in plan.routes for v in r.visit_ids())
    left: Counter[str] = Counter(u.visit_id for u in plan.unassigned)
    return routed, left


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    visits=st.integers(1, 30),
    kept_share=st.floats(0, 1),
    with_current=st.booleans(),
)
def test_every_visit_ends_in_a_route_or_unassigned_once(
    seed: int, visits: int, kept_share: float, with_current: bool
) -> None:
    """Whatever the last good plan held, every visit of the night is afterwards in exactly
    one place: in its route(s), or unassigned with a reason."""
    problem = generated_night(nurses=3, visits=visits, seed=seed)
    rng = random.Random(seed)
    current = None
    if with_current:
        singles = [v.id for v in problem.visits if v.nurses_needed == 1]
        kept = [v for v in singles if rng.random() < kept_share]
        sequences: dict[str, list[str]] = {n.id: [] for n in problem.nurses}
        for visit_id in kept:
            sequences[rng.choice(list(sequences))].append(visit_id)
        current = plan_from_routes(problem, sequences)
    plan = keep_with_new_calls(problem, current)
    routed, left = _placements(plan)
    for visit in problem.visits:
        if visit.id in routed:
            assert visit.id not in left, visit.id
            assert routed[visit.id] == visit.nurses_needed, visit.id
        else:
            assert left[visit.id] == 1, visit.id
    assert all(u.reason and u.message for u in plan.unassigned)
    if current is not None:
        # What the nurses were told stays in the routes (the new calls only add to it).
        assert set(current.assignments()) <= set(routed)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), visits=st.integers(1, 30), kept_share=st.floats(0, 1))
def test_the_insertion_explains_the_routes_it_chose(
    seed: int, visits: int, kept_share: float
) -> None:
    """The trials are laid out without reasons; the plan handed back is its routes laid out
    with them (breaks where it has them: the current plan's, or after a call the quote put
    first): every left-out visit says what keeps it out of those routes."""
    problem = generated_night(nurses=3, visits=visits, seed=seed)
    rng = random.Random(seed)
    sequences: dict[str, list[str]] = {n.id: [] for n in problem.nurses}
    for visit in problem.visits:
        if visit.nurses_needed == 1 and rng.random() < kept_share:
            sequences[rng.choice(list(sequences))].append(visit.id)
    plan = keep_with_new_calls(problem, plan_from_routes(problem, sequences))
    again = evaluate(problem, sequences_of(plan), break_starts=break_starts_of(problem, plan))
    # (Read back from a plan, a break taken at a door reads as one after the visit there:
    # the times may differ by that; what is left out, and why, may not.)
    assert sequences_of(again) == sequences_of(plan)
    assert again.unassigned == plan.unassigned
