"""Play generated nights through the real HTTP service, checking its invariants all night.

Who does what, all over HTTP against one served process (started here, or ``--url``):

- **partners** (the four home-care organisations, API keys) register their clients, post
  recurring planned care once and one-off planned care on the evening, post unplanned calls
  the triage partner accepted, and cancel what is handed to the back-up partner;
- the **triage partner** asks ``POST /triage/v1/capacity`` for each call and sends the
  back-up when told no;
- the **planner** re-optimises and publishes the evening plan, and reads the night's plan
  every few simulated minutes (invariants are checked on it);
- each **nurse's phone** reads her route, drives to her next visit (the travel matrix's
  minutes, else the route's leg, times the night's noise), reports ``departed`` (to the
  visit she sets off for), ``arrived`` (the minute she reaches the door, sent at once; then
  it asks for the key-safe code, which her recorded arrival opens), ``visit_started``,
  ``visit_completed``, ``could_not_get_in`` and ``delayed``, takes the break her route
  shows (``break`` start and end), and keeps its outbox while offline, sending it as one
  batch after. A key safe needs the code on her phone: offline (or refused) she has none
  and, once she has tried as long as at a key safe that will not open, reports
  ``could_not_get_in`` (a hand-off, ``no_code``).

The service runs on a simulated clock (``NACHTROUTE_CLOCK`` / ``_SPEED``); the player reads
the clock from ``GET /health`` and acts at the simulated minute things happen. Faults: a
key safe that will not open, a nurse held up, a phone offline for an hour, and a service
restart mid-night (stopped and started again at the same simulated moment, same database).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pyotp

from api.core.clock import read_clock_file, step_clock_file
from api.core.config import Settings
from api.core.roles import Role
from api.db.engine import make_engine, make_session_factory
from api.db.migrate import upgrade
from api.repositories import accounts
from api.simulation.generate import Call, NightSpec, Planned, World
from api.simulation.params import SimParams
from api.simulation.records import CallOutcome, NightRecord, PlannedOutcome
from api.simulation.service import Served
from mobile_contract.dpop_client import DPoPAuth, PhoneKey

__all__ = ["Region", "ServiceNight", "Session", "seed_database"]

ZONE = ZoneInfo("Europe/Amsterdam")
PASSWORD = "nachtroute-sim"  # noqa: S105 - fictional simulation logins on a throw-away database
NURSE_TOTP = "SIMNURSEPHONESIMNURSEPHONESIMNUR"
ALL_SKILLS = ["basic", "medication", "injection", "catheter", "wound", "palliative", "iv"]
PHONE = {
    "platform": "android",
    "app_version": "1.0.0",
    "label": "simulated phone (fictional)",
    "public_key": '{"kty":"EC","crv":"P-256","x":"sim","y":"sim"}',
}
TARGET_MINUTES = {"acute": 30, "urgent": 60, "soon": 120}
#: A route's visits still to go to: one she reached and was sent from (an acute call put
#: first while she waited for its window) is ``arrived`` and still hers.
_NOT_BEGUN = ("planned", "en_route", "arrived")


def night_start(night_date: date) -> datetime:
    """23:00 local of the evening ``night_date``, in UTC (aware): minutes are added to it in
    real time, so a night across a change of summer time is not an hour off (adding to a
    local time adds wall-clock minutes)."""
    local = datetime(night_date.year, night_date.month, night_date.day, 23, tzinfo=ZONE)
    return local.astimezone(UTC)


def instant(start: datetime, minute: float) -> datetime:
    """The moment ``minute`` real minutes after ``start`` (UTC, aware)."""
    return start.astimezone(UTC) + timedelta(minutes=minute)


def clock_time(start: datetime, minute: float) -> str:
    """``HH:MM`` on the region's wall clock ``minute`` real minutes after ``start``."""
    return instant(start, minute).astimezone(ZONE).strftime("%H:%M")


def agreed_time(minute: float) -> str:
    """``HH:MM`` of a recurring care's window: its template's minutes are a standard night's
    wall clock from 23:00 (`generate.wall_minutes`), the same clock time every night. Read
    on the run's first night, a run beginning the evening the clocks change agreed the care
    an hour off from 02:00 on (its nights then had it due an hour early, or late)."""
    return (datetime(2000, 1, 1, 23) + timedelta(minutes=minute)).strftime("%H:%M")


@dataclass
class Region:
    """The credentials of a seeded region (fictional, a throw-away database)."""

    partner_keys: list[str]
    triage_key: str
    nurses: list[str]
    base: tuple[float, float]


def seed_database(
    url: str, settings: Settings, *, nurses: int, nights: list[date], centre: tuple[float, float]
) -> Region:
    """Region, four home-care organisations and a triage partner, ``nurses`` nurses on every
    night's shift, a planner; the accounts only (clients and care come over HTTP)."""
    from api.seed import HOME_CARE, TRIAGE

    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            region = accounts.create_region(
                session,
                name="Simulated night team (fictional)",
                base_lat=centre[0],
                base_lon=centre[1],
            )
            orgs = [
                accounts.create_organisation(session, name=f"{n} (sim)", kind="home_care").id
                for n in HOME_CARE
            ]
            triage = accounts.create_organisation(
                session, name=f"{TRIAGE[0]} (sim)", kind="triage"
            ).id
            admin = accounts.create_user(
                session, username="admin", password=PASSWORD, role=Role.ADMIN, settings=settings
            )
            accounts.create_user(
                session,
                username="planner",
                password=PASSWORD,
                role=Role.PLANNER,
                settings=settings,
            )
            codes = []
            for number in range(1, nurses + 1):
                code = f"N{number}"
                nurse = accounts.create_nurse(
                    session, code=code, display_name=f"Nurse {code} (sim)", skills=ALL_SKILLS
                )
                accounts.create_user(
                    session,
                    username=f"nurse-{code.lower()}",
                    password=PASSWORD,
                    role=Role.NURSE,
                    nurse_id=nurse.id,
                    totp_secret=NURSE_TOTP,
                    settings=settings,
                )
                for night in nights:
                    accounts.set_shift(
                        session, nurse.id, night_date=night, start="23:00", end="07:00"
                    )
                codes.append(code)
            keys = [
                accounts.create_api_key(
                    session, org, settings=settings, responsible_user_id=admin.id
                )[1]
                for org in orgs
            ]
            triage_key = accounts.create_api_key(
                session, triage, settings=settings, responsible_user_id=admin.id
            )[1]
            session.commit()
            base = (region.base_lat, region.base_lon)
    finally:
        engine.dispose()
    return Region(partner_keys=keys, triage_key=triage_key, nurses=codes, base=base)


class Session:
    """HTTP to the service, counting every answer by status (5xx are invariant breaks).

    The service's clock is either running (``NACHTROUTE_CLOCK`` / ``_SPEED``: read from
    ``/health`` and extrapolated) or stepped (``clock_file``, ``NACHTROUTE_CLOCK_FILE``: this
    session moves it with `advance` and it stands still in between)."""

    def __init__(self, base_url: str, clock_file: Path | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.statuses: dict[int, int] = {}
        self.server_errors: list[str] = []
        self.offset: tuple[datetime, float] | None = None
        self.speed = 1.0
        self.clock_file = clock_file
        #: Requests that may change something (not GET/HEAD): a re-plan may be owed after.
        self.writes = 0

    @property
    def stepped(self) -> bool:
        return self.clock_file is not None

    def advance(self, moment: datetime) -> None:
        """Move the stepped clock to ``moment`` (never back)."""
        assert self.clock_file is not None, "a stepped clock only"
        if self.offset is not None and moment <= self.offset[0]:
            return
        step_clock_file(self.clock_file, moment)
        self.offset = (moment, time.monotonic())

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = self.http.request(method, path, **kw)
        if method not in ("GET", "HEAD"):
            self.writes += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            # Path template only: ids are fine, nothing personal is in our paths.
            self.server_errors.append(f"{method} {path}: HTTP {response.status_code}")
        return response

    def sync_clock(self, speed: float | None = None) -> None:
        """Read the service's clock; ``speed`` known (we started it) or measured; a stepped
        clock is read from its file (the service reads the same file)."""
        if self.clock_file is not None:
            self.offset, self.speed = (read_clock_file(self.clock_file), time.monotonic()), 0.0
            return
        first = self._health()
        if speed is None:
            time.sleep(1.0)
            second = self._health()
            speed = max(1e-6, (second[0] - first[0]).total_seconds() / (second[1] - first[1]))
            first = second
        self.offset, self.speed = first, speed

    def _health(self) -> tuple[datetime, float]:
        before = time.monotonic()
        answer = self.http.get("/health").json()
        after = time.monotonic()
        return datetime.fromisoformat(answer["clock"]), (before + after) / 2

    def now(self) -> datetime:
        """The service's clock now (from the last sync, extrapolated)."""
        assert self.offset is not None, "sync_clock first"
        clock, at = self.offset
        if self.clock_file is not None:
            return clock
        return clock + timedelta(seconds=(time.monotonic() - at) * self.speed)

    def point_base(self, base_url: str) -> None:
        """After a restart on another port (same database)."""
        self.http.close()
        self.http = httpx.Client(base_url=base_url, timeout=60)

    def close(self) -> None:
        self.http.close()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Job:
    """A visit the player knows: what it is in the generated night and in the service."""

    key: str
    visit_id: int | None
    request_id: int | None
    organisation: int
    deadline: float  # minutes from 23:00 after which an unplaced visit goes to back-up
    spec: Planned | Call
    #: open, started, done, could_not_get_in, handed_off (cancelled)
    status: str = "open"


@dataclass
class Nurse:
    """A nurse and her phone: what she is doing, what her phone has not sent yet."""

    code: str
    headers: dict[str, str]
    #: Her phone's DPoP authentication (the reference client: its key, her bound token).
    auth: DPoPAuth | None = None
    #: idle, driving, arrived (at the door, waiting for the window), door (at a door she
    #: cannot open: ``door_reason``), working, resting (on her break), held
    state: str = "idle"
    target: str | None = None  # visit id (digits) she drives to or works at
    until: float = 0.0  # minutes from 23:00: when the current state ends
    start_at: float = 0.0
    driving: float = 0.0
    last_end: float = 0.0
    etag: str | None = None
    route: dict[str, Any] | None = None
    read_at: float = -1e9
    #: The night's plan version when she last read her route (stepped clock: re-read only
    #: when it moved, as the app's route notice would tell her; else once a minute).
    read_version: int | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    offline_until: float = -1.0
    rejected: list[str] = field(default_factory=list)
    #: The key-safe code her phone holds: for which visit (id digits), and until when
    #: (minutes from 23:00: the answer's ``forget_at``, when the phone wipes it).
    safe_code: tuple[str, float] | None = None
    #: When her phone asks for a code again (minutes from 23:00): a refusal's
    #: ``retry_after``, when she has signal again, or when it forgot the code; ``None``: no
    #: point asking again.
    ask_again: float | None = None
    #: Why she cannot open the door (state ``door``): ``key_safe_code_wrong`` (the key safe
    #: will not open) or ``no_code`` (her phone has no code: offline, or refused).
    door_reason: str = ""
    #: Where she is, or last was: a place's index (-1: the team's base).
    place: int = -1
    #: She has begun her break (one a night).
    rested: bool = False
    #: The break her route has her take at the door she drives to, (start, minutes long).
    door_rest: tuple[float, float] | None = None
    #: What she is once her break is over: idle, or arrived (it was at a door).
    resume: str = "idle"


class ServiceNight:
    """One night of the ``nachtroute`` policy played through the service."""

    def __init__(
        self,
        http: Session,
        world: World,
        spec: NightSpec,
        params: SimParams,
        region: Region,
        *,
        place_client: dict[int, int],
        recurring_requests: dict[str, int],
        restart: Callable[[datetime], str] | None,
        check_every: float = 10.0,
        travel: Callable[[int, int], float] | None = None,
    ) -> None:
        """``travel(from_place, to_place)``: minutes, place -1 the base (the baselines'
        matrix, `runner._travel`); ``None``: her drives are her route's legs."""
        self.http, self.world, self.spec, self.params = http, world, spec, params
        self.travel = travel
        self.region = region
        self.place_client = place_client
        self.recurring_requests = recurring_requests
        self.restart = restart
        self.check_every = check_every
        self.start = night_start(spec.night_date)
        self.jobs: dict[str, Job] = {}
        self.by_visit: dict[int, Job] = {}
        self.record = NightRecord(policy="nachtroute", night=spec.number)
        self.calls: dict[str, CallOutcome] = {}
        self.planned: dict[str, PlannedOutcome] = {}
        self.nurses: list[Nurse] = []
        self.planner: dict[str, str] = {}
        self.evening_routes: dict[str, list[str]] = {}
        #: Each nurse's break in the evening plan, (start, end) in minutes from 23:00.
        self.evening_breaks: dict[str, tuple[float, float] | None] = {}
        self.checks = 0
        #: What the partner was answered per call: nurse, expected start, reason not planned.
        self.answers: dict[str, tuple[Any, Any, Any]] = {}
        self._writes_seen = -1
        #: Who was on site for each job; the night's offline phone and held-up nurse
        #: (code, from, until): the reasons a call was late.
        self.reached_by: dict[str, str] = {}
        self.offline: tuple[str, float, float] | None = None
        self.held: tuple[str, float, float] | None = None
        self._probed = False
        #: The plan's version as of the last time the night owed no re-plan (stepped clock).
        self.plan_version: int | None = None

    # --- time -------------------------------------------------------------------------
    def minute(self) -> float:
        return (self.http.now() - self.start).total_seconds() / 60

    def at(self, minute: float) -> str:
        return instant(self.start, minute).isoformat()

    def wall(self, minute: int) -> str:
        return clock_time(self.start, minute)

    # --- the evening ------------------------------------------------------------------
    def sign_in(
        self, username: str, totp: str | None = None, headers: dict[str, str] | None = None
    ) -> str:
        body: dict[str, str] = {"username": username, "password": PASSWORD}
        if totp is not None:
            body["totp_code"] = pyotp.TOTP(totp).at(self.http.now())
        answer = self.http.call("POST", "/auth/token", json=body, headers=headers)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def evening(self, devices: dict[str, tuple[str, PhoneKey]]) -> None:
        """One-off planned care, the evening plan (re-optimised, published), phones signed in."""
        night = self.spec.night_date.isoformat()
        for planned in self.spec.planned:
            place = self.world.places[planned.place]
            if planned.recurring:
                request_id = self.recurring_requests[planned.key]
            else:
                answer = self.http.call(
                    "POST",
                    "/partner/v1/visit-requests",
                    json={
                        "kind": "planned",
                        "client_id": self.place_client[planned.place],
                        "care_task": planned.care_task,
                        "service_minutes": planned.service_minutes,
                        "required_skills": list(planned.skills),
                        "night": night,
                        "window": {
                            "start": self.wall(planned.window[0]),
                            "end": self.wall(planned.window[1]),
                        },
                    },
                    headers=self._partner(place.organisation, f"n{self.spec.number}-{planned.key}"),
                )
                answer.raise_for_status()
                request_id = int(answer.json()["id"])
            self.jobs[planned.key] = Job(
                key=planned.key,
                visit_id=None,
                request_id=request_id,
                organisation=place.organisation,
                deadline=self.params.planned_deadline(planned.care_task, planned.window[1]),
                spec=planned,
            )
            self.planned[planned.key] = PlannedOutcome(
                key=planned.key, care_task=planned.care_task, window=planned.window
            )
        self.planner = {"Authorization": f"Bearer {self.sign_in('planner')}"}
        plan = self.http.call("GET", f"/nights/{night}/plan", headers=self.planner).json()
        by_request = {v["request_id"]: v["id"] for v in plan["visits"]}
        for job in self.jobs.values():
            job.visit_id = by_request.get(job.request_id)
            if job.visit_id is None:
                self.record.violations.append(f"{job.key}: accepted but no visit tonight (lost)")
            else:
                self.by_visit[job.visit_id] = job
        if len(plan["visits"]) != len(self.jobs):
            self.record.violations.append(
                f"night has {len(plan['visits'])} visits for {len(self.jobs)} accepted requests"
            )
        started = self.http.call(
            "POST",
            f"/nights/{night}/plan/reoptimise",
            json={"time_limit_seconds": 3},
            headers={**self.planner, "If-Match": f'"{plan["version"]}"'},
        )
        started.raise_for_status()
        deadline = time.monotonic() + 300  # bounds a hung job only; it takes ~3 s
        while True:
            state = self.http.call(
                "GET", f"/jobs/{started.json()['id']}", headers=self.planner
            ).json()
            if state["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if state["status"] != "succeeded":
            self.record.violations.append(f"evening re-optimise failed: {state.get('error')}")
        plan = self.http.call("GET", f"/nights/{night}/plan", headers=self.planner).json()
        self.http.call(
            "POST",
            f"/nights/{night}/plan/publish",
            headers={**self.planner, "If-Match": f'"{plan["version"]}"'},
        ).raise_for_status()
        for route in plan["plan"]["routes"]:
            self.evening_routes[route["nurse_id"]] = [
                s["visit_id"] for s in route["steps"] if s["type"] == "visit"
            ]
            rest = next((s for s in route["steps"] if s["type"] == "break"), None)
            # The plan's times are seconds from the night's start (23:00), as the minutes are.
            self.evening_breaks[route["nurse_id"]] = (
                None if rest is None else (rest["start"] / 60, rest["end"] / 60)
            )
        self.sign_in_phones(devices)

    def sign_in_phones(self, devices: dict[str, tuple[str, PhoneKey]]) -> None:
        """The planner and each nurse sign in (again after the service's clock went back:
        a token issued later than the clock's now is not valid yet). Each phone keeps its
        key pair for the run (the reference DPoP client, `mobile_contract.dpop_client`, on
        the service's clock): it signs in with a proof, so her token is bound to its key,
        registers that key once, and proves possession on every phone call."""
        self.planner = {"Authorization": f"Bearer {self.sign_in('planner')}"}
        known = {n.code: n for n in self.nurses}
        token_url = f"{self.http.http.base_url}/auth/token"
        for code in self.region.nurses:
            if code in devices:
                key = devices[code][1]
            else:
                key = PhoneKey.generate(clock=lambda: self.http.now().timestamp())
            token = self.sign_in(
                f"nurse-{code.lower()}", NURSE_TOTP, headers=key.headers("POST", token_url)
            )
            auth = DPoPAuth(key, token)
            if code not in devices:
                made = self.http.call(
                    "POST",
                    "/mobile/v1/devices",
                    json=PHONE | {"public_key": key.public_jwk_json()},
                    auth=auth,
                )
                made.raise_for_status()
                devices[code] = (made.json()["device_id"], key)
            headers = {"X-Device-Id": devices[code][0]}
            if code in known:
                known[code].headers, known[code].auth = headers, auth
            else:
                self.nurses.append(Nurse(code=code, headers=headers, auth=auth))

    def _partner(self, organisation: int, key: str | None = None) -> dict[str, str]:
        headers = {"X-API-Key": self.region.partner_keys[organisation]}
        if key is not None:
            headers["Idempotency-Key"] = f"sim-{self.spec.night_date}-{key}"
        return headers

    # --- the night --------------------------------------------------------------------
    def play(self, progress: Callable[[float], None] | None = None) -> NightRecord:
        """From 23:00 to 07:00 (and until the last visit is done), then the end checks: the
        night's real length (`NightSpec.minutes`: 9 or 7 hours when the clocks change)."""
        began = time.monotonic()
        requests = sum(self.http.statuses.values())
        calls = sorted(self.spec.calls, key=lambda c: c.minute)
        faults = self.spec.faults
        restarted = faults.restart is None
        delayed = faults.delayed is None
        offline = faults.offline is None
        next_check = 0.0
        if self.http.stepped:
            self.http.advance(self.start)
        while True:
            now = self.minute()
            if now < 0:
                time.sleep(min(0.2, -now * 60 / max(self.http.speed, 1e-6)))
                continue
            while calls and calls[0].minute <= now:
                self._call(calls.pop(0))
            if not restarted and now >= (faults.restart or 0) and self.restart is not None:
                restarted = True
                self.http.point_base(self.restart(self.http.now()))
                self.http.sync_clock(self.http.speed)
                continue
            if not delayed and faults.delayed and now >= faults.delayed[1]:
                delayed = True
                nurse = self.nurses[faults.delayed[0] % len(self.nurses)]
                self._hold(nurse, faults.delayed[1], faults.delayed[2])
                self.held = (nurse.code, faults.delayed[1], faults.delayed[1] + faults.delayed[2])
            if not offline and faults.offline and now >= faults.offline[1]:
                offline = True
                nurse = self.nurses[faults.offline[0] % len(self.nurses)]
                nurse.offline_until = faults.offline[1] + self.params.offline_minutes
                self.offline = (nurse.code, faults.offline[1], nurse.offline_until)
            for nurse in self.nurses:
                self._step(nurse, now)
            if now >= next_check:
                next_check = now + self.check_every
                self._check(now)
                if progress is not None:
                    progress(min(now, self.spec.minutes))
            if now >= self.spec.minutes and (
                all(n.state in ("idle",) and not n.outbox for n in self.nurses)
                or now >= self.spec.minutes + 120
            ):
                break
            if self.http.stepped:
                # Discrete events: the service finishes what it was asked (its re-plans)
                # while the clock stands still, then time moves to the next thing that
                # happens (at most a minute on: the phones read their routes each minute).
                self._wait_idle()
                self.http.advance(self._moment(self._next_moment(now, calls)))
            else:
                time.sleep(0.02)
        self._end_of_night()
        self.record.wall_seconds = time.monotonic() - began
        self.record.requests = sum(self.http.statuses.values()) - requests
        return self.record

    def _wait_idle(self) -> None:
        """On a stepped clock, after anything was posted: wait (real time) until the night
        owes no re-plan, so the re-plan's search costs no simulated minutes."""
        if self.http.writes == self._writes_seen:
            return
        began = time.monotonic()
        deadline = began + 120  # bounds a hung worker only
        while time.monotonic() < deadline:
            # The board's light read (no client data, nothing access-logged): polling the
            # whole plan wrote an access-log row per visit each 50 ms and took a fifth of a
            # night's wall time (session 28's profile).
            reading = self._version()
            if not reading["replan_pending"]:
                self.plan_version = int(reading["version"])
                break
            time.sleep(0.05)
        else:
            self.record.violations.append("a re-plan still owed 120 s after it was asked for")
        self._writes_seen = self.http.writes
        self.record.replan_wait_seconds += time.monotonic() - began
        self.record.replan_waits += 1

    def _moment(self, minute: float) -> datetime:
        """The clock's moment for ``minute``, never a hair before it: the clock holds whole
        microseconds, and a moment rounded down read back early, so a nurse due at it (at
        the door, say) waited for the next step, a minute on."""
        moment = instant(self.start, minute)
        while (moment - self.start).total_seconds() / 60 < minute:
            moment += timedelta(microseconds=1)
        return moment

    def _next_moment(self, now: float, calls: list[Call]) -> float:
        """Minutes from 23:00 of the next step: the next call, fault, check, or a nurse's
        next change of state, at most a minute on (and at least a moment on)."""
        moments = [now + 1.0]
        if calls:
            moments.append(calls[0].minute)
        faults = self.spec.faults
        if faults.restart is not None:
            moments.append(faults.restart)
        if faults.delayed is not None:
            moments.append(faults.delayed[1])
        if faults.offline is not None:
            moments.append(faults.offline[1])
        for nurse in self.nurses:
            moments += [nurse.until, nurse.start_at, nurse.offline_until]
            if nurse.ask_again is not None:
                moments.append(nurse.ask_again)
            if nurse.state == "idle":
                step, here, there = self._ahead(nurse)
                if here is not None:
                    moments.append(self._minute(here["start"]))
                if step is not None:
                    moments.append(self._leave_at(nurse, step, there) - 0.5)
            elif nurse.state == "arrived" and nurse.door_rest is not None:
                moments.append(nurse.door_rest[0])
        later = [m for m in moments if m > now + 1e-3]
        return max(now + 1e-3, min(later))

    def _call(self, call: Call) -> None:
        """Triage asks capacity; yes: the home-care partner posts it; no: back-up."""
        place = self.world.places[call.place]
        outcome = CallOutcome(key=call.key, urgency=call.urgency, minute=call.minute)
        self.calls[call.key] = outcome
        asked = self.http.call(
            "POST",
            "/triage/v1/capacity",
            json={
                "lat": place.lat,
                "lon": place.lon,
                "urgency": call.urgency,
                "within_minutes": TARGET_MINUTES[call.urgency],
                "service_minutes": call.service_minutes,
            },
            headers={"X-API-Key": self.region.triage_key},
        )
        if asked.status_code != 200 or not asked.json()["available"]:
            outcome.handed_off = True
            outcome.reason = "triage_no"
            if asked.status_code == 200:
                outcome.triage_reason = asked.json().get("reason")
            return
        answer = self.http.call(
            "POST",
            "/partner/v1/visit-requests",
            json={
                "kind": "unplanned",
                "client_id": self.place_client[call.place],
                "care_task": call.care_task,
                "service_minutes": call.service_minutes,
                "urgency": call.urgency,
                "call_time": self.at(call.minute),
            },
            headers=self._partner(place.organisation, f"n{self.spec.number}-{call.key}"),
        )
        if answer.status_code != 201:
            self.record.violations.append(f"{call.key}: call refused HTTP {answer.status_code}")
            outcome.handed_off = True
            outcome.reason = "refused"
            return
        body = answer.json()
        visits = body["visits"]
        if len(visits) != 1:
            self.record.violations.append(f"{call.key}: {len(visits)} visits for one call")
            return
        job = Job(
            key=call.key,
            visit_id=int(visits[0]["visit_id"]),
            request_id=int(body["id"]),
            organisation=place.organisation,
            deadline=call.minute + TARGET_MINUTES[call.urgency] + self.params.backup_after_minutes,
            spec=call,
        )
        self.jobs[call.key] = job
        self.answers[call.key] = (
            visits[0].get("nurse"),
            visits[0].get("expected_start"),
            visits[0].get("not_planned_reason"),
        )
        if visits[0].get("expected_start"):
            expected = _utc(visits[0]["expected_start"]) - self.start
            outcome.answered = expected.total_seconds() / 60 - call.minute
        assert job.visit_id is not None
        self.by_visit[job.visit_id] = job
        if not visits[0]["planned"]:
            # Told it will not be placed: the partner sends the back-up at once.
            self._hand_off(job, "not_planned")

    def _hand_off(self, job: Job, reason: str = "deadline") -> None:
        # Recurring care is cancelled for tonight only (the request's other nights stay).
        recurring = isinstance(job.spec, Planned) and job.spec.recurring
        answer = self.http.call(
            "POST",
            f"/partner/v1/visit-requests/{job.request_id}/cancel",
            json={"reason": "handed_to_backup"}
            | ({"night": self.spec.night_date.isoformat()} if recurring else {}),
            headers=self._partner(job.organisation),
        )
        if answer.status_code == 200:
            job.status = "handed_off"
            if job.key in self.calls:
                self.calls[job.key].handed_off = True
                self.calls[job.key].reason = reason
            else:
                self.planned[job.key].handed_off = True
                self.planned[job.key].reason = reason

    def _hold(self, nurse: Nurse, minute: float, delay: int) -> None:
        """She is held up ``delay`` minutes: her phone says so; what she does waits."""
        nurse.outbox.append(
            {
                "type": "delayed",
                "event_id": str(uuid.uuid4()),
                "device_time": self.at(minute),
                "delay_minutes": delay,
            }
        )
        if nurse.state == "idle":
            nurse.state, nurse.until = "held", minute + delay
        elif nurse.state == "resting":
            nurse.until = max(nurse.until, minute + delay)  # back when both are over
        elif nurse.state == "arrived":
            nurse.start_at += delay  # at the door: care begins later
        else:
            nurse.until += delay
            nurse.start_at += delay if nurse.state == "driving" else 0

    def _event(self, nurse: Nurse, kind: str, minute: float, **extra: Any) -> None:
        nurse.outbox.append(
            {"type": kind, "event_id": str(uuid.uuid4()), "device_time": self.at(minute), **extra}
        )

    def _read_route(self, nurse: Nurse, now: float, *, force: bool = False) -> None:
        if now < nurse.offline_until:
            return  # no signal: she goes by the route she has
        if not force and now - nurse.read_at < 1.0:
            return  # the app polls about once a minute (and at once after her own report)
        if (
            not force
            and self.http.stepped
            and self.plan_version is not None
            and nurse.read_version == self.plan_version
        ):
            # Stepped, the player waited for every re-plan and knows the plan's version:
            # her route has not changed since she read it (the route notice never came).
            return
        nurse.read_at = now
        nurse.read_version = self.plan_version
        headers = dict(nurse.headers)
        if nurse.etag:
            headers["If-None-Match"] = nurse.etag
        answer = self.http.call("GET", "/mobile/v1/me/route", headers=headers, auth=nurse.auth)
        if answer.status_code == 200:
            nurse.route, nurse.etag = answer.json(), answer.headers.get("ETag")

    def _next_visit(self, nurse: Nurse) -> dict[str, Any] | None:
        for step in (nurse.route or {}).get("steps", []):
            if step["type"] != "visit" or step["progress"] not in _NOT_BEGUN:
                continue
            job = self.by_visit.get(int(step["visit_id"]))
            if job is not None and job.status == "open":
                return dict(step)
        return None

    def _sent_away(self, nurse: Nurse, job: Job, now: float) -> bool:
        """Whether the nurse waiting at ``job``'s door leaves it: the visit is closed (a
        colleague began it, or it went to the back-up), or her phone, with signal, shows it
        is no longer hers (the app does: she does not report a visit moved to a colleague).
        Before, she waited out the key-safe minutes and reported ``could_not_get_in`` on it,
        refused as not her visit or in a state that no longer allows it (s27, 30 nights)."""
        if job.status != "open":
            return True
        if now < nurse.offline_until or nurse.route is None:
            return False
        return all(
            str(step.get("visit_id")) != str(job.visit_id)
            for step in nurse.route.get("steps", [])
            if step["type"] == "visit"
        )

    def _next_break(self, nurse: Nurse) -> dict[str, Any] | None:
        """The break her route shows before her next open visit, if she has not had one."""
        if nurse.rested:
            return None
        for step in (nurse.route or {}).get("steps", []):
            if step["type"] == "break":
                return dict(step)
            if step["type"] == "visit" and step["progress"] in _NOT_BEGUN:
                job = self.by_visit.get(int(step["visit_id"]))
                if job is not None and job.status == "open":
                    return None
        return None

    def _ahead(
        self, nurse: Nurse
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        """Her next visit, and her break before it: where she is (``here``), or at that
        visit's door (``there``: the route has her drive first, its leg on the break)."""
        step, rest = self._next_visit(nurse), self._next_break(nurse)
        if rest is None:
            return step, None, None
        if step is not None and self._leg(rest) > 0:
            return step, None, rest
        return step, rest, None

    def _minute(self, moment: str) -> float:
        return (_utc(moment) - self.start).total_seconds() / 60

    def _leg(self, step: dict[str, Any]) -> float:
        return float((step.get("leg") or {}).get("travel_seconds", 0)) / 60

    def _drive(self, nurse: Nurse, step: dict[str, Any], rest: dict[str, Any] | None) -> float:
        """Minutes to ``step`` from where she is, as the planner reckons them: the travel
        matrix (a route's leg is the drive from the step before, which is not where she is
        once a re-plan took her as on her way or at a door), else the route's legs."""
        if self.travel is not None:
            return self.travel(nurse.place, self.by_visit[int(step["visit_id"])].spec.place)
        return self._leg(step) + (self._leg(rest) if rest is not None else 0.0)

    def _leave_at(
        self, nurse: Nurse, step: dict[str, Any], rest: dict[str, Any] | None = None
    ) -> float:
        """When the route has her leave for ``step`` (its planned start less the drive; with
        her break at its door, that break's start less the drive)."""
        due = self._minute(rest["start"] if rest is not None else step["start"])
        return due - self._drive(nurse, step, rest)

    def _depart(
        self, nurse: Nurse, step: dict[str, Any], now: float, rest: dict[str, Any] | None = None
    ) -> None:
        job = self.by_visit[int(step["visit_id"])]
        drive = self._drive(nurse, step, rest) * job.spec.travel_factor
        arrive = max(now, nurse.last_end) + drive
        start = arrive
        if step.get("window"):
            start = max(arrive, self._minute(step["window"]["start"]))
        outcome = self.planned.get(job.key) or self.calls.get(job.key)
        if outcome is not None:
            outcome.planned_start = self._minute(step["start"])
        nurse.state, nurse.target = "driving", step["visit_id"]
        nurse.until, nurse.start_at = arrive, start
        nurse.safe_code = nurse.ask_again = None  # the code of a door she left is no use
        nurse.door_rest = None
        if rest is not None:
            nurse.door_rest = (self._minute(rest["start"]), self._rest_minutes(rest))
        nurse.driving += drive
        # Her phone says where she drives, as the app does when she sets off: the service
        # keeps a visit she is driving to first (a re-plan redirected her mid-drive, and
        # left out as window_passed care she was minutes from, while it knew only the plan).
        self._event(nurse, "departed", max(now, nurse.last_end), to_visit_id=step["visit_id"])

    def _rest_minutes(self, rest: dict[str, Any]) -> float:
        return self._minute(rest["end"]) - self._minute(rest["start"])

    def _rest(self, nurse: Nurse, minutes: float, now: float, resume: str = "idle") -> None:
        """She goes on her break now, for ``minutes``; her phone says so (a ``break`` start,
        as the app does): she takes no visit until it is over, then is ``resume`` (idle, or
        arrived: at the door of her next visit)."""
        nurse.rested, nurse.resume = True, resume
        nurse.state, nurse.until = "resting", now + minutes
        self._event(nurse, "break", now, phase="start")

    def _step(self, nurse: Nurse, now: float) -> None:
        """Move her on as far as ``now``; her phone reads each change of her route (the app
        is sent a notice and reads it in the background, also while she is at a client: the
        service judges a phone that does not as silent, `api.night.reach`)."""
        if nurse.state in ("working", "door", "held", "resting"):
            self._read_route(nurse, now)
        for _ in range(6):  # a few transitions can fall in one tick
            if nurse.state == "held" and now >= nurse.until:
                nurse.state, nurse.last_end = "idle", nurse.until
            elif nurse.state in ("driving", "arrived"):
                self._read_route(nurse, now)
                step = self._next_visit(nurse)
                if step is not None and step["visit_id"] != nurse.target and now < nurse.start_at:
                    # Re-planned before care began (an acute call first): she goes there.
                    nurse.driving -= max(0.0, nurse.until - now) if nurse.state == "driving" else 0
                    nurse.last_end = now
                    self._depart(nurse, step, now)
                job = self.by_visit[int(nurse.target or 0)]
                if nurse.state == "driving":
                    if now < nurse.until:
                        break  # on her way
                    if job.status != "open":
                        nurse.state, nurse.last_end = "idle", nurse.until
                        continue
                    # At the door, the minute she reached it: her phone says so at once and
                    # then asks for the code, as the app does (her recorded arrival opens it).
                    nurse.state, nurse.place = "arrived", job.spec.place
                    self._event(nurse, "arrived", nurse.until, visit_id=nurse.target)
                    self._flush(nurse, now)
                    if self._key_safe(job):
                        self._ask_code(nurse, job, now)
                    continue
                if self._key_safe(job) and self._may_ask(nurse, now):
                    self._ask_code(nurse, job, now)  # signal again, or the code now allowed
                if nurse.door_rest is not None:
                    # Her route has her break here, before this visit: from its start.
                    if now < nurse.door_rest[0]:
                        break
                    self._rest(nurse, nurse.door_rest[1], now, resume="arrived")
                    nurse.door_rest = None
                    continue
                if now < nurse.start_at:
                    break  # early, she waits (in the car) until the window opens
                if job.status != "open":
                    nurse.state, nurse.last_end = "idle", nurse.until
                    continue
                self.reached_by[job.key] = nurse.code
                if self._key_safe(job) and not self._has_code(nurse, now):
                    # No code on her phone (offline, or refused): she cannot open the key
                    # safe; she keeps trying as long as for one that will not open.
                    nurse.state, nurse.door_reason = "door", "no_code"
                    nurse.until = nurse.start_at + self.params.key_safe_minutes
                    self._on_site(job, nurse.start_at)
                    continue
                self._begin(nurse, job, nurse.start_at)
            elif nurse.state == "door" and nurse.door_reason == "no_code" and now < nurse.until:
                job = self.by_visit[int(nurse.target or 0)]
                if self._sent_away(nurse, job, now):
                    nurse.state, nurse.last_end = "idle", now
                    continue
                if self._may_ask(nurse, now):
                    self._ask_code(nurse, job, now)
                if not self._has_code(nurse, now):
                    break
                self._begin(nurse, job, now)  # the code came: she opens the key safe now
            elif nurse.state == "door" and now >= nurse.until:
                job = self.by_visit[int(nurse.target or 0)]
                if self._sent_away(nurse, job, now):
                    nurse.state, nurse.last_end = "idle", nurse.until
                    continue
                job.status = "could_not_get_in"
                if nurse.door_reason == "no_code":
                    extra = {"reason": "other", "note": "no key-safe code on the phone"}
                else:
                    extra = {"reason": "key_safe_code_wrong"}
                self._event(nurse, "could_not_get_in", nurse.until, visit_id=nurse.target, **extra)
                self._hand_off_closed(job, "no_code" if nurse.door_reason == "no_code" else None)
                nurse.state, nurse.last_end = "idle", nurse.until
            elif nurse.state == "resting" and now >= nurse.until:
                self._event(nurse, "break", nurse.until, phase="end")
                nurse.state = nurse.resume
                if nurse.state == "arrived":  # at the door: care after the break
                    nurse.start_at = max(nurse.start_at, nurse.until)
            elif nurse.state == "working" and now >= nurse.until:
                job = self.by_visit[int(nurse.target or 0)]
                job.status = "done"
                self._event(
                    nurse,
                    "visit_completed",
                    nurse.until,
                    visit_id=nurse.target,
                    tasks_done=[],
                    materials_used=[],
                )
                nurse.state, nurse.last_end = "idle", nurse.until
            elif nurse.state == "idle":
                forced = self._flush(nurse, now)
                self._read_route(nurse, now, force=forced)
                step, here, there = self._ahead(nurse)
                if here is not None and now >= self._minute(here["start"]):
                    self._rest(nurse, self._rest_minutes(here), now)  # her break, where she is
                    continue
                if step is None or self._leave_at(nurse, step, there) > now + 0.5:
                    break  # nothing yet, or not time to leave (a call may come first)
                self._depart(nurse, step, now, there)
            else:
                break
        # What happened goes at once (with signal), as the app sends it: a ``departed`` kept
        # until the door (the loop left early while she drove) told the service nothing of
        # the drive, and a ``delayed`` sent while driving came only at the next visit.
        self._flush(nurse, now)

    def _begin(self, nurse: Nurse, job: Job, minute: float) -> None:
        """She opens the door at ``minute``: care begins, or the key safe will not open."""
        self.reached_by[job.key] = nurse.code
        if job.spec.key_safe_fails:
            nurse.state, nurse.door_reason = "door", "key_safe_code_wrong"
            nurse.until = minute + self.params.key_safe_minutes
            self._on_site(job, minute)
            return
        job.status = "started"
        self._event(nurse, "visit_started", minute, visit_id=nurse.target)
        self._started(job, minute)
        nurse.state = "working"
        nurse.until = minute + job.spec.actual_minutes

    def _on_site(self, job: Job, minute: float) -> None:
        outcome = self.calls.get(job.key) or self.planned[job.key]
        outcome.on_site = minute

    # --- key-safe codes: revealed at the door, and never outside the rules ------------------
    def _reveal(
        self, nurse: Nurse, visit_id: int, position: tuple[float, float] | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"visit_id": str(visit_id)}
        if position is not None:
            body["position"] = list(position)
        return self.http.call(
            "POST",
            "/mobile/v1/me/keysafe/reveal",
            json=body,
            headers=nurse.headers,
            auth=nurse.auth,
        )

    def _key_safe(self, job: Job) -> bool:
        return self.world.places[job.spec.place].key_safe

    def _has_code(self, nurse: Nurse, now: float) -> bool:
        """Her phone holds the code of the door she is at (not yet wiped)."""
        held = nurse.safe_code
        return held is not None and held[0] == nurse.target and now <= held[1]

    def _may_ask(self, nurse: Nurse, now: float) -> bool:
        return (
            not self._has_code(nurse, now)
            and nurse.ask_again is not None
            and now >= nurse.ask_again
            and now >= nurse.offline_until
        )

    def _ask_code(self, nurse: Nurse, job: Job, now: float) -> None:
        """Her phone asks for the door's key-safe code, sending its position (the address:
        with her recorded arrival that opens the code at the door, `api.keysafe`). The code
        must be the one the partner set (a wrong one is a breach); a refusal is counted by
        its reason and asked again at its ``retry_after``. Offline it cannot ask: it asks
        when it has signal again."""
        assert job.visit_id is not None
        nurse.ask_again = None
        if now < nurse.offline_until:
            nurse.ask_again = nurse.offline_until
            return
        place = self.world.places[job.spec.place]
        answer = self._reveal(nurse, job.visit_id, (place.lon, place.lat))
        body = answer.json()
        if answer.status_code == 200:
            self.record.keysafe_reveals += 1
            if body.get("code") != key_safe_code(job.spec.place):
                self.record.violations.append(f"{job.key}: the revealed key-safe code is wrong")
            forget = (_utc(body["forget_at"]) - self.start).total_seconds() / 60
            nurse.safe_code = (str(job.visit_id), forget)
            nurse.ask_again = forget  # wiped before she went in: asked again
            return
        reason = str(body.get("reason", answer.status_code))
        self.record.keysafe_refused[reason] = self.record.keysafe_refused.get(reason, 0) + 1
        if body.get("retry_after"):
            nurse.ask_again = (_utc(body["retry_after"]) - self.start).total_seconds() / 60

    def _probe_reveals(self, now: float) -> None:
        """Once a night, reveals the rules must refuse, on the routes the phones were given
        (the published ones the rules read): a nurse asking for a visit in another nurse's
        route only (``not_assigned``), and for one of her own whose ETA is more than 90
        minutes ahead (``too_early``: the code opens 30 minutes before it). A code revealed
        here is an invariant breach."""
        if self._probed:
            return
        online = [n for n in self.nurses if now >= n.offline_until]
        etas: dict[str, dict[int, float]] = {}
        for nurse in online:
            self._read_route(nurse, now, force=True)
            mine: dict[int, float] = {}
            for step in (nurse.route or {}).get("steps", []):
                if step["type"] != "visit" or step["progress"] not in ("planned", "en_route"):
                    continue
                job = self.by_visit.get(int(step["visit_id"]))
                if job is None or job.status != "open":
                    continue
                if self.world.places[job.spec.place].key_safe:
                    mine[job.visit_id or 0] = (_utc(step["eta"]) - self.start).total_seconds() / 60
            etas[nurse.code] = mine
        probes: list[tuple[Nurse, int, str]] = []
        for nurse in online:
            others = [v for n in online if n is not nurse for v in etas[n.code]]
            foreign = [v for v in others if v not in etas[nurse.code]]
            if foreign:
                probes.append((nurse, foreign[0], "not_assigned"))
            ahead = [v for v, eta in etas[nurse.code].items() if eta > now + 90]
            if ahead:
                probes.append((nurse, ahead[0], "too_early"))
        for nurse, visit_id, expected in probes[:4]:
            self._probed = True
            answer = self._reveal(nurse, visit_id)
            self.record.keysafe_probes += 1
            if answer.status_code == 200:
                self.record.violations.append(
                    f"minute {now:.0f}: a key-safe code revealed outside its rules ({expected})"
                )

    def _started(self, job: Job, minute: float) -> None:
        outcome = self.calls.get(job.key) or self.planned[job.key]
        outcome.start = outcome.on_site = minute

    def _hand_off_closed(self, job: Job, reason: str | None = None) -> None:
        """Nobody got in: the back-up partner (with a key) goes; counted as a hand-off
        (``no_entry``: the key safe would not open; ``no_code``: her phone had no code)."""
        outcome = self.calls.get(job.key) or self.planned[job.key]
        outcome.handed_off = True
        outcome.reason = reason or "no_entry"

    def _flush(self, nurse: Nurse, now: float) -> bool:
        """Send her outbox (unless offline); ``True`` when something was sent."""
        if not nurse.outbox or now < nurse.offline_until:
            return False
        answer = self.http.call(
            "POST",
            "/mobile/v1/me/events",
            json={"sent_at": self.at(now), "events": nurse.outbox},
            headers=nurse.headers,
            auth=nurse.auth,
        )
        if answer.status_code != 200:
            return False  # kept in the outbox, sent again (the event ids make it once)
        for result in answer.json()["results"]:
            if result["outcome"] == "rejected":
                event = nurse.outbox[result["index"]]
                nurse.rejected.append(f"{event['type']} {result['reason']}")
        nurse.outbox = []
        return True

    # --- invariants -------------------------------------------------------------------
    def _version(self) -> dict[str, Any]:
        """The night's plan version and whether a re-plan is owed (the board's poll)."""
        answer = self.http.call(
            "GET",
            f"/nights/{self.spec.night_date.isoformat()}/board/version",
            headers=self.planner,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def _plan(self) -> dict[str, Any]:
        answer = self.http.call(
            "GET", f"/nights/{self.spec.night_date.isoformat()}/plan", headers=self.planner
        )
        answer.raise_for_status()
        return dict(answer.json())

    def _check(self, now: float) -> None:
        """Every accepted open visit in the routes or unassigned, exactly once; visits past
        their deadline still unplaced go to the back-up partner."""
        plan = self._plan()
        self.checks += 1
        if plan["replan_pending"] or plan["plan"] is None:
            return
        routed: dict[str, int] = {}
        for route in plan["plan"]["routes"]:
            for step in route["steps"]:
                if step["type"] == "visit" and step.get("visit_id"):
                    routed[step["visit_id"]] = routed.get(step["visit_id"], 0) + 1
        unassigned: dict[str, int] = {}
        why: dict[str, str] = {}
        for entry in plan["plan"]["unassigned"]:
            unassigned[entry["visit_id"]] = unassigned.get(entry["visit_id"], 0) + 1
            why[entry["visit_id"]] = str(entry.get("reason"))
        statuses = {v["id"]: v["status"] for v in plan["visits"]}
        if now >= 60:
            self._probe_reveals(now)
        # The converse: nothing in the plan that should not be. A visit handed to the back-up
        # (cancelled) left in a route sends a nurse to it; one nobody asked for is doubled.
        # The player's nurses skip both, so only this check sees them. Once the night is
        # over the plan stands as its last re-plan left it (no re-plan after the night's end):
        # care handed to the back-up at the end (its tolerance ran to the night's end) is
        # still listed unassigned there, and no nurse follows it any more.
        frozen = now >= self.spec.minutes
        for ref in sorted(set(routed) | set(unassigned)) if not frozen else ():
            number = int(str(ref).removeprefix("V"))
            known = self.by_visit.get(number)
            if known is None:
                self.record.violations.append(
                    f"minute {now:.0f}: {ref} in the plan, asked for by nobody (doubled)"
                )
            elif statuses.get(number) == "cancelled":
                self.record.violations.append(
                    f"minute {now:.0f}: {ref} ({known.key}) cancelled but still in the plan"
                )
        for visit_id, job in self.by_visit.items():
            if statuses.get(visit_id) not in ("open", "could_not_get_in"):
                continue
            ref = f"V{visit_id}"
            places = routed.get(ref, 0) + unassigned.get(ref, 0)
            if places != 1:
                self.record.violations.append(
                    f"minute {now:.0f}: {ref} ({job.key}) in routes {routed.get(ref, 0)}x, "
                    f"unassigned {unassigned.get(ref, 0)}x"
                )
            elif unassigned.get(ref) and job.status == "open" and now >= job.deadline:
                if job.key in self.planned:
                    self.planned[job.key].unassigned_reason = why.get(ref)
                self._hand_off(job)

    def _end_of_night(self) -> None:
        for nurse in self.nurses:
            nurse.offline_until = -1
            self._flush(nurse, self.spec.minutes)
            self.record.driving_minutes += nurse.driving
            self.record.overtime_minutes += max(0.0, nurse.last_end - self.spec.minutes)
            self.record.violations += [f"{nurse.code}: event {r}" for r in nurse.rejected]
        deadline = time.monotonic() + 60
        plan = self._plan()
        while plan["replan_pending"] and time.monotonic() < deadline:
            time.sleep(0.2)
            plan = self._plan()
        if plan["replan_pending"]:
            self.record.violations.append("a re-plan still owed 60 s after the night")
        self._check(self.spec.minutes + 1000)  # also hands what is left over to the back-up
        plan = self._plan()
        statuses = {v["id"]: v["status"] for v in plan["visits"]}
        expected = {
            "done": "done",
            "could_not_get_in": "could_not_get_in",
            "handed_off": "cancelled",
            "started": "started",
        }
        for visit_id, job in self.by_visit.items():
            status = statuses.get(visit_id)
            if status is None:
                self.record.violations.append(f"{job.key}: V{visit_id} lost by the service")
            elif job.status == "open":
                self.record.violations.append(
                    f"{job.key}: V{visit_id} neither visited nor handed off ({status})"
                )
            elif expected[job.status] != status:
                self.record.violations.append(
                    f"{job.key}: V{visit_id} is {status}, the phones/partners made it {job.status}"
                )
        extra = set(statuses) - set(self.by_visit)
        if extra:
            self.record.violations.append(f"{len(extra)} visits nobody asked for (doubled)")
        self.record.violations += self.http.server_errors
        self.http.server_errors = []
        for call in self.calls.values():
            call.late_reason = self._late_reason(call)
        self.record.calls = list(self.calls.values())
        self.record.planned = list(self.planned.values())

    def _late_reason(self, call: CallOutcome) -> str | None:
        """Why a call on site past its target was: the answer already said so, the phone of
        the nurse who came was offline or she was held up meanwhile, the route she set off by
        had her there in time (``noise``: the drive took longer than the route said), else the
        night's re-plans moved it past its target."""
        target = TARGET_MINUTES[call.urgency]
        if call.response is None or call.response <= target:
            return None
        if call.answered is not None and call.answered > target:
            return "answered_late"
        who, arrived = self.reached_by.get(call.key), call.minute + call.response
        for fault, name in ((self.offline, "phone_offline"), (self.held, "held_up")):
            if (
                fault is not None
                and fault[0] == who
                and fault[1] < arrived
                and fault[2] > call.minute
            ):
                return name
        if call.planned_start is not None and call.planned_start - call.minute <= target + 0.5:
            return "noise"  # she set off by a route that had her there in time
        return "moved_later"


def key_safe_code(place: int) -> str:
    """The fictional key-safe code the simulator sets for place ``place`` (never logged)."""
    return f"S{(place * 7919) % 100000:05d}"


def setup_clients(
    http: Session, world: World, region: Region, first_night: date, last_night: date
) -> tuple[dict[int, int], dict[str, int]]:
    """Partners register every client and post their recurring planned care (over HTTP)."""
    place_client: dict[int, int] = {}
    for index, place in enumerate(world.places):
        answer = http.call(
            "POST",
            "/partner/v1/clients",
            json={
                "external_ref": place.ref,
                "display_name": f"Sim client {place.ref}",
                "address": f"Simulated address {index + 1} (fictional)",
                "lat": place.lat,
                "lon": place.lon,
                "access_instructions": "simulated (fictional)",
                "key_safe_present": place.key_safe,
            },
            headers={"X-API-Key": region.partner_keys[place.organisation]},
        )
        answer.raise_for_status()
        place_client[index] = int(answer.json()["id"])
        if place.key_safe:
            code = http.call(
                "PUT",
                f"/partner/v1/clients/{place_client[index]}/keysafe",
                json={"code": key_safe_code(index)},
                headers={"X-API-Key": region.partner_keys[place.organisation]},
            )
            code.raise_for_status()
    requests: dict[str, int] = {}
    for planned in world.recurring:
        place = world.places[planned.place]
        answer = http.call(
            "POST",
            "/partner/v1/visit-requests",
            json={
                "kind": "planned",
                "client_id": place_client[planned.place],
                "care_task": planned.care_task,
                "service_minutes": planned.service_minutes,
                "required_skills": list(planned.skills),
                "night": first_night.isoformat(),
                "window": {
                    "start": agreed_time(planned.window[0]),
                    "end": agreed_time(planned.window[1]),
                },
                "recurrence": {"weekdays": None, "until": last_night.isoformat()},
            },
            headers={
                "X-API-Key": region.partner_keys[place.organisation],
                "Idempotency-Key": f"sim-recurring-{planned.key}",
            },
        )
        answer.raise_for_status()
        requests[planned.key] = int(answer.json()["id"])
    return place_client, requests


def serve_for(
    folder: Path,
    url: str,
    *,
    speed: float,
    nights: int,
    network: str | None,
    data_dir: Path,
    tolerance: dict[str, int] | None = None,
    clock_file: Path | None = None,
) -> Served:
    """The served process the simulator starts (not yet started)."""
    env = {
        # Tokens live a simulated day: at 500x a 15-minute token would expire every 2 s.
        "NACHTROUTE_ACCESS_TOKEN_MINUTES": "1440",
        "NACHTROUTE_RECURRENCE_DAYS_AHEAD": str(max(14, nights + 2)),
        # The worker's poll is in real seconds: 5 s would be 40 simulated minutes.
        "NACHTROUTE_REPLAN_POLL_SECONDS": "0.2",
        "NACHTROUTE_DATA_DIR": str(data_dir),
    }
    if network is not None:
        env["NACHTROUTE_NETWORK"] = network
    if tolerance:
        env["NACHTROUTE_PLANNED_TOLERANCE_MINUTES"] = json.dumps(tolerance)
    return Served(
        url, data_dir, folder / "server.log", speed=speed, extra_env=env, clock_file=clock_file
    )
