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
from datetime import date, timedelta

from api.simulation.params import SimParams

__all__ = ["Call", "Faults", "NightSpec", "Place", "Planned", "World", "make_world"]

NIGHT_MINUTES = 8 * 60
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


def _night(params: SimParams, world: World, number: int, night_date: date, seed: int) -> NightSpec:
    rng = random.Random(f"{seed}:{number}")
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
            window=r.window,
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
                window=(begin, min(NIGHT_MINUTES - 30, begin + width)),
                recurring=False,
                actual_minutes=minutes * _noise(rng, params.service_spread),
                travel_factor=_noise(rng, params.travel_spread),
                key_safe_fails=failing(place),
            )
        )
    calls: list[Call] = []
    urgencies = list(params.urgency_mix)
    weights = [params.urgency_mix[u] for u in urgencies]
    for hour, rate in enumerate(params.calls_by_hour):
        # Poisson arrivals in the hour: exponential gaps.
        minute = hour * 60 + rng.expovariate(rate / 60) if rate > 0 else 10**9
        while minute < (hour + 1) * 60 and minute < NIGHT_MINUTES - 20:
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
        number=number, night_date=night_date, planned=planned, calls=calls, faults=faults
    )
