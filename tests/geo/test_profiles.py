"""Which ways a car or bike may use, and how fast (geo/profiles.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.profiles import CAR_SPEEDS_KMH, MAXSPEED_FACTOR, parse_maxspeed, way_rule


@pytest.mark.parametrize(
    ("tag", "kmh"),
    [
        ("50", 50.0),
        ("30 mph", 30 * 1.609344),
        ("PT:urban", 50.0),
        ("NL:rural", 80.0),
        ("50;30", 30.0),
        ("none", None),
        ("", None),
        (None, None),
    ],
)
def test_maxspeed_tags(tag: str | None, kmh: float | None) -> None:
    """Numbers, mph, country zones and lists parse to km/h; unknown values to None."""
    assert parse_maxspeed(tag) == pytest.approx(kmh) if kmh else parse_maxspeed(tag) is None


@given(st.integers(min_value=1, max_value=200))
def test_plain_maxspeed_round_trips(kmh: int) -> None:
    """Any plain number is read as that many km/h."""
    assert parse_maxspeed(str(kmh)) == kmh


def test_car_respects_one_way_and_maxspeed() -> None:
    """A one-way street is open forward only; a tagged limit beats the table."""
    rule = way_rule("car", {"highway": "residential", "oneway": "yes", "maxspeed": "50"})
    assert rule is not None
    assert (rule.forward, rule.backward) == (True, False)
    assert rule.speed_kmh == pytest.approx(50 * MAXSPEED_FACTOR)
    reverse = way_rule("car", {"highway": "residential", "oneway": "-1"})
    assert reverse is not None
    assert (reverse.forward, reverse.backward) == (False, True)
    plain = way_rule("car", {"highway": "residential"})
    assert plain is not None
    assert plain.speed_kmh == CAR_SPEEDS_KMH["residential"]


@pytest.mark.parametrize(
    "tags",
    [
        {"highway": "footway"},
        {"highway": "residential", "access": "private"},
        {"highway": "service", "service": "parking_aisle"},
        {"highway": "cycleway"},
        {"highway": "residential", "motor_vehicle": "no"},
    ],
)
def test_car_refuses(tags: dict[str, str]) -> None:
    """Footways, private roads, parking aisles and cycleways are not for cars."""
    assert way_rule("car", tags) is None


def test_bike_rides_against_one_way_only_where_allowed() -> None:
    """oneway:bicycle=no or a contraflow cycle lane open the other direction to bikes."""
    one_way = {"highway": "residential", "oneway": "yes"}
    rule = way_rule("bike", one_way)
    assert rule is not None
    assert (rule.forward, rule.backward) == (True, False)
    for extra in ({"oneway:bicycle": "no"}, {"cycleway": "opposite_lane"}):
        rule = way_rule("bike", one_way | extra)
        assert rule is not None
        assert (rule.forward, rule.backward) == (True, True)


def test_bike_road_types() -> None:
    """Bikes use cycleways, not motorways; footways only where bicycles are allowed."""
    assert way_rule("bike", {"highway": "cycleway"}) is not None
    assert way_rule("bike", {"highway": "motorway"}) is None
    assert way_rule("bike", {"highway": "footway"}) is None
    assert way_rule("bike", {"highway": "footway", "bicycle": "yes"}) is not None


def test_unknown_profile() -> None:
    """Asking for a profile we do not have names it."""
    with pytest.raises(ValueError, match="'boat'"):
        way_rule("boat", {"highway": "residential"})
