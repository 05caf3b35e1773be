"""OpenStreetMap road networks, snapping, travel-time matrices and route geometry.

The calls a service needs::

    network = load_network("porto")                      # import_network(...) once first
    prepare_routing(network)                             # at start-up: routing indexes ready
    times = travel_times(network, locations, profile="car")  # -> TravelTimes (.seconds)
    times = add_location(times, network, alarm_location)     # one new row and column
    matrix = times.to_travel_matrix()                        # optimizer.model.TravelMatrix
    matrix = travel_matrix(locations, network=None)          # same, estimated if no network
    point = locate(network, "9401 AB 12")                    # -> optimizer.model.Location
    snapped = snap_points(network, lats, lons)               # nearest road edge, metres off
    legs = plan_legs(plan, locations, network=network)       # GeoDataFrame, a line per leg
    legs_geojson(legs)                                       # FeatureCollection dict
    estimated_matrix(locations)                              # no network: flagged estimate
"""

from __future__ import annotations

from geo._errors import (
    AddressFormatError,
    AddressNotFoundError,
    ExtractError,
    GeoError,
    NetworkNotFoundError,
    TooFarFromRoadError,
)
from geo.addresses import Address, AddressIndex, parse_address
from geo.estimate import estimated_matrix, estimated_seconds
from geo.geometry import leg_line, legs_geojson, plan_legs, write_plan
from geo.matrix import TravelTimes, add_location, prepare_routing, travel_times
from geo.network import Network, data_dir, import_network, load_network, network_names
from geo.snapping import Snapped, snap_points
from optimizer.model import Location, TravelMatrix

__all__ = [
    "Address",
    "AddressFormatError",
    "AddressIndex",
    "AddressNotFoundError",
    "ExtractError",
    "GeoError",
    "Location",
    "Network",
    "NetworkNotFoundError",
    "Snapped",
    "TooFarFromRoadError",
    "TravelTimes",
    "add_location",
    "data_dir",
    "estimated_matrix",
    "estimated_seconds",
    "import_network",
    "leg_line",
    "legs_geojson",
    "load_network",
    "locate",
    "network_names",
    "parse_address",
    "plan_legs",
    "prepare_routing",
    "snap_points",
    "travel_matrix",
    "travel_times",
    "write_plan",
]


def locate(network: Network, text: str) -> Location:
    """Return the point of an address ("9401 AB 12", "Teststraat 12, Testdorp", "lat, lon")."""
    address = network.addresses.lookup(text)
    return Location(lat=address.lat, lon=address.lon)


def travel_matrix(
    locations: list[Location], *, network: Network | None, profile: str = "car"
) -> TravelMatrix:
    """Return the optimizer's matrix: road times on ``network``, or a flagged estimate."""
    if network is None:
        return estimated_matrix(locations, profile=profile)
    return travel_times(network, locations, profile=profile).to_travel_matrix()
