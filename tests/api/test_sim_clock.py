"""The simulator's minutes are real minutes, on nights across a change of summer time too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.simulation.play import clock_time, instant, night_start


def test_the_autumn_night_has_an_hour_more_on_the_clock() -> None:
    """25 Oct 2026 03:00 CEST becomes 02:00 CET: four real hours after 23:00 the wall clock
    says 02:00 (adding to the local time said 03:00, an hour off)."""
    start = night_start(date(2026, 10, 24))
    assert start == datetime(2026, 10, 24, 21, tzinfo=UTC)
    assert instant(start, 240) == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert clock_time(start, 240) == "02:00"
    assert clock_time(start, 60) == "00:00"


def test_the_spring_night_has_an_hour_less_on_the_clock() -> None:
    """28 Mar 2027 02:00 CET becomes 03:00 CEST: four real hours after 23:00 is 04:00."""
    start = night_start(date(2027, 3, 27))
    assert start == datetime(2027, 3, 27, 22, tzinfo=UTC)
    assert clock_time(start, 240) == "04:00"


@given(
    st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
    st.floats(min_value=0, max_value=720, allow_nan=False),
)
def test_minutes_are_real_minutes(night: date, minute: float) -> None:
    start = night_start(night)
    assert instant(start, minute) - start == timedelta(minutes=minute)
    assert instant(start, minute).tzinfo is UTC
