"""The load bench's night is under way at any hour it runs, and so are the nurses' shifts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

from api.db.models import Night, Region
from api.repositories import nights
from bench.load_bench import night_window, shift_window

ZONE = "Europe/Amsterdam"


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    )
)
def test_the_shift_is_under_way_whenever_the_bench_runs(now: datetime) -> None:
    """Any moment (DST changes included): the night the bench lays is the one `now` belongs
    to and holds it, and the shift it gives the nurses holds it too (in the morning the
    noon-to-noon night's 12:00-12:00 shift was no time at all: every visit left out). A
    morning's shift ends at 11:59, a minute before its night (a night cannot run past noon:
    noon starts the next one), so the minute before noon is left out."""
    assume(now.astimezone(ZoneInfo(ZONE)).strftime("%H:%M") != "11:59")
    local = now.astimezone(ZoneInfo(ZONE))
    start, end = night_window(local)
    region = Region(timezone=ZONE, night_start=start, night_end=end)
    night_date = nights.night_date_for(region, now)
    starts_at, ends_at = nights.night_bounds(region, night_date)
    assert starts_at <= now < ends_at
    night = Night(night_date=night_date, starts_at=starts_at, ends_at=ends_at)
    shift_start, shift_end = shift_window(local)
    moment = nights.seconds_since_start(night, now)
    begins = nights.clock_to_seconds(region, night, shift_start)
    finishes = nights.clock_to_seconds(region, night, shift_end)
    assert begins <= moment < finishes, (local, shift_start, shift_end)
    assert finishes - begins >= 3600 or local + timedelta(hours=1) >= ends_at
