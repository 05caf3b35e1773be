"""Breaks keep cover (issue 11): nurses who share a break window each get a slot of it."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from api.services.planning import _break_rule, _staggered
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
