"""Dutch address parsing and the offline address index (geo/addresses.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import AddressFormatError, AddressNotFoundError, locate
from geo.addresses import normalize_housenumber, parse_address
from geo.network import Network


@pytest.mark.parametrize("text", ["9401 AB 12", "9401AB 12", "9401 ab 12", " 9401AB12 "])
def test_dutch_postcode_spellings(text: str) -> None:
    """Postcode with or without space, any case, parse to one normalized form."""
    query = parse_address(text)
    assert (query.postcode, query.housenumber) == ("9401AB", "12")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("9401 ab 12-a", "12A"),
        ("9401 AB 12a", "12A"),
        ("9401 AB 12 A", "12A"),
        ("9401 AB 12-1", "12-1"),
    ],
)
def test_dutch_house_number_additions(text: str, number: str) -> None:
    """House letters join the number ("12A"); numeric additions keep a dash ("12-1")."""
    assert parse_address(text).housenumber == number


def test_street_number_town() -> None:
    """Street + number + town splits into its three parts."""
    query = parse_address("Teststraat 12-a, Testdorp")
    assert (query.street, query.housenumber, query.town) == ("Teststraat", "12A", "Testdorp")


def test_coordinates_are_accepted() -> None:
    """'lat, lon' is a point, no lookup needed."""
    query = parse_address("52.99, 6.56")
    assert (query.lat, query.lon) == (52.99, 6.56)


def test_gibberish_is_a_format_error() -> None:
    """Text that is no address names itself and the accepted forms."""
    with pytest.raises(AddressFormatError, match=r"'!!'.*9401 AB 12"):
        parse_address("!!")


postcodes = st.tuples(
    st.integers(min_value=1000, max_value=9999),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
)


@given(
    postcodes,
    st.integers(min_value=1, max_value=9999),
    st.sampled_from(["", "A", "b", "1", "23"]),
    st.sampled_from(["", " "]),
    st.sampled_from([" ", "-", ""]),
)
def test_dutch_postcode_round_trip(
    postcode: tuple[int, str], number: int, addition: str, gap: str, sep: str
) -> None:
    """Any spelling of a Dutch postcode address parses back to the same parts."""
    digits, letters = postcode
    if addition[:1].isdigit() and sep == "":
        sep = "-"  # "121" would be another house number, not 12 + 1
    text = f"{digits}{gap}{letters.lower()} {number}{sep}{addition}"
    query = parse_address(text)
    assert query.postcode == f"{digits}{letters}"
    expected = f"{number}-{addition}" if addition[:1].isdigit() else f"{number}{addition.upper()}"
    assert query.housenumber == expected
    assert normalize_housenumber(query.housenumber or "") == query.housenumber


@pytest.mark.parametrize(
    "text",
    [
        "9999 ZZ 12",
        "9999zz 12",
        "Teststraat 12, Testdorp",
        "teststraat 12 testdorp",
        "Teststraat 12",
    ],
)
def test_fictional_address_resolves_to_its_house(testdorp: Network, text: str) -> None:
    """Every way of naming Teststraat 12 finds node 10 of the fictional file."""
    assert locate(testdorp, text).model_dump() == {"lat": 53.0002, "lon": 6.5010}


def test_house_letter_is_another_house(testdorp: Network) -> None:
    """ "12-a" is not "12": it is its own node."""
    assert locate(testdorp, "9999 ZZ 12-a").lon == pytest.approx(6.5012)


def test_building_address_at_its_centre(testdorp: Network) -> None:
    """An address on a building outline resolves to the mean of its corners."""
    point = locate(testdorp, "9998 YY 7")
    assert (point.lat, point.lon) == (pytest.approx(52.9982), pytest.approx(6.5036))


def test_unknown_address_names_it(testdorp: Network) -> None:
    """An address the index lacks is an error naming it, never a nearby guess."""
    with pytest.raises(AddressNotFoundError, match="'9999 ZZ 13'"):
        locate(testdorp, "9999 ZZ 13")
    with pytest.raises(AddressNotFoundError, match="Teststraat 12, Elders"):
        locate(testdorp, "Teststraat 12, Elders")


def test_porto_real_address(porto: Network) -> None:
    """Porto's own addr:* tags: 4760-585 nº 419 is OSM node 3281334328 (Rua Machado dos Santos)."""
    address = porto.addresses.lookup("4760-585 419")
    assert address.osm == "node/3281334328"
    assert address.street == "Rua Machado dos Santos"
    by_street = porto.addresses.lookup("Rua Machado dos Santos 419, Calendario")
    assert by_street == address
