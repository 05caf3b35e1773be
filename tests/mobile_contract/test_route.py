"""My route: typed steps, UTC times, a leg's line, and a 20-visit route small enough to send."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mobile_contract import polyline
from mobile_contract.route import MyRoute, VisitStep

from .builders import route, route_dict


def test_twenty_visit_route_is_under_20_kb_gzipped() -> None:
    """A realistic 20-visit route with road geometry compresses below 20 KB."""
    body = route(20).model_dump_json().encode()
    compressed = gzip.compress(body)
    assert len(compressed) < 20 * 1024, (len(body), len(compressed))


def test_times_are_utc_whatever_offset_the_input_had() -> None:
    """A timestamp with +01:00 is read and sent back as UTC (Z)."""
    data = route_dict(1)
    data["generated_at"] = "2026-11-23T23:00:00+01:00"
    parsed = MyRoute.model_validate(data)
    assert parsed.generated_at.tzinfo == UTC
    assert '"generated_at":"2026-11-23T22:00:00Z"' in parsed.model_dump_json()


@settings(max_examples=50, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2026, 1, 2), max_value=datetime(2030, 12, 30), timezones=st.just(UTC)
    ),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_times_set_without_validation_are_still_sent_as_utc(
    moment: datetime, offset_minutes: int
) -> None:
    """A time put in without validation (``model_copy(update=...)``, as the route read does
    with ``generated_at``; a simulated clock's time keeps its offset) is sent as UTC, the
    same instant: the newcomer saw ``+01:00`` on every route read after the first."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    copied = route(1).model_copy(update={"generated_at": local})
    sent = json.loads(copied.model_dump_json())["generated_at"]
    assert sent.endswith("Z")
    assert datetime.fromisoformat(sent) == moment


def test_naive_timestamp_is_refused() -> None:
    """A timestamp without an offset is ambiguous at night (DST): refused."""
    data = route_dict(1)
    data["generated_at"] = "2026-11-23T23:00:00"
    with pytest.raises(ValidationError, match="timezone"):
        MyRoute.model_validate(data)


def test_steps_are_typed() -> None:
    """Steps come back as their own classes, chosen by `type`."""
    parsed = route(3)
    assert [s.type for s in parsed.steps] == ["start", "visit", "break", "visit", "visit", "end"]
    assert isinstance(parsed.steps[1], VisitStep)


def test_unknown_fields_are_refused() -> None:
    """A field not in the contract (e.g. a code slipped into access) is refused."""
    data = route_dict(1)
    data["steps"][1]["access"]["code"] = "0000"
    with pytest.raises(ValidationError, match="Extra inputs"):
        MyRoute.model_validate(data)


def test_polyline_round_trip_keeps_lon_lat_order() -> None:
    """Encoding then decoding [lon, lat] points gives them back to 1e-5 degree."""
    points = [(6.5625, 52.9925), (6.56301, 52.99311), (6.57, 53.0)]
    decoded = polyline.decode(polyline.encode(points))
    flat = [c for point in decoded for c in point]
    assert flat == pytest.approx([c for point in points for c in point], abs=1e-5)


def test_polyline_known_value() -> None:
    """The format's own published example decodes as documented (lat/lon swapped to lon/lat)."""
    assert polyline.decode("_p~iF~ps|U_ulLnnqC_mqNvxq`@") == [
        (-120.2, 38.5),
        (-120.95, 40.7),
        (-126.453, 43.252),
    ]


def test_polyline_cut_short_is_an_error() -> None:
    """A truncated line is a ValueError, not wrong coordinates."""
    with pytest.raises(ValueError, match="cut short"):
        polyline.decode("_p~iF~ps|U_ulL")
