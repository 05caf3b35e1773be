"""Errors of the geo package; each subclasses the built-in a caller would expect.

Exception tree::

    GeoError (Exception)                 every error below, for a single except clause
    ├── NetworkNotFoundError (FileNotFoundError)   no imported network of that name
    ├── ExtractError (ValueError)        the OSM extract cannot be read or holds no roads
    ├── AddressFormatError (ValueError)  the address text matches no known pattern
    ├── AddressNotFoundError (LookupError)  well-formed address absent from the index
    └── TooFarFromRoadError (ValueError) a point lies farther than the limit from any road
"""

from __future__ import annotations

__all__ = [
    "AddressFormatError",
    "AddressNotFoundError",
    "ExtractError",
    "GeoError",
    "NetworkNotFoundError",
    "TooFarFromRoadError",
]


class GeoError(Exception):
    """Base of every error raised by the geo package."""


class NetworkNotFoundError(GeoError, FileNotFoundError):
    """No network of that name was imported into the data directory."""


class ExtractError(GeoError, ValueError):
    """The OSM extract is unreadable, or contains no usable roads."""


class AddressFormatError(GeoError, ValueError):
    """An address string that is neither postcode + number nor street + number + town."""


class AddressNotFoundError(GeoError, LookupError):
    """A well-formed address that the network's address index does not hold."""


class TooFarFromRoadError(GeoError, ValueError):
    """A point farther from every road than the snapping limit allows."""
