"""A night the clocks change plays its real length: 9 hours on the last Sunday of October,
7 on the last Sunday of March (23:00-07:00 on the wall clock). Before, every night played
480 minutes: calls stopped at 06:00 wall clock on the long night, and planned care agreed for
06:00-06:30 on the short one was never due (issue 11).

The autumn night through the real service is `test_simulate.py`'s busy night (played once
for the checks there and `test_the_autumn_night_plays_nine_hours_through_the_service`)."""

from __future__ import annotations

from datetime import date

import pytest

from api.simulation.generate import NIGHT_MINUTES, make_world, night_minutes, wall_minutes
from api.simulation.params import SimParams
from api.simulation.play import agreed_time, clock_time, night_start
from api.simulation.policies import play_baseline

#: The evenings before the clocks change in the demo region (Europe/Amsterdam).
AUTUMN, SPRING, PLAIN = date(2026, 10, 24), date(2027, 3, 27), date(2026, 11, 2)


def test_a_night_is_as_long_as_the_wall_clock_says() -> None:
    assert (night_minutes(AUTUMN), night_minutes(SPRING), night_minutes(PLAIN)) == (540, 420, 480)
    # 04:00 on the wall clock: 5 hours after 23:00 on a plain night, 6 / 4 when they change.
    assert [wall_minutes(d, 300) for d in (PLAIN, AUTUMN, SPRING)] == [300, 360, 240]


@pytest.mark.parametrize(("evening", "length"), [(AUTUMN, 540), (SPRING, 420)])
def test_a_generated_night_spans_its_real_length(evening: date, length: int) -> None:
    params = SimParams(calls_by_hour=[6.0] * 8, recurring_clients=12, one_off_planned=4)
    plain = make_world(params, nights=1, seed=3, first_night=PLAIN, centre=(41.15, -8.61))
    world = make_world(params, nights=1, seed=3, first_night=evening, centre=(41.15, -8.61))
    spec = world.nights[0]
    assert spec.minutes == length
    assert max(c.minute for c in spec.calls) < length - 20
    # Calls all night long: in its last real hour too (none after 460 before).
    assert any(c.minute > length - 60 for c in spec.calls)
    # Recurring care is agreed on the wall clock: the same clock times as a plain night.
    for ours, theirs in zip(spec.planned, plain.nights[0].planned, strict=True):
        if ours.recurring:
            begin = clock_time(night_start(evening), ours.window[0])
            agreed = clock_time(night_start(PLAIN), theirs.window[0])
            if evening == SPRING and agreed.startswith("02:"):
                agreed = "03:00"  # the hour the clocks skip: the first moment after it
            assert begin == agreed
            assert 0 <= ours.window[0] <= ours.window[1] <= length


def test_a_baseline_plays_the_long_nights_last_hour() -> None:
    """Calls after minute 480 of the autumn night are reached, not cut off at the night's
    end (a 480-minute night handed them to the back-up unplayed)."""
    params = SimParams(calls_by_hour=[6.0] * 8)
    world = make_world(params, nights=1, seed=3, first_night=AUTUMN, centre=(41.15, -8.61))
    spec = world.nights[0]
    late = [c.key for c in spec.calls if c.minute > NIGHT_MINUTES]
    assert late
    record = play_baseline("nearest_free", spec, [[], [], []], lambda a, b: 5.0, params)
    reached = {c.key for c in record.calls if c.start is not None}
    assert set(late) & reached


@pytest.mark.parametrize("first", [AUTUMN, SPRING, PLAIN])
def test_recurring_care_is_agreed_at_the_clock_times_its_nights_have_it(first: date) -> None:
    """The recurring care the partners post once (`play.setup_clients`) is agreed at the
    wall-clock times the generated nights have it, whichever night the run begins on: read
    on a first night the clocks change, it was agreed an hour off from 02:00 on, and the
    service had it due an hour early (autumn) or late (spring) every night of the run."""
    params = SimParams(recurring_clients=12)
    world = make_world(params, nights=2, seed=3, first_night=first, centre=(41.15, -8.61))
    agreed = {r.key: (agreed_time(r.window[0]), agreed_time(r.window[1])) for r in world.recurring}
    for spec in world.nights:
        start = night_start(spec.night_date)
        for planned in spec.planned:
            if not planned.recurring:
                continue
            shown = (clock_time(start, planned.window[0]), clock_time(start, planned.window[1]))
            # The hour the spring clocks skip: a time in it comes at its first moment after.
            expect = tuple(
                "03:00" if spec.night_date == SPRING and t.startswith("02:") else t
                for t in agreed[planned.key]
            )
            assert shown == expect, (spec.night_date, planned.key)
