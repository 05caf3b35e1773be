"""Breaks keep cover (issue 11): nurses who share a break window each get a slot of it."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from api.services.breaks import break_rule as _break_rule
from api.services.breaks import staggered as _staggered
from optimizer import model as om

HOUR = 3600
NIGHT = om.TimeWindow(start=0, end=8 * HOUR)


def test_three_nurses_take_their_breaks_in_three_slots_of_the_window() -> None:
    """02:00-05:00 for a 23:00-07:00 shift: 02:00-03:00, 03:00-04:00, 04:00-05:00."""
    rule = _break_rule(NIGHT)
    assert rule is not None
    slots = _staggered([rule, rule, rule])
    windows = [(r.window.start, r.window.end) for r in slots if r is not None]
    assert windows == [(3 * HOUR, 4 * HOUR), (4 * HOUR, 5 * HOUR), (5 * HOUR, 6 * HOUR)]


def test_a_short_shift_and_a_lone_nurse_keep_the_whole_window() -> None:
    rule = _break_rule(NIGHT)
    assert _staggered([rule]) == [rule]
    assert _staggered([None, rule]) == [None, rule]


@given(st.integers(1, 12), st.integers(2, 6), st.integers(10, 60))
def test_slots_hold_the_break_and_overlap_only_when_the_team_outnumbers_them(
    team: int, hours: int, minutes: int
) -> None:
    """Property: each slot lies in the window and holds the break with room; the breaks of
    two nurses in different slots can never overlap; a slot is shared only when the window
    holds fewer slots than the team has nurses."""
    rule = om.BreakRule(
        duration_seconds=minutes * 60, window=om.TimeWindow(start=HOUR, end=(1 + hours) * HOUR)
    )
    slots = [r for r in _staggered([rule] * team) if r is not None]
    assert len(slots) == team
    for slot in slots:
        assert rule.window.start <= slot.window.start < slot.window.end <= rule.window.end
        assert slot.window.end - slot.window.start >= rule.duration_seconds
    distinct = sorted({(s.window.start, s.window.end) for s in slots})
    for (_, first_end), (second_start, _) in pairwise(distinct):
        assert first_end <= second_start
    if len(distinct) < team:
        assert len(distinct) * (rule.duration_seconds + 15 * 60) > hours * HOUR - (
            rule.duration_seconds + 15 * 60
        )


def test_shifts_starting_apart_take_breaks_apart() -> None:
    """Review F3: a 23:00 and a 23:30 shift have overlapping break windows (02:00-05:00,
    02:30-05:30); cut separately, both were free to rest at 03:00. Cut together, their
    slots are disjoint and each lies in the nurse's own window."""
    early = _break_rule(NIGHT)
    late = _break_rule(om.TimeWindow(start=HOUR // 2, end=8 * HOUR))
    assert early is not None and late is not None
    first, second = _staggered([early, late])
    assert first is not None and second is not None
    assert first.window.end <= second.window.start
    assert early.window.start <= first.window.start and first.window.end <= early.window.end
    assert late.window.start <= second.window.start and second.window.end <= late.window.end


@given(st.lists(st.tuples(st.integers(0, 16), st.integers(2, 6)), min_size=1, max_size=6))
def test_every_slot_lies_in_its_own_window_and_holds_the_break(
    windows: list[tuple[int, int]],
) -> None:
    """Property, for any mix of break windows (starts a quarter-hour apart): a nurse's
    slot lies in her own window and holds her break; nurses cut into as many slots as
    there are of them (no turn shared) never rest at once."""
    rules = [
        om.BreakRule(
            duration_seconds=30 * 60,
            window=om.TimeWindow(start=q * 900, end=q * 900 + hours * HOUR),
        )
        for q, hours in windows
    ]
    slots = _staggered(rules)
    for own, slot in zip(rules, slots, strict=True):
        assert slot is not None
        assert own.window.start <= slot.window.start < slot.window.end <= own.window.end
        assert slot.window.end - slot.window.start >= own.duration_seconds
    cut = [s for own, s in zip(rules, slots, strict=True) if s != own]
    if len({(s.window.start, s.window.end) for s in cut}) == len(cut) == len(rules):
        ordered = sorted((s.window.start, s.window.end) for s in cut)
        for (_, end), (start, _) in pairwise(ordered):
            assert end <= start
