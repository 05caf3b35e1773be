"""Nights generated from a seed: clients, planned care, calls, noise and faults.

Everything random is drawn here, before any policy plays, so every policy plays exactly the
same night (same calls at the same minutes, same care and drive noise, same faults).
Units: minutes from the night's start (23:00 local) unless named otherwise.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.simulation.params import SimParams

__all__ = [
    "Call",
    "Faults",
    "NightSpec",
    "Place",
    "Planned",
    "World",
    "make_world",
    "night_minutes",
    "wall_minutes",
]

NIGHT_MINUTES = 8 * 60
#: The region's wall clock (the demo region's): a night is 23:00 to 07:00 on it.
ZONE = ZoneInfo("Europe/Amsterdam")


def wall_minutes(night_date: date, minute: float) -> float:
    """Real minutes from 23:00 on the evening ``night_date`` to the wall-clock time
    ``minute`` minutes after 23:00 (the wall clock of a standard night): on the night the
    clocks go back (last Sunday of October) 03:00 comes an hour later, on the night they go
    forward (last Sunday of March) an hour sooner. A time the clocks skip is taken as the
    first one after it; a time they repeat, as its first occurrence."""
    evening = datetime(night_date.year, night_date.month, night_date.day, 23)
    start = evening.replace(tzinfo=ZONE).astimezone(UTC)
    wall = (evening + timedelta(minutes=minute)).replace(tzinfo=ZONE)
    moment = wall.astimezone(UTC)
    if moment.astimezone(ZONE).replace(tzinfo=None) != wall.replace(tzinfo=None):
        # Skipped (02:xx on the spring night): the instant the clocks jump to 03:00.
        moment = (wall + timedelta(hours=1)).replace(minute=0).astimezone(UTC)
    return (moment - start).total_seconds() / 60


def night_minutes(night_date: date) -> int:
    """Real minutes from 23:00 to 07:00 of the night of ``night_date``: 480, or 540 / 420
    on the nights the clocks go back / forward."""
    return round(wall_minutes(night_date, NIGHT_MINUTES))


#: Planned night care: (care task, nominal minutes, skills, window width in minutes).
PLANNED_TASKS = [
    ("turn", 10, [], 120),
    ("turn", 15, [], 90),
    ("medication", 10, ["medication"], 60),
    ("injection", 10, ["injection"], 60),
    ("catheter", 20, ["catheter"], 90),
    ("wound", 20, ["wound"], 120),
]
CALL_TASKS = ["fall", "toilet", "alarm_unknown", "pain"]


@dataclass(frozen=True)
class Place:
    """A fictional client: where (on a road), which organisation (index 0..3)."""

    ref: str
    lat: float
    lon: float
    organisation: int
    key_safe: bool


@dataclass(frozen=True)
class Planned:
    """Planned care: window (minutes from 23:00), nominal and actual care minutes."""

    key: str
    place: int
    care_task: str
    service_minutes: int
    skills: tuple[str, ...]
    window: tuple[int, int]
    recurring: bool
    actual_minutes: float
    travel_factor: float
    key_safe_fails: bool


@dataclass(frozen=True)
class Call:
    """An unplanned call: when it comes in (minutes from 23:00), how urgent."""

    key: str
    place: int
    minute: float
    urgency: str
    care_task: str
    service_minutes: int
    actual_minutes: float
    travel_factor: float
    key_safe_fails: bool


@dataclass(frozen=True)
class Faults:
    """A night's faults (``None``: none of that kind tonight)."""

    delayed: tuple[int, float, int] | None = None  # nurse index, minute, delay minutes
    offline: tuple[int, float] | None = None  # nurse index, minute it goes offline
    restart: float | None = None  # minute of a service restart


@dataclass(frozen=True)
class NightSpec:
    """One night: its evening date, planned care (recurring + one-off), calls, faults."""

    number: int
    night_date: date
    planned: list[Planned]
    calls: list[Call]
    faults: Faults
    #: Real minutes from 23:00 to 07:00 (`night_minutes`: 540 / 420 when the clocks change).
    minutes: int = NIGHT_MINUTES


@dataclass
class World:
    """The fictional region of a run: places (recurring clients first) and its nights."""

    places: list[Place]
    recurring: list[Planned]
    nights: list[NightSpec] = field(default_factory=list)


def _noise(rng: random.Random, spread: float) -> float:
    return math.exp(rng.gauss(0.0, spread)) if spread > 0 else 1.0


def _places(
    rng: random.Random,
    count: int,
    start: int,
    centre: tuple[float, float],
    on_road: Callable[[float, float], tuple[float, float] | None] | None,
) -> list[Place]:
    made = []
    for number in range(start, start + count):
        while True:
            distance, bearing = 4.5 * rng.random() ** 0.7, rng.uniform(0, 2 * math.pi)
            lat = centre[0] + distance / 111.2 * math.cos(bearing)
            lon = centre[1] + distance / (111.2 * math.cos(math.radians(centre[0]))) * math.sin(
                bearing
            )
            placed = on_road(lat, lon) if on_road is not None else (lat, lon)
            if placed is not None:
                break
        made.append(
            Place(
                ref=f"SIM-{number + 1:03d}",
                lat=round(placed[0], 6),
                lon=round(placed[1], 6),
                organisation=number % 4,
                key_safe=rng.random() < 0.6,
            )
        )
    return made


def make_world(
    params: SimParams,
    *,
    nights: int,
    seed: int,
    first_night: date,
    centre: tuple[float, float],
    on_road: Callable[[float, float], tuple[float, float] | None] | None = None,
) -> World:
    """The region's clients and ``nights`` nights from ``seed`` (same seed, same nights)."""
    rng = random.Random(seed)
    recurring_places = _places(rng, params.recurring_clients, 0, centre, on_road)
    others = _places(rng, 40, len(recurring_places), centre, on_road)
    places = recurring_places + others
    recurring = []
    for index in range(len(recurring_places)):
        task, minutes, skills, width = rng.choice(PLANNED_TASKS)
        begin = rng.randrange(0, NIGHT_MINUTES - 120, 15)
        end = min(NIGHT_MINUTES - 30, begin + width)
        recurring.append(
            Planned(
                key=f"R{index}",
                place=index,
                care_task=task,
                service_minutes=minutes,
                skills=tuple(skills),
                window=(begin, end),
                recurring=True,
                actual_minutes=float(minutes),
                travel_factor=1.0,
                key_safe_fails=False,
            )
        )
    world = World(places=places, recurring=recurring)
    for number in range(nights):
        world.nights.append(
            _night(params, world, number, first_night + timedelta(days=number), seed)
        )
    return world


def _wall_hour(night_date: date, minute: float) -> int:
    """The hour of the night (0: 23:00-24:00, ... 7: 06:00-07:00) on the region's wall clock
    ``minute`` real minutes after 23:00 of ``night_date``."""
    evening = datetime(night_date.year, night_date.month, night_date.day, 23, tzinfo=ZONE)
    moment = (evening.astimezone(UTC) + timedelta(minutes=minute)).astimezone(ZONE)
    return min(NIGHT_MINUTES // 60 - 1, (moment.hour - 23) % 24)


def _night(params: SimParams, world: World, number: int, night_date: date, seed: int) -> NightSpec:
    rng = random.Random(f"{seed}:{number}")
    length = night_minutes(night_date)

    def by_clock(window: tuple[int, int]) -> tuple[int, int]:
        """A window agreed on the wall clock, in this night's real minutes."""
        if length == NIGHT_MINUTES:
            return window
        begin, end = (round(wall_minutes(night_date, m)) for m in window)
        return begin, max(begin, end)

    pool = range(params.recurring_clients, len(world.places))

    def failing(place: int) -> bool:
        return world.places[place].key_safe and rng.random() < params.key_safe_fails

    planned = [
        Planned(
            key=r.key,
            place=r.place,
            care_task=r.care_task,
            service_minutes=r.service_minutes,
            skills=r.skills,
            window=by_clock(r.window),
            recurring=True,
            actual_minutes=r.service_minutes * _noise(rng, params.service_spread),
            travel_factor=_noise(rng, params.travel_spread),
            key_safe_fails=failing(r.place),
        )
        for r in world.recurring
    ]
    for index in range(params.one_off_planned):
        task, minutes, skills, width = rng.choice(PLANNED_TASKS)
        begin = rng.randrange(60, NIGHT_MINUTES - 120, 15)
        place = rng.choice(pool)
        planned.append(
            Planned(
                key=f"O{index}",
                place=place,
                care_task=task,
                service_minutes=minutes,
                skills=tuple(skills),
                window=by_clock((begin, min(NIGHT_MINUTES - 30, begin + width))),
                recurring=False,
                actual_minutes=minutes * _noise(rng, params.service_spread),
                travel_factor=_noise(rng, params.travel_spread),
                key_safe_fails=failing(place),
            )
        )
    calls: list[Call] = []
    urgencies = list(params.urgency_mix)
    weights = [params.urgency_mix[u] for u in urgencies]
    # Per real hour of the night (9 or 7 when the clocks change), at the rate of its hour
    # on the wall clock (the repeated hour twice, the skipped one not at all).
    for hour in range(math.ceil(length / 60)):
        rate = params.calls_by_hour[_wall_hour(night_date, hour * 60 + 30)]
        # Poisson arrivals in the hour: exponential gaps.
        minute = hour * 60 + rng.expovariate(rate / 60) if rate > 0 else 10**9
        while minute < (hour + 1) * 60 and minute < length - 20:
            place = rng.choice(pool)
            minutes = rng.choice(params.call_service_minutes)
            calls.append(
                Call(
                    key=f"C{len(calls)}",
                    place=place,
                    minute=round(minute, 1),
                    urgency=rng.choices(urgencies, weights)[0],
                    care_task=rng.choice(CALL_TASKS),
                    service_minutes=minutes,
                    actual_minutes=minutes * _noise(rng, params.service_spread),
                    travel_factor=_noise(rng, params.travel_spread),
                    key_safe_fails=failing(place),
                )
            )
            minute += rng.expovariate(rate / 60)
    faults = Faults(
        delayed=(
            (rng.randrange(3), rng.uniform(60, 360), rng.randint(*params.delay_minutes))
            if rng.random() < params.nurse_delayed
            else None
        ),
        offline=(
            (rng.randrange(3), rng.uniform(30, 360))
            if rng.random() < params.phone_offline
            else None
        ),
        restart=rng.uniform(60, 400) if rng.random() < params.restart else None,
    )
    return NightSpec(
        number=number,
        night_date=night_date,
        planned=planned,
        calls=calls,
        faults=faults,
        minutes=length,
    )
