"""`nachtroute` subcommands of the geo package: geo import, geo locate, geo matrix, plot."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from api.cli._errors import UserInputError

__all__ = ["register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add `geo import|locate|matrix` and the top-level `plot`."""
    geo = subcommands.add_parser("geo", help="road networks from OpenStreetMap extracts")
    geo_commands = geo.add_subparsers(dest="geo_command", metavar="GEO_COMMAND")
    geo_commands.required = True

    importer = geo_commands.add_parser(
        "import", help="import an .osm.pbf/.osm/.osm.bz2 extract into the data directory"
    )
    importer.add_argument("file", type=Path, metavar="FILE")
    importer.add_argument("--name", required=True, help="network name, e.g. 'drenthe'")
    importer.set_defaults(handler=_import)

    locate = geo_commands.add_parser("locate", help="print the point of an address")
    locate.add_argument("--network", required=True, metavar="NAME")
    locate.add_argument("address", help="'9401 AB 12', 'Teststraat 12, Testdorp' or 'lat, lon'")
    locate.set_defaults(handler=_locate)

    matrix = geo_commands.add_parser(
        "matrix", help="travel seconds between points (row = from, column = to)"
    )
    matrix.add_argument("--network", required=True, metavar="NAME")
    matrix.add_argument("--points", required=True, type=Path, help="CSV with columns lat,lon")
    matrix.add_argument("--profile", choices=("car", "bike"), default="car")
    matrix.add_argument("--out", type=Path, help="M.csv or M.npy (default: CSV on stdout)")
    matrix.set_defaults(handler=_matrix)

    plot = subcommands.add_parser("plot", help="draw a plan's routes over the road network")
    plot.add_argument("plan", type=Path, metavar="PLAN.json", help="the optimizer's plan")
    plot.add_argument(
        "--problem", required=True, type=Path, help="the problem it solves (for coordinates)"
    )
    plot.add_argument("--network", metavar="NAME", help="draw legs along this network's roads")
    plot.add_argument("--out", required=True, type=Path, help="image file, e.g. night.png")
    plot.add_argument("--geojson", type=Path, help="also write the legs as .geojson or .gpkg")
    plot.set_defaults(handler=_plot)


def _progress(message: str) -> None:
    print(f"nachtroute: {message}", file=sys.stderr, flush=True)


def _import(args: argparse.Namespace) -> int:
    import time

    from geo import GeoError, import_network, prepare_routing

    try:
        network = import_network(args.file, name=args.name, progress=_progress)
    except (GeoError, ValueError) as error:
        raise UserInputError(str(error)) from error
    # Order the contraction hierarchies now, so no later matrix request waits for it.
    _progress("preparing routing indexes (car, bike)")
    started = time.perf_counter()
    prepare_routing(network)
    _progress(f"routing indexes ready in {time.perf_counter() - started:.1f} s")
    counts = network.meta["counts"]
    print(
        f"{network.name}: version {network.version}, car {counts['car']['nodes']} junctions, "
        f"bike {counts['bike']['nodes']} junctions, {len(network.addresses)} addresses"
    )
    return 0


def _load(name: str) -> Any:
    from geo import GeoError, load_network

    try:
        return load_network(name)
    except GeoError as error:
        raise UserInputError(f"--network: {error}") from error


def _locate(args: argparse.Namespace) -> int:
    from geo import GeoError

    network = _load(args.network)
    try:
        address = network.addresses.lookup(args.address)
    except GeoError as error:
        raise UserInputError(str(error)) from error
    print(f"{address.lat:.7f},{address.lon:.7f}")
    return 0


def _read_points(path: Path) -> list[tuple[float, float]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "lat" not in fields or "lon" not in fields:
                raise UserInputError(f"{path}: needs a header with columns 'lat' and 'lon'")
            points: list[tuple[float, float]] = []
            for line, row in enumerate(reader, start=2):
                clean = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                try:
                    lat, lon = float(clean["lat"]), float(clean["lon"])
                except ValueError:
                    raise UserInputError(
                        f"{path}, line {line}: lat/lon must be numbers, got "
                        f"{clean['lat']!r}, {clean['lon']!r}"
                    ) from None
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    raise UserInputError(f"{path}, line {line}: lat/lon out of range")
                points.append((lat, lon))
    except OSError as error:
        raise UserInputError(f"--points: cannot read {path}: {error.strerror}") from error
    if not points:
        raise UserInputError(f"{path}: holds no points")
    return points


def _matrix(args: argparse.Namespace) -> int:
    from geo import GeoError, travel_times

    points = _read_points(args.points)
    network = _load(args.network)
    _progress(f"{len(points)} points, profile {args.profile}")
    try:
        labels = [f"line {n + 2}" for n in range(len(points))]
        times = travel_times(network, points, profile=args.profile, labels=labels)
    except GeoError as error:
        raise UserInputError(f"{args.points}: {error}") from error
    out: Path | None = args.out
    if out is None:
        np.savetxt(sys.stdout, times.seconds, delimiter=",", fmt="%.1f")
    elif out.suffix.lower() == ".npy":
        np.save(out, times.seconds)
    elif out.suffix.lower() == ".csv":
        np.savetxt(out, times.seconds, delimiter=",", fmt="%.1f")
    else:
        raise UserInputError(f"--out {out}: use a .csv or .npy file name")
    if out is not None:
        _progress(f"wrote {len(points)}x{len(points)} seconds to {out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from geo import GeoError, plan_legs, write_plan
    from geo.plot import plot_plan
    from optimizer.model import Problem
    from optimizer.plan import Plan

    plan = _read_model(args.plan, Plan)
    problem = _read_model(args.problem, Problem)
    if not problem.locations:
        raise UserInputError(f"{args.problem}: locations: coordinates are needed to draw a plan")
    network = _load(args.network) if args.network else None
    profiles = {nurse.id: nurse.profile for nurse in problem.nurses}
    try:
        legs = plan_legs(plan, problem.locations, network=network, profiles=profiles)
        urgencies = {visit.id: visit.urgency for visit in problem.visits}
        plot_plan(legs, args.out, network=network, urgencies=urgencies)
        if args.geojson is not None:
            write_plan(legs, args.geojson)
    except (GeoError, ValueError) as error:
        raise UserInputError(f"{args.plan}: {error}") from error
    _progress(f"drew {len(legs)} legs to {args.out}")
    return 0


def _read_model(path: Path, model: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror}") from error
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise UserInputError(f"{path}: {where}: {first['msg']}") from error
    except json.JSONDecodeError as error:
        raise UserInputError(f"{path}: not JSON ({error})") from error
