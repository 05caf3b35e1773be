"""Night load run: 50 phones and a stream of acute calls against one `nachtroute serve`.

    python -m bench.load_bench --db sqlite            [--seconds 60] [--port 0]
    python -m bench.load_bench --db postgres          [--postgres-url URL]

What it does, on loopback only:

1. Seeds a fictional region in a fresh database (a temporary SQLite file, or a new PostgreSQL
   database that is dropped afterwards): 10 nurses on shift, 45 planned visits, a first plan
   solved and published. The night is the one under way at the bench's clock: the standard
   23:00-07:00 when the bench runs at night, otherwise a night window laid around the
   current hour, so the clock is inside the night whether or not the server honours
   ``NACHTROUTE_CLOCK``, which the bench sets to the same moment (speed 1).
2. Starts ``nachtroute serve`` (one process) on that database and signs each nurse in with
   her second factor; each registers a phone.
3. Runs Locust headless (`bench/locust_night.py`), bounded to ``--seconds`` and 52 users:
   40 phones reading their route, 10 posting event batches, one partner sending an acute
   call every 3 s (each answered after its live re-plan), one triage partner asking every
   3 s whether a nurse can be somewhere within 30 minutes (``--no-triage``: without it, 51
   users, as the runs before session 20).
4. Prints errors, route read p50/p99, event batch p99, the slowest live re-plan answer and
   the triage answers' p99 against the targets (p99 < 200 ms, p99 < 300 ms, each < 1 s,
   p99 < 500 ms), and whether the server
   logged anything at ERROR; and the server's CPU time per request (its own process, and
   its solver processes apart), a figure that does not depend on how long the requests
   waited for a core, so builds can be compared on a loaded machine.

``--start spread`` (the default) sends each phone's first request at a random point of its
polling interval; ``--start together`` fires all 51 users' first requests at once, as the
runs before session 19 did (a first-second burst of 50 requests that alone made the p99).

``--pin split`` (the default with 2 or more cores) keeps the load generator off the
server's cores: Locust runs on the last core, the server (and the solver processes it
starts, which inherit it) on the others; on 2 cores the worker's 0.8 s search then shares
the server's one core. ``--pin locust`` pins only Locust, ``--pin none`` lets the kernel
place both, as the runs before 2026-11-29 21:00 UTC did. ``--profile FILE`` records the
serving process with py-spy (if installed, `--gil`) for the run's length, in py-spy's raw
(collapsed stacks) format.

Not a test: the figures go to docs/benchmarks.md. Locust's percentiles are its own
(response times rounded to two significant digits above 100 ms); the maximum is exact.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.core.config import Settings
from api.core.roles import Role
from api.db.engine import make_engine, make_session_factory
from api.db.migrate import upgrade
from api.repositories import accounts, clients, nights, requests
from api.schemas.requests import PlannedRequestCreate, Window
from api.seed import DEMO_NURSE_TOTP_SECRET, DEMO_PASSWORD, partner_principal, seed_region
from api.services.planning import replan
from api.simulation.service import bin_path, free_port, wait_healthy
from mobile_contract.dpop_client import PhoneKey

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locust_night.py"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NURSES = 10
ALL_SKILLS = ["basic", "medication", "injection", "catheter", "wound", "palliative", "iv"]
PHONE = {
    "platform": "android",
    "app_version": "1.0.0",
    "label": "bench phone (fictional)",
    "public_key": "",  # each phone's own key (sign_in_phones)
}
TARGETS = {"route_p99_ms": 200, "events_p99_ms": 300, "replan_max_ms": 1000, "triage_p99_ms": 500}


def night_window(local: datetime) -> tuple[str, str]:
    """A night window (``HH:MM`` start, end) that is under way at ``local``.

    The service files a moment before noon under the previous evening's night, so a window
    for the morning starts at noon the day before.
    """
    if local.hour >= 23 or local.hour < 6:
        return "23:00", "07:00"
    if local.hour >= 12:
        start = max(12, local.hour - 1)
        return f"{start:02d}:00", f"{(start + 8) % 24:02d}:00"
    return "12:00", "12:00"


def shift_window(local: datetime) -> tuple[str, str]:
    """The nurses' shift (``HH:MM`` start, end) in the night `night_window` gives for
    ``local``, under way at ``local``.

    The night's own window, except in the morning: the night then runs noon to noon, and a
    shift of 12:00-12:00 is no time at all in that night (a shift's 12:00 is the night's
    first second; a night's end at its start is a whole day), so every visit was left out
    and the bench measured empty routes (runs between 06:00 and 12:00 local time before
    session 20). In the morning a shift from the hour before ``local`` to 11:59."""
    start, end = night_window(local)
    if start != end:
        return start, end
    return f"{max(0, local.hour - 1):02d}:00", "11:59"


def seed(
    url: str, settings: Settings, now: datetime, *, visits: int, alarms: int
) -> dict[str, Any]:
    """The region, nurses, visits and a published first plan; what the bench needs to know."""
    rng = random.Random(3)
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        seeded = seed_region(
            session, settings, night_date=now.date(), organisations=2, with_users=True
        )
        region = accounts.get_region(session)
        local = now.astimezone(_zone(region.timezone))
        region.night_start, region.night_end = night_window(local)
        session.commit()
        night_date = nights.night_date_for(region, now)
        starts_at, ends_at = nights.night_bounds(region, night_date)
        assert starts_at <= now < ends_at, (starts_at, now, ends_at)
        codes = dict(seeded.nurses)
        for number in range(len(codes) + 1, NURSES + 1):
            code = f"N{number}"
            nurse = accounts.create_nurse(
                session, code=code, display_name=f"Nurse {code} (bench)", skills=ALL_SKILLS
            )
            codes[code] = nurse.id
            accounts.create_user(
                session,
                username=f"nurse-{code.lower()}",
                password=DEMO_PASSWORD,
                role=Role.NURSE,
                nurse_id=nurse.id,
                totp_secret=DEMO_NURSE_TOTP_SECRET,
                settings=settings,
            )
        shift_start, shift_end = shift_window(local)
        for nurse_id in codes.values():
            accounts.set_shift(
                session, nurse_id, night_date=night_date, start=shift_start, end=shift_end
            )
        horizon = int((ends_at - starts_at).total_seconds())
        elapsed = int((now - starts_at).total_seconds())
        org = seeded.home_care[0]
        principal = partner_principal(org)

        def wall(seconds: int) -> str:
            return (
                (starts_at + timedelta(seconds=seconds)).astimezone(local.tzinfo).strftime("%H:%M")
            )

        def new_client(number: int, label: str) -> int:
            distance, bearing = 4.0 * rng.random() ** 0.7, rng.uniform(0, 6.283)
            lat = region.base_lat + distance / 111.2 * _cos(bearing)
            lon = region.base_lon + distance / 72.0 * _sin(bearing)
            made = clients.create_client(
                session,
                principal,
                {
                    "external_ref": f"BENCH-{label}-{number:03d}",
                    "display_name": f"Bench client {label} {number:03d}",
                    "address": f"Teststraat {number} (fictional)",
                    "lat": round(lat, 6),
                    "lon": round(lon, 6),
                    "access_instructions": "ring twice (fictional)",
                    "key_safe_present": False,
                },
                now=now,
            )
            return made.id

        first = max(0, elapsed - 1800)
        last = max(first + 3600, horizon - 2 * 3600)
        for number in range(visits):
            client_id = new_client(number, "V")
            begin = rng.randrange(first, last, 300)
            end = min(horizon - 600, begin + rng.choice([60, 90, 120]) * 60)
            requests.submit_request(
                session,
                principal,
                region,
                PlannedRequestCreate(
                    kind="planned",
                    client_id=client_id,
                    care_task=rng.choice(["turn", "medication", "wound"]),
                    service_minutes=rng.choice([10, 15, 20]),
                    night=night_date,
                    window=Window(start=wall(begin), end=wall(end)),
                ),
                idempotency_key=f"bench-{number}",
                now=now,
                days_ahead=1,
            )
        alarm_clients = [new_client(number, "A") for number in range(alarms)]
        night = nights.get_or_create_night(session, region, night_date)
        session.commit()
        first_plan = replan(
            session,
            region,
            night,
            reason="bench: first plan",
            now=now,
            time_limit=3.0,
            publish=True,
        )
        base = (region.base_lon, region.base_lat)
    engine.dispose()
    return {
        "nurses": sorted(codes),
        "partner_key": seeded.api_keys[org],
        "triage_key": seeded.api_keys[seeded.triage[0]],
        "alarm_clients": alarm_clients,
        "base": list(base),
        "window": [region.night_start, region.night_end],
        "shift": [shift_start, shift_end],
        "planned": sum(len(route.visit_ids()) for route in first_plan.plan.routes),
        "night": night_date.isoformat(),
    }


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _cos(x: float) -> float:
    import math

    return math.cos(x)


def _sin(x: float) -> float:
    import math

    return math.sin(x)


@contextmanager
def database(kind: str, postgres_url: str, folder: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file in ``folder`` or a new PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite+pysqlite:///{folder / 'bench.sqlite'}"
        return
    name = f"nr_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sign_in_phones(
    base_url: str, nurses: list[str], base: list[float], clock: Callable[[], float]
) -> list[dict[str, Any]]:
    """Each nurse's phone makes its key, signs in with her second factor and a DPoP proof
    (the token comes back bound to the key) and registers the key, as the reference client
    (`mobile_contract.dpop_client`) does. ``clock``: the server's simulated clock in unix
    seconds (the proofs' ``iat``)."""
    phones = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for code in nurses:
            key = PhoneKey.generate(clock)
            login = http.post(
                "/auth/token",
                json={
                    "username": f"nurse-{code.lower()}",
                    "password": DEMO_PASSWORD,
                    "totp_code": pyotp.TOTP(DEMO_NURSE_TOTP_SECRET).now(),
                },
                headers=key.headers("POST", f"{base_url}/auth/token"),
            )
            login.raise_for_status()
            token = login.json()["access_token"]
            device = http.post(
                "/mobile/v1/devices",
                json={**PHONE, "public_key": key.public_jwk_json()},
                headers=key.headers("POST", f"{base_url}/mobile/v1/devices", token),
            )
            device.raise_for_status()
            phones.append(
                {
                    "token": token,
                    "device_id": device.json()["device_id"],
                    "base": base,
                    # Fictional bench phones only: a real phone never exports its key.
                    "key_pem": key.to_pem(),
                }
            )
    return phones


def _stats(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as file:
        return {row["Name"]: row for row in csv.DictReader(file)}


def cpu_split(kind: str) -> tuple[set[int] | None, set[int] | None]:
    """The cores for (server, Locust): ``split`` puts Locust on the last usable core and the
    server on the rest, ``locust`` pins only Locust (``None``: any core; both ``None`` with
    fewer than 2 cores, or for ``none``)."""
    if kind == "none" or not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    if kind == "locust":
        return None, {cores[-1]}
    return set(cores[:-1]), {cores[-1]}


def _pinned(cores: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child (and what it starts later) to ``cores``."""
    if cores is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


def run(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="nachtroute-load-") as tmp:
        folder = Path(tmp)
        with database(args.db, args.postgres_url, folder) as url:
            settings = Settings(
                environment="development", database_url=url, data_dir=folder, network=None
            )
            started = time.perf_counter()
            facts = seed(url, settings, now, visits=args.visits, alarms=args.seconds // 3 + 5)
            print(
                f"seeded in {time.perf_counter() - started:.1f} s: night {facts['night']} "
                f"{facts['window'][0]}-{facts['window'][1]}, {len(facts['nurses'])} nurses "
                f"on shift {facts['shift'][0]}-{facts['shift'][1]}, {args.visits} visits, "
                f"{facts['planned']} of them in the first plan",
                file=sys.stderr,
            )
            port = free_port(args.port)
            base_url = f"http://127.0.0.1:{port}"
            # The server's clock starts at the real time it starts (still inside the seeded
            # night): started at the seed's moment, it would lag the real clock by the seed's
            # duration, and the nurses' TOTP codes (made at the real time) would be refused.
            now = datetime.now(UTC).replace(microsecond=0)
            env = {
                **os.environ,
                "NACHTROUTE_DATABASE_URL": url,
                "NACHTROUTE_DATA_DIR": str(folder),
                "NACHTROUTE_ENVIRONMENT": "development",
                "NACHTROUTE_MIGRATE_ON_START": "false",
                "NACHTROUTE_CLOCK": now.isoformat(),
                "NACHTROUTE_CLOCK_SPEED": "1",
            }
            env.pop("NACHTROUTE_NETWORK", None)
            server_log = folder / "server.log"
            # The server's simulated clock starts at `now` when it starts: the phones sign
            # their proofs on it (a proof more than 60 s off the server's clock is stale).
            origin = time.time()

            def server_clock() -> float:
                return now.timestamp() + (time.time() - origin)

            server_cores, locust_cores = cpu_split(args.pin)
            users = 50 + (0 if args.no_alarms else 1) + (0 if args.no_triage else 1)
            with server_log.open("wb") as log:
                server = subprocess.Popen(
                    [bin_path("nachtroute"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=folder,
                    preexec_fn=_pinned(server_cores),
                )
                spy: subprocess.Popen[bytes] | None = None
                try:
                    wait_healthy(base_url, server)
                    phones = sign_in_phones(base_url, facts["nurses"], facts["base"], server_clock)
                    config = folder / "bench.json"
                    config.write_text(
                        json.dumps(
                            {
                                **facts,
                                "phones": phones,
                                "clock": now.isoformat(),
                                "clock_origin": origin,
                                "alarms": not args.no_alarms,
                                "triage": not args.no_triage,
                                "start": args.start,
                            }
                        ),
                        encoding="utf-8",
                    )
                    cpu_before = _cpu_seconds(server.pid)
                    spy = _profiler(args.profile, server.pid, args.seconds)
                    locust = subprocess.run(
                        [
                            bin_path("locust"),
                            "-f",
                            str(LOCUSTFILE),
                            "--headless",
                            "--users",
                            str(users),
                            "--spawn-rate",
                            str(users),
                            "--run-time",
                            f"{args.seconds}s",
                            "--stop-timeout",
                            "5",
                            "--host",
                            base_url,
                            "--csv",
                            str(folder / "locust"),
                            "--only-summary",
                            "--loglevel",
                            "WARNING",
                        ],
                        env={**os.environ, "NACHTROUTE_BENCH_CONFIG": str(config)},
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                        check=False,
                        preexec_fn=_pinned(locust_cores),
                    )
                    cpu_after = _cpu_seconds(server.pid)
                    server_cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
                    load = os.getloadavg()[0]
                    if spy is not None:
                        # py-spy writes its file after its --duration; on a loaded machine
                        # that took more than a minute (session 20).
                        try:
                            spy.wait(timeout=240)
                        except subprocess.TimeoutExpired:
                            print("py-spy did not finish: no profile", file=sys.stderr)
                finally:
                    if spy is not None and spy.poll() is None:
                        spy.terminate()
                    server.terminate()
                    try:
                        server.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        server.kill()
            versions = plan_versions_stored(url)
            if args.keep_db is not None and args.db == "sqlite":
                shutil.copy(folder / "bench.sqlite", args.keep_db)
            stats_file = folder / "locust_stats.csv"
            if not stats_file.exists():
                sys.stderr.write(locust.stdout[-3000:] + locust.stderr[-3000:])
                raise SystemExit("locust wrote no statistics")
            stats = _stats(stats_file)
            server_errors = [
                line
                for line in server_log.read_text(encoding="utf-8", errors="replace").splitlines()
                if " ERROR " in line or "Traceback" in line
            ]
    return _report(
        args,
        stats,
        server_errors,
        versions=versions,
        server_cpu=server_cpu,
        load=load,
        pinned=(server_cores, locust_cores),
    )


def plan_versions_stored(url: str) -> tuple[int, int]:
    """How many plan versions the night got during the run, and how many of them are
    identical to the one before (the solver's own statistics aside): R13's stores of
    nothing new."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT plan FROM plan_versions ORDER BY night_id, version")
            ).all()
    finally:
        engine.dispose()
    plans = [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]
    bare = [{k: v for k, v in p.items() if k != "stats"} for p in plans]
    same = sum(1 for a, b in itertools.pairwise(bare) if a == b)
    return max(0, len(plans) - 1), same  # the seeded first plan is not the run's


def _profiler(path: Path | None, pid: int, seconds: int) -> subprocess.Popen[bytes] | None:
    """py-spy recording the serving process for ``seconds`` (raw format), if asked for."""
    if path is None:
        return None
    spy = bin_path("py-spy")
    if shutil.which(spy) is None:
        raise SystemExit("--profile: py-spy is not installed (pip install py-spy)")
    # --gil: only the thread holding the interpreter is sampled, so the samples add up to
    # the interpreter's busy time (threads waiting for it on a loaded machine are not).
    command = [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "50", "-f", "raw", "--gil"]
    return subprocess.Popen(
        [*command, "-o", str(path.resolve()), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the server process and, apart, by its
    child processes (the solver's search processes, living and ended); NaN without psutil."""
    try:
        import psutil
    except ImportError:
        return float("nan"), float("nan")
    process = psutil.Process(pid)
    own = process.cpu_times()
    children = own.children_user + own.children_system
    for child in process.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        children += times.user + times.system
    return float(own.user + own.system), float(children)


def _ms(row: dict[str, str], column: str) -> float:
    value = row.get(column, "N/A")
    return float(value) if value not in ("", "N/A") else float("nan")


def _report(
    args: argparse.Namespace,
    stats: dict[str, dict[str, str]],
    server_errors: list[str],
    *,
    versions: tuple[int, int],
    server_cpu: tuple[float, float],
    load: float,
    pinned: tuple[set[int] | None, set[int] | None],
) -> dict[str, Any]:
    route = stats.get("route read", {})
    events = stats.get("event batch", {})
    replans = stats.get("live re-plan (acute call)", {})
    triage = stats.get("triage question", {})
    total = stats.get("Aggregated", {})
    count = max(1, int(total.get("Request Count", 0)))
    own_cpu, solver_cpu = server_cpu
    result = {
        "database": args.db,
        "seconds": args.seconds,
        "requests": int(total.get("Request Count", 0)),
        "errors": int(total.get("Failure Count", 0)),
        "route_reads": int(route.get("Request Count", 0)),
        "route_p50_ms": _ms(route, "50%"),
        "route_p99_ms": _ms(route, "99%"),
        "event_batches": int(events.get("Request Count", 0)),
        "events_p50_ms": _ms(events, "50%"),
        "events_p99_ms": _ms(events, "99%"),
        "replans": int(replans.get("Request Count", 0)),
        "replan_p50_ms": _ms(replans, "50%"),
        "replan_max_ms": _ms(replans, "Max Response Time"),
        "triage_questions": int(triage.get("Request Count", 0)),
        "triage_p50_ms": _ms(triage, "50%"),
        "triage_p99_ms": _ms(triage, "99%"),
        "triage_max_ms": _ms(triage, "Max Response Time"),
        "server_error_lines": len(server_errors),
        "server_cpu_seconds": round(own_cpu, 1),
        "server_cpu_ms_per_request": round(1000 * own_cpu / count, 2),
        "solver_processes_cpu_seconds": round(solver_cpu, 1),
        "pinned": {
            "server": sorted(pinned[0]) if pinned[0] else "any",
            "locust": sorted(pinned[1]) if pinned[1] else "any",
        },
        "load_average_1min": round(load, 1),
        "start": args.start,
        "plan_versions_stored": versions[0],
        "plan_versions_identical_to_previous": versions[1],
    }
    met = {
        "route_p99_ms": result["route_p99_ms"] < TARGETS["route_p99_ms"],
        "events_p99_ms": result["events_p99_ms"] < TARGETS["events_p99_ms"],
        "replan_max_ms": result["replan_max_ms"] < TARGETS["replan_max_ms"],
        "errors": result["errors"] == 0,
    }
    if not args.no_triage:
        met["triage_p99_ms"] = result["triage_p99_ms"] < TARGETS["triage_p99_ms"]
    print(
        f"{args.db}: {result['requests']} requests in {args.seconds} s, "
        f"{result['errors']} errors; route reads {result['route_reads']}: "
        f"p50 {result['route_p50_ms']:.0f} ms, p99 {result['route_p99_ms']:.0f} ms "
        f"(target < {TARGETS['route_p99_ms']}: {'met' if met['route_p99_ms'] else 'MISSED'}); "
        f"event batches {result['event_batches']}: p50 {result['events_p50_ms']:.0f} ms, "
        f"p99 {result['events_p99_ms']:.0f} ms "
        f"(< {TARGETS['events_p99_ms']}: {'met' if met['events_p99_ms'] else 'MISSED'}); "
        f"live re-plans {result['replans']}: p50 {result['replan_p50_ms']:.0f} ms, "
        f"max {result['replan_max_ms']:.0f} ms "
        f"(each < {TARGETS['replan_max_ms']}: {'met' if met['replan_max_ms'] else 'MISSED'}); "
        + (
            ""
            if args.no_triage
            else f"triage questions {result['triage_questions']}: "
            f"p50 {result['triage_p50_ms']:.0f} ms, p99 {result['triage_p99_ms']:.0f} ms, "
            f"max {result['triage_max_ms']:.0f} ms "
            f"(p99 < {TARGETS['triage_p99_ms']}: "
            f"{'met' if met['triage_p99_ms'] else 'MISSED'}); "
        )
        + f"server ERROR lines {result['server_error_lines']}; server CPU "
        f"{result['server_cpu_seconds']} s during the run "
        f"({result['server_cpu_ms_per_request']} ms per request; solver processes "
        f"{result['solver_processes_cpu_seconds']} s), cores server {result['pinned']['server']} "
        f"/ Locust {result['pinned']['locust']}, load average {result['load_average_1min']}; "
        f"plan versions stored {versions[0]} ({versions[1]} identical to the one before); "
        f"start {args.start}"
    )
    for line in server_errors[:5]:
        print(f"  server: {line[:200]}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=PG_URL, help="an admin URL (creates a db)")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--visits", type=int, default=45)
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="the server's port (default 0: one the system picks; a fixed port shared with "
        "another run on the machine lets the bench sign in at that run's server)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--no-alarms", action="store_true", help="phones only (to see what the re-plans cost)"
    )
    parser.add_argument(
        "--no-triage",
        action="store_true",
        help="no triage partner (the runs before session 20: 50 phones and the alarm centre)",
    )
    parser.add_argument(
        "--pin",
        choices=["split", "locust", "none"],
        default="split",
        help="split: Locust on the last core, the server on the others (with 2+ cores); "
        "locust: only Locust pinned",
    )
    parser.add_argument(
        "--start",
        choices=["spread", "together"],
        default="spread",
        help="spread: each phone's first request at a random point of its polling interval "
        "(as phones are); together: every simulated user fires at once (the runs before "
        "session 19), a first-second burst that alone made the p99 of a 60 s run",
    )
    parser.add_argument(
        "--keep-db",
        type=Path,
        default=None,
        help="SQLite: copy the database as the run left it to this file (to study offline)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy raw profile of the server to FILE"
    )
    args = parser.parse_args()
    if not 10 <= args.seconds <= 600:
        parser.error("--seconds: between 10 and 600")
    result = run(args)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
