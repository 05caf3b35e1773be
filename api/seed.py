"""Fictional seed data: the demo region, and a small world for tests. No real people."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.roles import Principal, Role
from api.repositories import accounts, clients, nights, requests
from api.schemas.requests import PlannedRequestCreate, Window

__all__ = [
    "DEMO_NURSE_TOTP_SECRET",
    "DEMO_PASSWORD",
    "DEMO_TOTP_SECRET",
    "Seeded",
    "seed_region",
    "seed_requests",
]

DEMO_PASSWORD = "nachtroute-demo"  # noqa: S105 - fictional demo logins, printed by the CLI
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"  # noqa: S105 - demo privacy officer's authenticator
#: Demo nurses' second factor: registering a phone needs it (fictional, printed by the CLI).
DEMO_NURSE_TOTP_SECRET = "DEMONURSEPHONEDEMONURSE2"  # noqa: S105
CENTRE = (52.9925, 6.5625)  # Assen
#: The demo's roads: Porto, the only sizeable OSM extract available offline (docs/geo.md).
PORTO_CENTRE = (41.1579, -8.6291)

HOME_CARE = [
    "Thuiszorg De Linde",
    "Zorggroep Hunzedal",
    "Wijkzorg Assen-Oost",
    "Thuiszorg Het Brink",
]
TRIAGE = ["Alarmcentrale Noord", "Huisartsenpost Assen"]
NURSES = [
    (
        "N1",
        "Nurse Anouk (demo)",
        ["basic", "medication", "injection", "catheter", "wound", "palliative", "iv"],
    ),
    (
        "N2",
        "Nurse Bram (demo)",
        ["basic", "medication", "injection", "catheter", "wound", "palliative"],
    ),
    ("N3", "Nurse Carla (demo)", ["basic", "medication", "injection", "wound", "palliative"]),
]


@dataclass
class Seeded:
    """What was made, by role: usernames, organisation ids, nurse ids, API keys."""

    region_id: int
    home_care: list[int] = field(default_factory=list)
    triage: list[int] = field(default_factory=list)
    nurses: dict[str, int] = field(default_factory=dict)
    users: dict[str, tuple[int, Role]] = field(default_factory=dict)
    api_keys: dict[int, str] = field(default_factory=dict)
    clients: dict[int, list[int]] = field(default_factory=dict)


def seed_region(
    session: Session,
    settings: Settings,
    *,
    night_date: date,
    password: str = DEMO_PASSWORD,
    organisations: int = 4,
    with_users: bool = True,
    centre: tuple[float, float] = CENTRE,
) -> Seeded:
    """Region, partners (home care and triage), the three nurses on shift, users and keys."""
    region = accounts.create_region(
        session, name="Drenthe-Noord night team (demo)", base_lat=centre[0], base_lon=centre[1]
    )
    seeded = Seeded(region_id=region.id)
    for name in HOME_CARE[:organisations]:
        seeded.home_care.append(
            accounts.create_organisation(session, name=f"{name} (demo)", kind="home_care").id
        )
    for name in TRIAGE:
        seeded.triage.append(
            accounts.create_organisation(session, name=f"{name} (demo)", kind="triage").id
        )
    for code, display, skills in NURSES:
        nurse = accounts.create_nurse(session, code=code, display_name=display, skills=skills)
        seeded.nurses[code] = nurse.id
        accounts.set_shift(session, nurse.id, night_date=night_date, start="23:00", end="07:00")
    admin = None
    if with_users:

        def user(name: str, role: Role, **kw: object) -> int:
            made = accounts.create_user(
                session,
                username=name,
                password=password,
                role=role,
                settings=settings,
                **kw,  # type: ignore[arg-type]
            )
            seeded.users[name] = (made.id, role)
            return made.id

        admin = user("admin", Role.ADMIN)
        user("planner", Role.PLANNER)
        user("planner2", Role.PLANNER)
        for code, nurse_id in seeded.nurses.items():
            user(
                f"nurse-{code.lower()}",
                Role.NURSE,
                nurse_id=nurse_id,
                totp_secret=DEMO_NURSE_TOTP_SECRET,
            )
        for number, org in enumerate(seeded.home_care, start=1):
            user(f"partner{number}", Role.PARTNER, organisation_id=org)
            user(
                f"privacy{number}",
                Role.PRIVACY_OFFICER,
                organisation_id=org,
                totp_secret=DEMO_TOTP_SECRET,
            )
        user("triage1", Role.TRIAGE, organisation_id=seeded.triage[0])
    for org in [*seeded.home_care, *seeded.triage]:
        _, token = accounts.create_api_key(
            session, org, settings=settings, responsible_user_id=admin
        )
        seeded.api_keys[org] = token
    return seeded


def partner_principal(organisation_id: int) -> Principal:
    """The seeding system acting as a partner (its writes are access-logged like any other)."""
    return Principal(role=Role.PARTNER, actor="seed", organisation_id=organisation_id)


def seed_requests(
    session: Session,
    seeded: Seeded,
    *,
    night_date: date,
    now: datetime,
    visits: int = 45,
    seed: int = 7,
    centre: tuple[float, float] = CENTRE,
    on_road: Callable[[float, float], tuple[float, float] | None] | None = None,
) -> None:
    """Fictional clients around ``centre``, each with planned night care tonight.

    ``on_road`` moves a point to the nearest road (``None`` when there is none near, e.g. in
    a river), so clients sit where a nurse can drive to.
    """
    rng = random.Random(seed)
    region = accounts.get_region(session)
    tasks = [
        ("turn", 10, []),
        ("medication", 10, ["medication"]),
        ("catheter", 20, ["catheter"]),
        ("injection", 10, ["injection"]),
        ("palliative", 25, ["palliative"]),
        ("wound", 20, ["wound"]),
        ("turn", 15, []),
    ]
    streets = [
        "Brink",
        "Kloosterstraat",
        "Oranjestraat",
        "Vaart Zuidzijde",
        "Beilerstraat",
        "Rolderstraat",
        "Marsdijk",
        "Pelikaanstraat",
        "Lariksweg",
        "Vredeveldseweg",
    ]
    for number in range(visits):
        org = seeded.home_care[number % len(seeded.home_care)]
        principal = partner_principal(org)
        while True:
            distance, bearing = 4.5 * rng.random() ** 0.7, rng.uniform(0, 6.283)
            lat = centre[0] + distance / 111.2 * math.cos(bearing)
            lon = centre[1] + distance / (111.2 * math.cos(math.radians(centre[0]))) * math.sin(
                bearing
            )
            placed = on_road(lat, lon) if on_road is not None else (lat, lon)
            if placed is not None:
                lat, lon = placed
                break
        client = clients.create_client(
            session,
            principal,
            {
                "external_ref": f"DEMO-{number + 1:03d}",
                "display_name": f"Demo client {number + 1:03d}",
                "address": f"{rng.choice(streets)} {rng.randint(1, 140)} (fictional)",
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "access_instructions": "Back door; ring twice (fictional)",
                "key_safe_present": rng.random() < 0.6,
            },
            now=now,
        )
        seeded.clients.setdefault(org, []).append(client.id)
        task, minutes, skills = rng.choice(tasks)
        begin = rng.randrange(0, 7 * 3600 - 3600, 900)
        width = rng.choice([30, 60, 60, 90, 120]) * 60
        end = min(8 * 3600 - 1800, begin + width)
        body = PlannedRequestCreate(
            kind="planned",
            client_id=client.id,
            care_task=task,
            service_minutes=minutes,
            required_skills=skills,
            night=night_date,
            window=Window(start=_clock(begin), end=_clock(end)),
        )
        requests.submit_request(
            session,
            principal,
            region,
            body,
            idempotency_key=f"seed-{number}",
            now=now,
            days_ahead=1,
        )
    nights.get_or_create_night(session, region, night_date)
    session.commit()


def _clock(seconds: int) -> str:
    """``HH:MM`` of a moment in a night that starts at 23:00."""
    return f"{(23 + seconds // 3600) % 24:02d}:{(seconds % 3600) // 60:02d}"
