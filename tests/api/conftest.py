"""Real databases for every test: a migrated SQLite file copied per test, and on request a
PostgreSQL database made from a migrated template. No mocked sessions."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.core import security
from api.core.config import Settings
from api.core.roles import Role
from api.db.engine import make_engine, make_session_factory
from api.db.migrate import upgrade
from api.main import create_app
from api.seed import Seeded, seed_region
from mobile_contract.dpop_client import PhoneKey

PG_URL = os.environ.get(
    "NACHTROUTE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NIGHT = date(2026, 11, 23)
SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
PASSWORD = "correct horse battery staple"


class FakeClock:
    """A clock the test sets: ``clock.set(3, 12)`` is 03:12 in the night of NIGHT."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        return self.now

    def set(self, hour: int, minute: int = 0) -> datetime:
        day = NIGHT if hour >= 12 else NIGHT + timedelta(days=1)
        self.now = datetime(day.year, day.month, day.day, hour, minute, tzinfo=AMSTERDAM)
        return self.now


def _seed(url: str, tmp_path: Path) -> Seeded:
    # Seeding hashes a dozen passwords (at the service's argon2 cost ~0.2-0.5 s each, at the
    # suite's a millisecond: tests/conftest.py): once per worker, not per test.
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        seeded = seed_region(
            session,
            test_settings(url, tmp_path),
            night_date=NIGHT,
            password=PASSWORD,
            organisations=2,
        )
    engine.dispose()
    return seeded


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per worker; tests copy it."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    upgrade(f"sqlite+pysqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def seeded_sqlite(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[Path, Seeded]:
    """A migrated and seeded SQLite file per worker."""
    folder = tmp_path_factory.mktemp("seeded")
    path = folder / "seeded.sqlite"
    shutil.copyfile(sqlite_template, path)
    seeded = _seed(f"sqlite+pysqlite:///{path}", folder)
    return path, seeded


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL template database per worker (dropped at the end)."""
    name = f"nr_tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # pragma: no cover - no server
        pytest.skip(f"PostgreSQL not reachable: {type(error).__name__}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def seeded_postgres(
    postgres_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Seeded]]:
    """A migrated and seeded PostgreSQL template per worker."""
    name = f"nr_seed_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    seeded = _seed(url, tmp_path_factory.mktemp("pgseed"))
    yield name, seeded
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _copy_postgres(template: str) -> Iterator[str]:
    name = f"nr_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database for this test."""
    path = tmp_path / "test.sqlite"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+pysqlite:///{path}"


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh migrated (empty) PostgreSQL database for this test, copied from the template."""
    yield from _copy_postgres(postgres_template)


@pytest.fixture
def seeded_sqlite_url(seeded_sqlite: tuple[Path, Seeded], tmp_path: Path) -> tuple[str, Seeded]:
    path = tmp_path / "test.sqlite"
    shutil.copyfile(seeded_sqlite[0], path)
    return f"sqlite+pysqlite:///{path}", seeded_sqlite[1]


@pytest.fixture
def seeded_postgres_url(seeded_postgres: tuple[str, Seeded]) -> Iterator[tuple[str, Seeded]]:
    for url in _copy_postgres(seeded_postgres[0]):
        yield url, seeded_postgres[1]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that asks for ``db_url`` runs on SQLite and on PostgreSQL (empty, migrated)."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded_url(request: pytest.FixtureRequest) -> tuple[str, Seeded]:
    """A seeded database on SQLite and on PostgreSQL."""
    name = "seeded_sqlite_url" if request.param == "sqlite" else "seeded_postgres_url"
    found: tuple[str, Seeded] = request.getfixturevalue(name)
    return found


def test_settings(url: str, tmp_path: Path) -> Settings:
    """Settings for a test app on ``url``."""
    return Settings(
        environment="test",
        database_url=url,
        data_dir=tmp_path,
        secret_key=SECRET,
        api_key_pepper=SECRET,
        migrate_on_start=False,
        live_replan_seconds=0.3,
        reoptimise_seconds=2,
    )


class PhoneSigner(httpx.Auth):
    """The test client's phones: a request whose token is bound to a key held here gets a
    fresh DPoP proof from the reference client (`mobile_contract.dpop_client`), as the phone
    sends it. A request that brings its own ``DPoP`` header is left alone (the refusal
    tests); ``auth=None`` on a request sends it without any proof."""

    def __init__(self) -> None:
        self.keys: dict[str, PhoneKey] = {}
        self.by_device: dict[str, PhoneKey] = {}

    def add(self, key: PhoneKey) -> PhoneKey:
        self.keys[key.thumbprint()] = key
        return key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        _scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = self.keys.get(bound_key(token.strip())) if token else None
        if key is not None and "dpop" not in request.headers:
            request.headers.update(key.headers(request.method, str(request.url), token.strip()))
        yield request


def bound_key(token: str) -> str:
    """The ``cnf.jkt`` a token says it is bound to ("" for none; the signature unchecked)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    cnf = claims.get("cnf")
    return str(cnf.get("jkt", "")) if isinstance(cnf, dict) else ""


@dataclass
class World:
    """A running app on a seeded database, with a header set for every role."""

    client: TestClient
    clock: FakeClock
    settings: Settings
    seeded: Seeded
    url: str
    phones: PhoneSigner = field(default_factory=PhoneSigner)

    def new_key(self) -> PhoneKey:
        """A phone key on the test's clock, held by the test client (`PhoneSigner`)."""
        return self.phones.add(PhoneKey.generate(clock=lambda: self.clock().timestamp()))

    def token(
        self, username: str, *, second_factor: bool = False, key: PhoneKey | None = None
    ) -> dict[str, str]:
        """Headers with a token for ``username``; ``key``: bound to that phone key."""
        user_id, role = self.seeded.users[username]
        org = None
        if role in (Role.PARTNER, Role.TRIAGE, Role.PRIVACY_OFFICER):
            org = self._org_of(username)
        claims = security.TokenClaims(
            user_id,
            role.value,
            org,
            second_factor,
            key_thumbprint=key.thumbprint() if key is not None else None,
        )
        token = security.issue_token(claims, secret=SECRET, minutes=15, now=self.clock())
        return {"Authorization": f"Bearer {token}"}

    def _org_of(self, username: str) -> int:
        if username.startswith("triage"):
            return self.seeded.triage[0]
        return self.seeded.home_care[int(username[-1]) - 1]

    def key(self, organisation_id: int) -> dict[str, str]:
        return {"X-API-Key": self.seeded.api_keys[organisation_id]}

    def sessions(self):  # type: ignore[no-untyped-def]
        return self.client.app.state.session_factory  # type: ignore[attr-defined]


def make_world(url: str, seeded: Seeded, tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(datetime(2026, 11, 23, 21, 0, tzinfo=AMSTERDAM))
    settings = test_settings(url, tmp_path)
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        found = World(client=client, clock=clock, settings=settings, seeded=seeded, url=url)
        client.auth = found.phones
        yield found


@pytest.fixture
def world(seeded_sqlite_url: tuple[str, Seeded], tmp_path: Path) -> Iterator[World]:
    """A seeded app on SQLite."""
    yield from make_world(*seeded_sqlite_url, tmp_path)


@pytest.fixture
def any_world(seeded_url: tuple[str, Seeded], tmp_path: Path) -> Iterator[World]:
    """A seeded app on SQLite and on PostgreSQL."""
    yield from make_world(*seeded_url, tmp_path)


def new_client(world: World, org: int, number: int = 1, **extra: object) -> int:
    """Register a fictional client for ``org`` through the API; returns its id."""
    body = {
        "display_name": f"Test client {number}",
        "address": f"Teststraat {number}, Assen",
        "lat": 52.99 + number * 0.001,
        "lon": 6.56 + number * 0.001,
        "access_instructions": "side door",
        "key_safe_present": True,
        **extra,
    }
    response = world.client.post("/partner/v1/clients", json=body, headers=world.key(org))
    assert response.status_code == 201, response.text
    client_id: int = response.json()["id"]
    return client_id


def planned_body(
    client_id: int, start: str = "23:30", end: str = "00:30", **extra: object
) -> dict[str, object]:
    return {
        "kind": "planned",
        "client_id": client_id,
        "care_task": "medication",
        "service_minutes": 15,
        "night": NIGHT.isoformat(),
        "window": {"start": start, "end": end},
        **extra,
    }


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


_ = UTC
