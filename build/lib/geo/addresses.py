"""An offline address index from the extract's ``addr:*`` tags, and address parsing.

Dutch partners name a client by postcode and house number ("9401 AB 12", "9401AB 12-a");
street + number + town ("Teststraat 12, Testdorp") and plain coordinates ("52.99, 6.56")
work too. An address the index lacks is an error naming it, never a nearby guess.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from geo._errors import AddressFormatError, AddressNotFoundError

__all__ = [
    "Address",
    "AddressIndex",
    "AddressQuery",
    "normalize_housenumber",
    "normalize_postcode",
    "parse_address",
]

_DUTCH = re.compile(
    r"^\s*(?P<digits>[1-9]\d{3})\s?(?P<letters>[A-Za-z]{2})[\s,]*(?P<number>\d+\s*[-/]?\s*[A-Za-z0-9]{0,4})\s*$"
)
_PORTUGUESE = re.compile(
    r"^\s*(?P<postcode>\d{4}-\d{3})[\s,]+(?P<number>\d+\s*[-/]?\s*[A-Za-z0-9]{0,4})\s*$"
)
_STREET = re.compile(
    r"^\s*(?P<street>\D+?)[\s,]+(?P<number>\d+(?:\s*[-/]\s*[A-Za-z0-9]{1,4}|[A-Za-z]{1,2}\b)?)"
    r"(?:[\s,]+(?P<town>\D.*?))?\s*$"
)
_COORDINATES = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_HOUSENUMBER = re.compile(r"^(\d+)\s*[-/]?\s*([A-Za-z0-9]{0,4})$")
#: Entries sharing one key closer than this are one building (a node and its outline).
_SAME_PLACE_METRES = 50.0


@dataclass(frozen=True, slots=True)
class Address:
    """An address from the index and its point (WGS84 degrees)."""

    postcode: str
    housenumber: str
    street: str
    town: str
    lat: float
    lon: float
    osm: str


@dataclass(frozen=True, slots=True)
class AddressQuery:
    """A parsed address: postcode + house number, street + number (+ town), or a point."""

    postcode: str | None = None
    housenumber: str | None = None
    street: str | None = None
    town: str | None = None
    lat: float | None = None
    lon: float | None = None


def normalize_postcode(text: str) -> str:
    """Return a postcode uppercased without spaces ("9401 ab" → "9401AB")."""
    return re.sub(r"\s+", "", text).upper()


def normalize_housenumber(text: str) -> str:
    """Return a house number in one spelling: "12 a", "12-a" → "12A"; "12 1" → "12-1"."""
    compact = text.strip()
    match = _HOUSENUMBER.match(compact)
    if not match:
        return re.sub(r"\s+", "", compact).upper()
    number, addition = match.group(1).lstrip("0") or "0", match.group(2).upper()
    if addition[:1].isdigit():
        return f"{number}-{addition}"
    return number + addition


def parse_address(text: str) -> AddressQuery:
    """Return the parts of ``text``; raise AddressFormatError if no pattern fits."""
    if match := _COORDINATES.match(text):
        lat, lon = float(match.group(1)), float(match.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return AddressQuery(lat=lat, lon=lon)
    if match := _DUTCH.match(text):
        return AddressQuery(
            postcode=match.group("digits") + match.group("letters").upper(),
            housenumber=normalize_housenumber(match.group("number")),
        )
    if match := _PORTUGUESE.match(text):
        return AddressQuery(
            postcode=match.group("postcode"),
            housenumber=normalize_housenumber(match.group("number")),
        )
    if match := _STREET.match(text):
        town = match.group("town")
        return AddressQuery(
            street=match.group("street").strip(" ,"),
            housenumber=normalize_housenumber(match.group("number")),
            town=town.strip(" ,") if town else None,
        )
    raise AddressFormatError(
        f"address {text!r}: expected a postcode and house number ('9401 AB 12'), "
        "a street, number and town ('Teststraat 12, Testdorp'), or 'lat, lon'"
    )


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a name ("Calendário" → "calendario")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


class AddressIndex:
    """Dictionaries from (postcode, number) and (street, number) to indexed addresses."""

    def __init__(self, addresses: Iterable[Address]) -> None:
        self.addresses: tuple[Address, ...] = tuple(addresses)
        self._by_postcode: dict[tuple[str, str], list[Address]] = {}
        self._by_street: dict[tuple[str, str], list[Address]] = {}
        for address in self.addresses:
            number = normalize_housenumber(address.housenumber)
            if address.postcode:
                key = (normalize_postcode(address.postcode), number)
                self._by_postcode.setdefault(key, []).append(address)
            if address.street:
                self._by_street.setdefault((_fold(address.street), number), []).append(address)

    @classmethod
    def from_raw(cls, raw: Iterable[Any]) -> AddressIndex:
        """Return an index of the extract's addresses (objects with Address's fields)."""
        return cls(
            Address(
                postcode=a.postcode,
                housenumber=a.housenumber,
                street=a.street,
                town=a.town,
                lat=a.lat,
                lon=a.lon,
                osm=a.osm,
            )
            for a in raw
            if a.housenumber and (a.postcode or a.street)
        )

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> AddressIndex:
        """Return an index from :meth:`to_records` output."""
        return cls(Address(**record) for record in records)

    def to_records(self) -> list[dict[str, Any]]:
        """Return the addresses as JSON-ready dictionaries."""
        return [asdict(address) for address in self.addresses]

    def __len__(self) -> int:
        return len(self.addresses)

    def lookup(self, text: str) -> Address:
        """Return the address ``text`` names; raise AddressNotFoundError if not indexed."""
        query = parse_address(text)
        if query.lat is not None and query.lon is not None:
            return Address("", "", "", "", query.lat, query.lon, "coordinates")
        assert query.housenumber is not None
        if query.postcode is not None:
            found = self._by_postcode.get(
                (normalize_postcode(query.postcode), query.housenumber), []
            )
        else:
            assert query.street is not None
            found = self._by_street.get((_fold(query.street), query.housenumber), [])
            if query.town:
                town = _fold(query.town)
                found = [a for a in found if _fold(a.town) == town]
        if not found:
            raise AddressNotFoundError(f"address {text!r} is not in the network's address index")
        if not _one_place(found):
            towns = sorted({a.town or a.postcode for a in found})
            raise AddressNotFoundError(
                f"address {text!r} matches {len(found)} places ({', '.join(towns)}); "
                "add the town or use the postcode"
            )
        return found[0]


def _one_place(found: Sequence[Address]) -> bool:
    first = found[0]
    for other in found[1:]:
        dy = (other.lat - first.lat) * 111_320.0
        dx = (other.lon - first.lon) * 111_320.0 * math.cos(math.radians(first.lat))
        if math.hypot(dx, dy) > _SAME_PLACE_METRES:
            return False
    return True
