"""`nachtroute simulate`: nights generated, played through the service, baselines beside it.

Per team size: a fresh database (a SQLite file in a temporary folder, or ``database_url``),
the accounts seeded, the service started on a free loopback port with a simulated clock at
22:30 of each night (restarted per night, the same database), the partners' clients and
recurring care posted over HTTP, and each night played by `play.ServiceNight`; then the
baselines (`policies`) on the same nights from the service's own evening plan.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from api.core.config import Settings
from api.simulation.generate import World, make_world
from api.simulation.params import SimParams
from api.simulation.play import (
    ServiceNight,
    Session,
    night_start,
    seed_database,
    serve_for,
    setup_clients,
)
from api.simulation.policies import BASELINES, play_baseline
from api.simulation.records import NightRecord
from api.simulation.service import Remote, Served
from mobile_contract.dpop_client import PhoneKey

__all__ = ["FIRST_NIGHT", "Options", "TeamResult", "simulate_team"]

#: The simulated nights start on this evening (fictional; any date works).
FIRST_NIGHT = date(2026, 11, 2)


@dataclass
class Options:
    nights: int
    seed: int
    nurses: int
    #: ``None``: a stepped clock (moved event to event once the service is idle); else the
    #: service's clock runs this many times real time.
    speed: float | None = None
    network: str | None = None
    data_dir: Path | None = None
    database_url: str | None = None
    #: A running service to play against (``--url``): not started or stopped here; it must
    #: use ``database_url`` (fresh: its accounts are seeded there) and ``clock_file``.
    url: str | None = None
    clock_file: Path | None = None
    params: SimParams = field(default_factory=SimParams)
    keep_database: Path | None = None
    #: The evening of the first night (a night the clocks change plays 9 or 7 hours).
    first_night: date = FIRST_NIGHT
    #: Play only these nights (numbers from 0) of the ``nights`` generated from ``seed``.
    only_nights: list[int] | None = None


@dataclass
class TeamResult:
    nurses: int
    records: dict[str, list[NightRecord]]
    wall_seconds_per_night: list[float]
    database_url: str | None
    partner_keys: list[str] = field(default_factory=list)


def _on_road(network: Any) -> Callable[[float, float], tuple[float, float] | None] | None:
    if network is None:
        return None
    import geo

    def on_road(lat: float, lon: float) -> tuple[float, float] | None:
        try:
            snapped = geo.snap_points(network, [lat], [lon])
        except geo.GeoError:
            return None
        return float(snapped.lat[0]), float(snapped.lon[0])

    return on_road


def _travel(world: World, base: tuple[float, float], network: Any) -> Callable[[int, int], float]:
    """Minutes between places (index -1: the base), from the service's own travel module."""
    from api.travel import RoadNetwork
    from optimizer.model import Location

    locations = [Location(lat=base[0], lon=base[1])] + [
        Location(lat=p.lat, lon=p.lon) for p in world.places
    ]
    seconds = RoadNetwork(network).matrices(locations)[0].seconds

    def travel(a: int, b: int) -> float:
        return float(seconds[a + 1][b + 1]) / 60

    return travel


def simulate_team(
    options: Options,
    *,
    world: World,
    network: Any,
    centre: tuple[float, float],
    progress: Callable[[int, float], None] | None = None,
) -> TeamResult:
    """Play ``world``'s nights with ``options.nurses`` nurses; records per policy."""
    nights = [spec.night_date for spec in world.nights]
    records: dict[str, list[NightRecord]] = {"nachtroute": [], **{b: [] for b in BASELINES}}
    walls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="nachtroute-sim-") as tmp:
        folder = options.keep_database or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = options.database_url or f"sqlite+pysqlite:///{folder / 'sim.sqlite'}"
        settings = Settings(
            environment="development", database_url=url, data_dir=folder, network=None
        )
        region = seed_database(url, settings, nurses=options.nurses, nights=nights, centre=centre)
        travel = _travel(world, region.base, network)
        stepped = options.speed is None
        tolerance = options.params.tolerance_minutes if options.params.apply_tolerance else None
        served: Served | Remote
        if options.url is not None:
            if options.clock_file is None or not stepped:
                raise ValueError("--url plays on the service's stepped clock: --clock-file")
            served = Remote(options.url, options.clock_file)
            served.check_database(region.partner_keys[0])
        else:
            served = serve_for(
                folder,
                url,
                speed=options.speed or 1.0,
                clock_file=folder / "clock.txt" if stepped else None,
                nights=len(nights),
                network=options.network,
                tolerance=tolerance,
                data_dir=options.data_dir or folder,
            )
        http: Session | None = None
        # Each nurse's phone for the run: its device id and key pair (kept across restarts).
        devices: dict[str, tuple[str, PhoneKey]] = {}
        place_client: dict[int, int] = {}
        recurring: dict[str, int] = {}
        try:
            errors_seen = 0
            for spec in world.nights:
                began = time.monotonic()
                evening_at = night_start(spec.night_date) - timedelta(hours=1)
                if stepped:
                    # One process for the run (and the restart fault): the clock stands at
                    # 22:00 for the evening, then the night is played step by step.
                    if served.process is None:
                        served.start(evening_at)
                    if http is None:
                        http = Session(served.base_url, clock_file=served.clock_file)
                        http.sync_clock()
                    http.advance(evening_at)
                else:
                    # The evening (clients, planned care, the evening plan) runs on a clock
                    # at real speed from 22:00, so it is done before 23:00 however slow the
                    # machine; the night then runs fast from 23:00. The service's clock
                    # never goes back (a token or a second factor issued later is not valid
                    # yet).
                    served.speed = 1.0
                    served.start(evening_at)
                    if http is not None:
                        http.point_base(served.base_url)
                if http is None:
                    http = Session(served.base_url)
                if not stepped:
                    http.sync_clock(1.0)
                if not place_client:
                    place_client, recurring = setup_clients(
                        http, world, region, nights[0], nights[-1]
                    )

                def restart(now: datetime) -> str:
                    served.stop()
                    served.start(now)
                    return served.base_url

                # A service that is not ours is never restarted (the fault is not played).
                remote = isinstance(served, Remote)

                night = ServiceNight(
                    http,
                    world,
                    spec,
                    options.params,
                    region,
                    place_client=place_client,
                    recurring_requests=recurring,
                    restart=None if remote else restart,
                    travel=travel,
                )
                night.evening(devices)
                evening = time.monotonic() - began
                if options.speed is not None:
                    served.stop()
                    served.speed = options.speed
                    served.start(night_start(spec.night_date))
                    http.point_base(served.base_url)
                    http.sync_clock(options.speed)
                record = night.play(_progress_of(progress, spec.number))
                errors = served.error_lines()
                record.violations += [f"server log: {line[:160]}" for line in errors[errors_seen:]]
                errors_seen = len(errors)
                if not stepped:
                    served.stop()
                walls.append(time.monotonic() - began)
                record.evening_seconds = evening
                records["nachtroute"].append(record)
                by_visit = {f"V{v}": job.key for v, job in night.by_visit.items()}
                routes = [
                    [by_visit[v] for v in visits if v in by_visit]
                    for visits in night.evening_routes.values()
                ]
                rests = [night.evening_breaks.get(n) for n in night.evening_routes]
                for baseline in BASELINES:
                    records[baseline].append(
                        play_baseline(baseline, spec, routes, travel, options.params, rests)
                    )
        finally:
            served.stop()
            if http is not None:
                http.close()
    return TeamResult(
        nurses=options.nurses,
        records=records,
        wall_seconds_per_night=walls,
        database_url=url if options.keep_database or options.database_url else None,
        partner_keys=region.partner_keys,
    )


def build_world(options: Options) -> tuple[World, Any, tuple[float, float]]:
    """The nights (same for every team size and policy), the road network, the centre."""
    from api.seed import CENTRE, PORTO_CENTRE

    network = None
    if options.network is not None:
        from api.travel import use_network

        network = use_network(options.network, data_dir=options.data_dir).network
    centre = PORTO_CENTRE if network is not None else CENTRE
    world = make_world(
        options.params,
        nights=options.nights,
        seed=options.seed,
        first_night=options.first_night,
        centre=centre,
        on_road=_on_road(network),
    )
    if options.only_nights is not None:
        # Each night is drawn from the seed and its number alone (`generate._night`), so the
        # chosen nights are the very nights of the whole run.
        world.nights = [spec for spec in world.nights if spec.number in options.only_nights]
    return world, network, centre


def _progress_of(
    progress: Callable[[int, float], None] | None, night: int
) -> Callable[[float], None] | None:
    if progress is None:
        return None

    def report(minute: float) -> None:
        progress(night, minute)

    return report
