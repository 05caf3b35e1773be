"""A real service on a real port for the browser: the demo's Porto road network, a seeded
night planned by the solver, uvicorn in a thread. No mocks: the page talks HTTP to it."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from api.core import security
from api.core.config import Settings
from api.db.engine import make_engine, make_session_factory
from api.db.migrate import upgrade
from api.main import create_app
from api.repositories import accounts, nights
from api.seed import PORTO_CENTRE, Seeded, seed_region, seed_requests
from api.services.planning import replan
from mobile_contract.dpop_client import DPoPAuth, PhoneKey
from tests.conftest import copy_roads

CHROMIUM = "/usr/bin/chromium"
NIGHT = date(2026, 11, 23)
PASSWORD = "correct horse battery staple"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
WEB = Path(__file__).resolve().parents[2] / "web" / "node_modules"
#: Generous timeouts: the machine may be busy; a slow answer is not what these tests check.
HTTP = httpx.Client(timeout=120)


def browser_or_skip() -> str:
    """The Debian chromium's path; outside CI a missing browser or npm set-up skips, in CI
    (``CI=true``) it fails: `.ci/run` installs both."""
    missing = [
        what
        for what, there in (
            (f"{CHROMIUM} (apt-get install chromium)", Path(CHROMIUM).exists()),
            ("web/node_modules (make install runs npm ci)", (WEB / "leaflet").is_dir()),
        )
        if not there
    ]
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (make install)")
    if missing:
        reason = "end-to-end board tests need " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


class FixedClock:
    """The service's clock, at 00:30 in the night: the night is under way."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 0, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Board:
    url: str
    night: date
    password: str
    settings: Settings
    seeded: Seeded
    #: The service's clock (tests may move ``clock.now``; phones' proofs stay at 00:30).
    clock: FixedClock = field(default_factory=FixedClock)
    #: The phones' HTTP clients, closed when the test ends.
    phones: list[httpx.Client] = field(default_factory=list)

    def planner(self, username: str = "planner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def phone(self, username: str = "nurse-n1") -> httpx.Client:
        """Register a phone for the nurse, as her phone does: its own key pair (the reference
        DPoP client, on the service's clock), a token bound to that key from a sign-in with her
        second factor; the client then sends a fresh proof and her device id on every call."""
        key = PhoneKey.generate(clock=lambda: FixedClock()().timestamp())
        user_id = self.seeded.users[username][0]
        claims = security.TokenClaims(user_id, "nurse", None, True, key_thumbprint=key.thumbprint())
        token = security.issue_token(claims, secret=SECRET, minutes=15, now=FixedClock()())
        phone = httpx.Client(base_url=self.url, auth=DPoPAuth(key, token), timeout=120)
        self.phones.append(phone)
        r = phone.post(
            "/mobile/v1/devices",
            json={
                "platform": "android",
                "app_version": "1.0.0",
                "label": "test phone",
                "public_key": key.public_jwk_json(),
            },
        )
        assert r.status_code == 201, r.text
        phone.headers["X-Device-Id"] = r.json()["device_id"]
        return phone

    def token(self, username: str = "planner") -> str:
        r = HTTP.post(
            f"{self.url}/auth/token", json={"username": username, "password": self.password}
        )
        r.raise_for_status()
        token: str = r.json()["access_token"]
        return token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reopened(open_stream: Callable[[], httpx.Response], held: ExitStack) -> httpx.Response:
    """A stream opened again after one of the holder's was closed: tried every half second
    for up to a minute (the server frees the place once it sees the client go), closed with
    ``held``; the last answer, 200 or not."""
    deadline = time.monotonic() + 60
    while True:
        again = open_stream()
        held.callback(again.close)
        if again.status_code == 200 or time.monotonic() > deadline:
            return again
        again.read()
        time.sleep(0.5)


@pytest.fixture(scope="session")
def porto_data(tmp_path_factory: pytest.TempPathFactory, porto_demo_roads: Path) -> Path:
    """A data folder with the demo's Porto network imported (once per run)."""
    return copy_roads(porto_demo_roads, tmp_path_factory.mktemp("board-data"))


@pytest.fixture(scope="session")
def seeded_template(porto_data: Path) -> tuple[Path, Seeded]:
    """A seeded, planned night on the Porto roads (copied per test)."""
    browser_or_skip()
    path = porto_data / "board-template.sqlite"
    url = f"sqlite+pysqlite:///{path}"
    settings = _settings(url, porto_data)
    upgrade(url)
    from api.travel import use_network

    road = use_network("porto-demo", data_dir=porto_data)
    import geo

    def on_road(lat: float, lon: float) -> tuple[float, float] | None:
        assert road.network is not None
        snapped = geo.snap_points(road.network, [lat], [lon])
        return float(snapped.lat[0]), float(snapped.lon[0])

    clock = FixedClock()
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        seeded = seed_region(
            session,
            settings,
            night_date=NIGHT,
            password=PASSWORD,
            organisations=2,
            centre=PORTO_CENTRE,
        )
        # Before the night: nothing begun, every visit free to move.
        seed_requests(
            session,
            seeded,
            night_date=NIGHT,
            now=datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("Europe/Amsterdam")),
            visits=18,
            centre=PORTO_CENTRE,
            on_road=on_road,
        )
        region = accounts.get_region(session)
        night = nights.get_or_create_night(session, region, NIGHT)
        session.commit()
        replan(session, region, night, reason="first plan", now=clock(), time_limit=2.0)
    engine.dispose()
    return path, seeded


def _settings(url: str, data_dir: Path, **more: Any) -> Settings:
    return Settings(
        environment="test",
        database_url=url,
        data_dir=data_dir,
        secret_key=SECRET,
        api_key_pepper=SECRET,
        migrate_on_start=False,
        network="porto-demo",
        live_replan_seconds=0.3,
        reoptimise_seconds=2,
        **more,
    )


@pytest.fixture
def board(
    seeded_template: tuple[Path, Seeded], porto_data: Path, tmp_path: Path
) -> Iterator[Board]:
    """The service on a copy of the seeded night, on a free port."""
    yield from _serve(seeded_template, porto_data, tmp_path)


@pytest.fixture
def streaming_board(
    seeded_template: tuple[Path, Seeded], porto_data: Path, tmp_path: Path
) -> Iterator[Board]:
    """As `board`, but the phones' change streams stay open two minutes (under test they
    close once caught up), so a test can hold them."""
    yield from _serve(seeded_template, porto_data, tmp_path, route_stream_seconds=120)


@pytest.fixture
def watchful_board(
    seeded_template: tuple[Path, Seeded], porto_data: Path, tmp_path: Path
) -> Iterator[Board]:
    """As `board`, but the board's streams check their caller's credential every second
    (``stream_heartbeat_seconds``; 15 s in service), so a test sees a sign-out soon."""
    yield from _serve(seeded_template, porto_data, tmp_path, stream_heartbeat_seconds=1)


def _serve(
    seeded_template: tuple[Path, Seeded], porto_data: Path, tmp_path: Path, **settings_: Any
) -> Iterator[Board]:
    path = tmp_path / "board.sqlite"
    shutil.copyfile(seeded_template[0], path)
    settings = _settings(f"sqlite+pysqlite:///{path}", porto_data, **settings_)
    clock = FixedClock()
    app = create_app(settings, clock=clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.05)
    found = Board(
        url=f"http://127.0.0.1:{port}",
        night=NIGHT,
        password=PASSWORD,
        settings=settings,
        seeded=seeded_template[1],
        clock=clock,
    )
    yield found
    for phone in found.phones:
        phone.close()
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="session", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()
