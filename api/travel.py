"""Travel matrices for the service: the one place that decides where travel times come from.

Straight-line estimates (`optimizer.travel.estimated_matrix`) until the road network in
`geo/` lands; swapping it in is a change to `travel_matrices` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from optimizer.model import Location, TravelMatrix
from optimizer.travel import estimated_matrix

__all__ = ["travel_matrices"]


def travel_matrices(
    locations: Sequence[Location], profiles: Iterable[str] = ("car",)
) -> list[TravelMatrix]:
    """One matrix per travel profile over ``locations`` (index = position in the list)."""
    return [estimated_matrix(locations, profile=profile) for profile in sorted(set(profiles))]
