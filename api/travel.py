"""Travel matrices for the service: the one place that decides where travel times come from.

Road travel times from the network named in settings (`NACHTROUTE_NETWORK`, imported with
`nachtroute geo import`), loaded once when the app starts; without one, straight-line
estimates, which every plan flags as such.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import geo
from geo.network import Network
from geo.snapping import MAX_SNAP_METRES
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
            except geo.TooFarFromRoadError as error:
                # A point off the road map must not stop the night, nor turn every other
                # point's road times into guesses (S25-01): only its rows and columns are
                # estimated, and the matrix says it holds estimates. No coordinates logged.
                logger.warning(
                    "road travel times unavailable for some points (%s); straight-line "
                    "estimates for those",
                    error.__class__.__name__,
                )
                result.append(self._partly_estimated(list(locations), profile))
            except (geo.GeoError, KeyError, ValueError) as error:
                logger.warning(
                    "road travel times unavailable (%s); using straight-line estimates",
                    error.__class__.__name__,
                )
                result.append(geo.travel_matrix(list(locations), network=None, profile=profile))
        return result

    def _partly_estimated(self, locations: list[Location], profile: str) -> TravelMatrix:
        """Road times between the points on the roads; straight-line estimates to and from
        the points farther than the snapping limit from every road (flagged ``estimated``)."""
        assert self.network is not None
        estimate = geo.travel_matrix(locations, network=None, profile=profile)
        snapped = geo.snap_points(
            self.network,
            [p.lat for p in locations],
            [p.lon for p in locations],
            profile=profile,
            max_distance_m=math.inf,
        )
        on_road = [i for i, d in enumerate(snapped.distance_m) if d <= MAX_SNAP_METRES]
        if not on_road:
            return estimate
        road = geo.travel_matrix(
            [locations[i] for i in on_road], network=self.network, profile=profile
        )
        seconds = [list(row) for row in estimate.seconds]
        for a, i in enumerate(on_road):
            for b, j in enumerate(on_road):
                seconds[i][j] = road.seconds[a][b]
        return TravelMatrix(profile=profile, seconds=seconds, estimated=True)


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
