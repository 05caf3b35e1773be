"""The encoded polyline of a leg: Google's format, precision 1e-5.

The format itself orders each point (lat, lon); these functions take and return
``[lon, lat]`` pairs like the rest of the contract, so the swap happens here and only here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["decode", "encode"]

_SCALE = 1e5


def encode(points: Iterable[Sequence[float]]) -> str:
    """The polyline string for ``[lon, lat]`` points."""
    out: list[str] = []
    last_lat = last_lon = 0
    for lon, lat in points:
        lat_i, lon_i = round(lat * _SCALE), round(lon * _SCALE)
        out.append(_number(lat_i - last_lat))
        out.append(_number(lon_i - last_lon))
        last_lat, last_lon = lat_i, lon_i
    return "".join(out)


def decode(text: str) -> list[tuple[float, float]]:
    """The ``[lon, lat]`` points of a polyline string; ``ValueError`` if it is cut short."""
    numbers: list[int] = []
    value = shift = 0
    for char in text:
        chunk = ord(char) - 63
        if not 0 <= chunk < 64:
            raise ValueError(f"not a polyline character: {char!r}")
        value |= (chunk & 0x1F) << shift
        shift += 5
        if chunk < 0x20:
            numbers.append(~(value >> 1) if value & 1 else value >> 1)
            value = shift = 0
    if shift or len(numbers) % 2:
        raise ValueError("the polyline is cut short")
    points: list[tuple[float, float]] = []
    lat = lon = 0
    for i in range(0, len(numbers), 2):
        lat += numbers[i]
        lon += numbers[i + 1]
        points.append((lon / _SCALE, lat / _SCALE))
    return points


def _number(value: int) -> str:
    value = ~(value << 1) if value < 0 else value << 1
    chars = []
    while value >= 0x20:
        chars.append(chr((0x20 | (value & 0x1F)) + 63))
        value >>= 5
    chars.append(chr(value + 63))
    return "".join(chars)
