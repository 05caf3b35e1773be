"""One validation of a phone's clock: inside the night and never after the server's now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.db.models import Night
from api.night.device_time import device_moment

START = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
END = START + timedelta(hours=8)
TOLERANCE = timedelta(minutes=15)


def _night() -> Night:
    return Night(night_date=START.date(), starts_at=START, ends_at=END)


def test_a_time_inside_the_night_and_before_now_is_believed() -> None:
    """No note, the same moment."""
    now = START + timedelta(hours=3)
    found = device_moment(_night(), now - timedelta(hours=2), now=now, tolerance=TOLERANCE)
    assert (found.at, found.seconds, found.note) == (now - timedelta(hours=2), 3600, "")


def test_the_next_morning_is_clamped_to_now_with_a_reason() -> None:
    """A completion dated the next morning is taken as the server's now, and says so."""
    now = START + timedelta(hours=3)
    found = device_moment(_night(), END + timedelta(hours=2), now=now, tolerance=TOLERANCE)
    assert found.at == now
    assert "ahead of the server's clock" in found.note


@given(
    device=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    now_offset=st.integers(min_value=-4 * 3600, max_value=12 * 3600),
)
def test_the_moment_is_always_inside_the_night_and_not_after_now(
    device: datetime, now_offset: int
) -> None:
    """Whatever the phone says, the moment used lies in the night and not after now."""
    now = START + timedelta(seconds=now_offset)
    found = device_moment(_night(), device, now=now, tolerance=TOLERANCE)
    assert START <= found.at <= END
    assert found.at <= max(now, START)
    assert 0 <= found.seconds <= int((END - START).total_seconds())
    drift = now < device <= now + TOLERANCE  # a clock slightly ahead: taken as now, silently
    if not found.note:
        assert found.at == device or drift  # nothing changed without a reason
    if START <= device <= min(END, now):
        assert (found.at, found.note) == (device, "")  # a believable time is believed


def test_a_clock_slightly_ahead_is_taken_as_now_without_a_note() -> None:
    """Within the tolerance a phone's clock ahead of the server's is ordinary drift."""
    now = START + timedelta(hours=3)
    found = device_moment(_night(), now + timedelta(minutes=5), now=now, tolerance=TOLERANCE)
    assert (found.at, found.note) == (now, "")
