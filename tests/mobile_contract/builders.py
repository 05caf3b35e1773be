"""A realistic, wholly fictional night route, built in code so its size can be tested.

Nothing here is a real person, address or code: clients are "Testpersoon N", streets
"Voorbeeldstraat", postcodes "0000 AA" (no Dutch postcode starts with 0).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from mobile_contract import polyline
from mobile_contract.route import MyRoute

SHIFT_START = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
BASE = (6.5625, 52.9925)
MATERIALS = [
    ("insulin_needles", "Insulinenaalden / insulin needles"),
    ("gloves", "Handschoenen / gloves"),
    ("catheter_bag", "Katheterzak / catheter bag"),
    ("wound_dressing", "Wondverband / wound dressing"),
    ("saline", "Fysiologisch zout / saline"),
]
TASKS = [
    ("insulin", "Insuline toedienen / give insulin"),
    ("medication", "Medicatie aanreiken / hand over medication"),
    ("turning", "Wisselligging / turn in bed"),
    ("catheter", "Katheterzak legen / empty catheter bag"),
    ("check", "Controle en geruststellen / check and reassure"),
]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _road(start: tuple[float, float], end: tuple[float, float], rng: random.Random) -> str:
    """A wiggly line of about one point per 60 m, as a road network's geometry would be."""
    metres = math.dist(start, end) * 90_000
    count = max(8, min(120, int(metres / 60)))
    points = []
    for i in range(count + 1):
        t = i / count
        wiggle = 0.0 if i in (0, count) else rng.uniform(-0.0004, 0.0004)
        points.append(
            (
                start[0] + (end[0] - start[0]) * t + wiggle,
                start[1] + (end[1] - start[1]) * t + wiggle / 2,
            )
        )
    return polyline.encode(points)


def route_dict(visits: int = 20, *, seed: int = 1) -> dict[str, Any]:
    """A night route with ``visits`` visits as the phone receives it (JSON-ready dict)."""
    rng = random.Random(seed)
    now = SHIFT_START
    here = BASE
    steps: list[dict[str, Any]] = [
        {
            "type": "start",
            "eta": _iso(now),
            "start": _iso(now),
            "end": _iso(now),
            "leg": None,
            "location": list(BASE),
        }
    ]
    total_metres = 0.0
    total_seconds = 0
    for n in range(1, visits + 1):
        there = (BASE[0] + rng.uniform(-0.06, 0.06), BASE[1] + rng.uniform(-0.04, 0.04))
        metres = round(math.dist(here, there) * 90_000 * 1.3)
        seconds = max(120, round(metres / 11))
        total_metres += metres
        total_seconds += seconds
        eta = now + timedelta(seconds=seconds)
        service = rng.choice([600, 900, 1200, 1800])
        end = eta + timedelta(seconds=service)
        task_sample = rng.sample(TASKS, rng.randint(1, 3))
        material_sample = rng.sample(MATERIALS, rng.randint(1, 3))
        steps.append(
            {
                "type": "visit",
                "eta": _iso(eta),
                "start": _iso(eta),
                "end": _iso(end),
                "leg": {
                    "distance_metres": metres,
                    "travel_seconds": seconds,
                    "polyline": _road(here, there, rng),
                },
                "visit_id": f"V{n:03d}",
                "client": {
                    "display_name": f"Mw. Testpersoon {n}",
                    "door_notes": "Slechthorend: twee keer bellen en wachten / "
                    "hard of hearing: ring twice and wait",
                },
                "address": {
                    "street": "Voorbeeldstraat",
                    "house_number": str(n),
                    "postcode": "0000 AA",
                    "city": "Voorbeeldstad",
                    "location": [round(there[0], 6), round(there[1], 6)],
                },
                "access": {
                    "instructions": "Achterdeur, sleutelkluis links naast de deur / "
                    "back door, key safe left of it",
                    "key_safe_present": n % 3 != 0,
                },
                "window": {
                    "start": _iso(eta - timedelta(minutes=30)),
                    "end": _iso(eta + timedelta(minutes=30)),
                }
                if n % 4
                else None,
                "urgency": "planned" if n % 4 else "urgent",
                "service_seconds": service,
                "tasks": [{"task_id": t, "label": label} for t, label in task_sample],
                "materials": [
                    {"item_id": item, "label": label, "quantity": rng.randint(1, 3)}
                    for item, label in material_sample
                ],
                "with_nurse": None,
                "progress": "planned",
            }
        )
        now, here = end, there
        if n == visits // 2:
            steps.append(
                {
                    "type": "break",
                    "eta": _iso(now),
                    "start": _iso(now),
                    "end": _iso(now + timedelta(minutes=30)),
                    "leg": None,
                    "location": None,
                }
            )
            now += timedelta(minutes=30)
    metres = round(math.dist(here, BASE) * 90_000 * 1.3)
    seconds = max(120, round(metres / 11))
    arrival = now + timedelta(seconds=seconds)
    steps.append(
        {
            "type": "end",
            "eta": _iso(arrival),
            "start": _iso(arrival),
            "end": _iso(arrival),
            "leg": {
                "distance_metres": metres,
                "travel_seconds": seconds,
                "polyline": _road(here, BASE, rng),
            },
            "location": list(BASE),
        }
    )
    return {
        "nurse_id": "N1",
        "shift_id": "2026-11-23.N1",
        "version": 3,
        "generated_at": _iso(SHIFT_START - timedelta(minutes=10)),
        "shift": {"start": _iso(SHIFT_START), "end": _iso(SHIFT_START + timedelta(hours=8))},
        "steps": steps,
        "summary": {
            "visit_count": visits,
            "distance_metres": total_metres + metres,
            "travel_seconds": total_seconds + seconds,
        },
    }


def route(visits: int = 20, *, seed: int = 1) -> MyRoute:
    """The same route as a validated `MyRoute`."""
    return MyRoute.model_validate(route_dict(visits, seed=seed))
