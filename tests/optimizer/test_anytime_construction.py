"""A time limit too short for the construction still gets a plan of every visit (issue 9).

An OR-Tools construction the clock stops places nothing at all. A 1 s solve of the
generated 50 x 1000 night gave its first region the whole budget, was stopped there, and
answered with 913 visits "no plan in time" (722 on another machine) where its first plan has
168 left out. Anytime means the answer at the limit is never worse than a cheaper
construction's: a region (or a night) whose construction the clock stopped is built in small
pieces to the end (`RegionPlans.build_in_pieces`).

No wall clock is asserted: the limits here are far below any construction's time, so the
pieces, which run to their end whatever the clock says, decide the answer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.checker import check
from optimizer.generate import generated_night
from optimizer.plan import ReasonCode
from optimizer.solve import solve

_SETTINGS = settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@_SETTINGS
@given(seed=st.integers(0, 1000))
def test_a_search_with_no_time_for_its_construction_still_tries_every_visit(seed: int) -> None:
    """A 10 x 200 night searched whole with a limit of a millisecond: every visit it leaves
    out was tried (none `no_plan_in_time`), no rule broken, and nearly every visit placed
    (its full first plan leaves out 28-41 of 200; the old code 114, untried)."""
    problem = generated_night(nurses=10, visits=200, seed=seed)
    plan = solve(problem, time_limit=0.001)
    assert not [u for u in plan.unassigned if u.reason == ReasonCode.NO_PLAN_IN_TIME]
    assert check(problem, plan) == []
    assert len(plan.unassigned) < 60


@_SETTINGS
@given(seed=st.integers(0, 1000))
def test_a_first_plan_with_no_time_for_its_regions_builds_every_region(seed: int) -> None:
    """The quick answer of a night split into regions (`regions.FIRST_PLAN_SPLIT_FROM`) with
    a limit of a millisecond: every region gets a plan, so nearly every visit is placed (its
    full first plan leaves out 17-41 of 200; the old code 93-104 on seeds 0-2, untried).

    Which visits read `no_plan_in_time` is not asserted here: a region's own construction,
    stopped by the clock, is kept when it costs less than its pieces, and then what it left
    out says "ask again" (the pieces placed some of it). How far a construction gets in a
    millisecond depends on the machine, so that label does too (it failed on a quiet machine
    in the final check of session 22 and passed under load)."""
    problem = generated_night(nurses=10, visits=200, seed=seed)
    plan = solve(problem, time_limit=0.001, first_only=True)
    assert check(problem, plan) == []
    assert len(plan.unassigned) < 60


def test_a_search_of_a_night_split_into_regions_with_no_time_builds_every_region() -> None:
    """The brief's case at a third of the size: a night large enough that a search splits it
    (`regions.SPLIT_FROM`), with a limit far below its construction's time. As in the quick
    answer above, which visits read `no_plan_in_time` depends on how far a region's own
    construction got in a millisecond on this machine (kept when cheaper than its pieces):
    not asserted (it failed on one run of three, on the same code, in session 23)."""
    problem = generated_night(nurses=20, visits=450, seed=3)
    plan = solve(problem, time_limit=0.001)
    assert check(problem, plan) == []
    assert len(plan.unassigned) < 0.25 * len(problem.visits)
