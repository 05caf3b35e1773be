"""Insertion quotes answer "can a nurse be there in time?" without a full solve."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import timeline
from optimizer.evaluate import evaluate
from optimizer.fill import with_what_fits
from optimizer.generate import generated_night
from optimizer.live import state_at, with_visit
from optimizer.model import Problem, Visit
from optimizer.plan import Plan, StepType
from optimizer.quote import (
    _break_start,
    _breaks_by_id,
    _current_stops,
    _layout,
    _rank,
    _Router,
    _what_breaks,
    quote,
)
from optimizer.replan import quick_replan
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned
from .test_fill_halving import _night
from .test_properties import new_calls, nights


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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_layout_resumed_from_the_current_route_is_the_whole_layout(
    data: st.DataObject,
) -> None:
    """The quote lays out each trial order only from where it differs from her current
    route until the two agree again, and ranks places by a best case first: the figures are
    those of laying out the whole order (`_layout`), with or without a break hint, for a
    plain insertion, one after a restock, and an order with one stop moved; no option is
    better than its place's best case."""
    problem = data.draw(nights())
    now = data.draw(st.integers(0, 8 * HOUR))
    # The first plan, not a search stopped by the clock: what is drawn next depends on the
    # plan, and Hypothesis replays a failure only if the same draws give the same plan.
    plan = solve(problem, time_limit=5.0, first_only=True, processes=1)
    live = state_at(problem, plan, now)
    call = data.draw(new_calls(live))
    asked = with_visit(live, call)
    new_stop = timeline.stop_for(asked, call)
    restock = timeline.restock_stop(asked)
    for each in asked.nurses:
        stops = _current_stops(asked, plan, each)
        leave = timeline.departure(asked, each)
        for hint in {_break_start(plan, each), None, data.draw(st.integers(0, 8 * HOUR))}:
            router = _Router(asked, each, stops, hint)
            assert router.base == _layout(asked, each, stops, leave, hint)
            position = data.draw(st.integers(0, len(stops)))
            for middle, resume in (
                ([new_stop], position),
                ([restock, new_stop], position),
                ([new_stop, *reversed(stops[position:])], len(stops)),
            ):
                whole = [*stops[:position], *middle, *stops[resume:]]
                assert router.layout(position, middle, resume) == _layout(
                    asked, each, whole, leave, hint
                )
        options = [o for o in quote(asked, plan, call) if o.nurse_id == each.id]
        router = _Router(asked, each, stops, _break_start(plan, each))
        for option in options:
            if option.sequence is None:
                refill = restock if option.restock_before else None
                assert router.bound(option.position, new_stop, refill) <= _rank(option)


def test_a_resumed_layout_is_the_whole_layout_in_a_generated_night_at_its_breaks() -> None:
    """As above on a generated night at 03:12, when breaks not yet taken sit among windows
    with room to wait: a trial may reach a stop at the same time as the current route with
    her break taken in one and not yet in the other (the two then differ from there on)."""
    problem = generated_night(nurses=5, visits=100, seed=0)
    plan = solve(problem, time_limit=5, first_only=True)
    live = state_at(problem, plan, 4 * HOUR + 12 * MINUTE)
    for location in range(1, 40, 3):
        call = Visit.model_validate(
            unplanned("NEW", location, 4 * HOUR + 12 * MINUTE, "urgent", service_seconds=1200)
        )
        asked = with_visit(live, call)
        new_stop = timeline.stop_for(asked, call)
        restock = timeline.restock_stop(asked)
        for each in asked.nurses:
            stops = _current_stops(asked, plan, each)
            leave = timeline.departure(asked, each)
            hint = _break_start(plan, each)
            router = _Router(asked, each, stops, hint)
            for position in range(len(stops) + 1):
                for middle, resume in (
                    ([new_stop], position),
                    ([restock, new_stop], position),
                    # Two stops moved up before the one at ``position``.
                    (
                        [new_stop, *stops[position + 1 : position + 3], *stops[position:][:1]],
                        min(position + 3, len(stops)),
                    ),
                ):
                    whole = [*stops[:position], *middle, *stops[resume:]]
                    assert router.layout(position, middle, resume) == _layout(
                        asked, each, whole, leave, hint
                    )


def _assert_broken_anyway_is_broken(
    asked: Problem, plan: Plan, call: Visit, hints: list[int]
) -> int:
    """Every place the quote's bound calls broken (before laying it out) is broken when laid
    out: with her planned break, with none hinted, and with her break hinted at each of
    ``hints`` (where a re-plan may move it); the bounds of all places at once are those
    one by one; the same for an order with two stops moved. Returns how many places and
    orders it called broken."""
    new_stop = timeline.stop_for(asked, call)
    called = 0
    for each in asked.nurses:
        stops = _current_stops(asked, plan, each)
        leave = timeline.departure(asked, each)
        hint = _break_start(plan, each)
        router = _Router(asked, each, stops, hint)
        places = range(len(stops) + 1)
        assert router.bounds(new_stop, None) == [
            (router.bound(p, new_stop, None), p) for p in places
        ]
        for position in places:
            if not router.bound(position, new_stop, None)[0]:
                continue
            called += 1
            whole = [*stops[:position], new_stop, *stops[position:]]
            for other in {hint, None, *hints}:
                laid = _layout(asked, each, whole, leave, other)
                assert _what_breaks(router.base, laid, position), (each.id, position, other)
        for position in places:
            # An order with two stops moved up before the one at ``position`` (as the
            # one-move search tries them).
            resume = min(position + 3, len(stops))
            middle = [new_stop, *stops[position + 1 : resume], *stops[position:][:1]]
            if not router.order_broken_anyway(position, middle, resume):
                continue
            called += 1
            whole = [*stops[:position], *middle, *stops[resume:]]
            for other in {hint, None, *hints}:
                laid = _layout(asked, each, whole, leave, other)
                assert _breaks_by_id(router.base, stops, laid, whole), (each.id, position)
    return called


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_place_the_bound_calls_broken_is_broken_in_every_layout(data: st.DataObject) -> None:
    """The quote skips a place whose best case is already broken (the new visit past its
    window, a later stop past one it made, back after her shift, even with no break at
    all): laid out with her break anywhere, it breaks a rule her route kept."""
    problem = data.draw(nights())
    now = data.draw(st.integers(0, 8 * HOUR))
    # The first plan, not a search stopped by the clock: what is drawn next depends on the
    # plan, and Hypothesis replays a failure only if the same draws give the same plan.
    plan = solve(problem, time_limit=5.0, first_only=True, processes=1)
    live = state_at(problem, plan, now)
    call = data.draw(new_calls(live))
    hints = data.draw(st.lists(st.integers(0, 8 * HOUR), max_size=3))
    _assert_broken_anyway_is_broken(with_visit(live, call), plan, call, hints)


def test_the_bound_calls_places_broken_in_a_full_generated_night() -> None:
    """As above on a generated night at 03:12 whose routes are full (most places break a
    later window or the shift end), and the quote's answers are the whole search's."""
    problem = generated_night(nurses=5, visits=100, seed=0)
    plan = solve(problem, time_limit=5, first_only=True)
    live = state_at(problem, plan, 4 * HOUR + 12 * MINUTE)
    called = 0
    for location in range(1, 60, 4):
        call = Visit.model_validate(
            unplanned("NEW", location, 4 * HOUR + 12 * MINUTE, "acute", service_seconds=1200)
        )
        asked = with_visit(live, call)
        called += _assert_broken_anyway_is_broken(asked, plan, call, [4 * HOUR, 5 * HOUR])
    assert called > 0


def test_a_wait_later_in_her_route_absorbs_the_calls_delay() -> None:
    """Taking the call first pushes A half an hour later, and so her drive to B; B's tight
    window still holds, since she would have waited there for it anyway. The quote takes
    the call first (no added travel), not after A: the bound that skips broken places
    counts the waits."""
    problem = line_problem(
        [nurse()],
        [planned("A", 10, 0, 3 * HOUR), planned("B", 12, 3 * HOUR, 3 * HOUR + MINUTE)],
        now=10 * MINUTE,
    )
    plan = evaluate(problem, {"N1": ["A", "B"]})
    call = Visit.model_validate(
        unplanned("CALL", 5, 10 * MINUTE, "acute", service_seconds=30 * MINUTE)
    )
    [option] = quote(with_visit(problem, call), plan, call)
    assert option.feasible
    assert (option.position, option.eta, option.added_travel_seconds) == (0, 15 * MINUTE, 0)


def test_quote_does_not_have_her_break_before_the_drive_she_is_on() -> None:
    """N1 is driving to E at 00:00. V fits between E and A only if her break, pushed out of
    its planned place, comes first, before the drive to E: a stop on the way the checker
    rejects (``en_route_moved``). The quote ranked that feasible and first; N2 takes V."""
    problem = _night()
    plan = evaluate(problem, {"N1": ["E", "A"], "N2": []}, break_starts={"N1": 92 * MINUTE})
    visit = problem.visit("V")
    options = quote(problem, plan, visit)
    best = next(o for o in options if o.feasible)
    assert best.nurse_id == "N2"
    [mine] = [o for o in options if o.nurse_id == "N1"]
    assert not mine.feasible and "driving to" in mine.reason
    inserted = evaluate(problem, {"N1": ["E", "A"], "N2": ["V"]}, break_starts={"N1": 92 * MINUTE})
    assert inserted.violations == []
    assert inserted.route("N2").steps[1].start == best.start


def test_a_two_person_visits_later_copy_is_held_in_step_with_its_partner() -> None:
    """T needs N1 and N2; N2 is nearer, so the plan has her start the tolerance (2 minutes)
    before N1, at minute 8 against 10. V (a minute's care there, only N1 has the skill) fits
    only before T and would push N1's copy to minute 11, 3 minutes past N2's. The quote held
    each copy at its own start and called that place feasible; the fill holds both from the
    earlier one's start and refused it, so V stayed ``no_capacity`` with a plain place
    (`test_no_room_is_said_only_of_a_visit_that_fits_nowhere`). One rule: in step with the
    partner as she stands, nothing else moved."""
    problem = line_problem(
        [nurse("N1", skills=["basic", "iv"]), nurse("N2", skills=["basic"], start_location=5)],
        [
            planned("T", 10, 0, HOUR, nurses_needed=2),
            planned("V", 10, 0, 11 * MINUTE, service_seconds=MINUTE, required_skills=["iv"]),
        ],
    )
    plan = evaluate(problem, {"N1": ["T"], "N2": ["T"]})
    assert [s.start for r in plan.routes for s in r.steps if s.visit_id == "T"] == [600, 480]
    filled = with_what_fits(problem, plan)
    assert [u.visit_id for u in filled.unassigned] == ["V"]
    [option] = quote(problem, filled, problem.visit("V"))
    assert not option.feasible
    assert option.reason == "T would miss its window or its partner"
