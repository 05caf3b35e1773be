"""Travel matrices for the service: the one place that decides where travel times come from.

Road travel times from the network named in settings (`NACHTROUTE_NETWORK`, imported with
`nachtroute geo import`), loaded once when the app starts; without one, straight-line
estimates, which every plan flags as such.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import geo
from geo.network import Network
from optimizer.model import Location, TravelMatrix

__all__ = ["RoadNetwork", "road_network", "travel_matrices", "use_network"]

logger = logging.getLogger(__name__)


class RoadNetwork:
    """The loaded network the service routes on (or none)."""

    def __init__(self, network: Network | None = None) -> None:
        self.network = network

    def matrices(
        self, locations: Sequence[Location], profiles: Iterable[str] = ("car",)
    ) -> list[TravelMatrix]:
        """One matrix per travel profile over ``locations`` (index = position in the list)."""
        result = []
        for profile in sorted(set(profiles)):
            try:
                result.append(
                    geo.travel_matrix(list(locations), network=self.network, profile=profile)
                )
            except (geo.GeoError, KeyError, ValueError) as error:
                # A point off the road map must not stop the night: estimate, and say so.
                # The message names points by index only: no coordinates in the log.
                logger.warning(
                    "road travel times unavailable (%s); using straight-line estimates",
                    error.__class__.__name__,
                )
                result.append(geo.travel_matrix(list(locations), network=None, profile=profile))
        return result


_current = RoadNetwork()


def use_network(name: str | None, *, data_dir: Path | None = None) -> RoadNetwork:
    """Load network ``name`` (and its routing index) for the service; ``None``: estimates."""
    global _current  # one network per process, chosen at start-up
    if name is None:
        _current = RoadNetwork()
        return _current
    network = geo.load_network(name, data_dir_path=data_dir)
    geo.prepare_routing(network)
    _current = RoadNetwork(network)
    return _current


def road_network() -> RoadNetwork:
    """The network the service routes on now."""
    return _current


def travel_matrices(
    locations: Sequence[Location], profiles: Iterable[str] = ("car",)
) -> list[TravelMatrix]:
    """One matrix per travel profile over ``locations``, from the service's network."""
    return _current.matrices(locations, profiles)
