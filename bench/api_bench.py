"""Service benchmark: triage capacity answers at 3 nurses and 60 visits, and a live re-plan.

    python -m bench.api_bench [--questions 300] [--visits 60]

Runs the real app (TestClient, in process) on a temporary SQLite file, seeded with the
fictional demo region, a first plan solved for 5 s, at 01:30 in the night. Prints p50/p95/max
of POST /triage/v1/capacity (the whole request: auth, database, quote, JSON) and the time of
an unplanned request's live re-plan. Not a timed test: the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import warnings
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette would rather have httpx2; httpx works
    from fastapi.testclient import TestClient

from api.core.config import Settings
from api.db.engine import make_engine, make_session_factory
from api.db.migrate import upgrade
from api.main import create_app
from api.repositories import accounts, nights
from api.seed import seed_region, seed_requests
from api.services.planning import replan

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NIGHT = date(2026, 11, 23)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--visits", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nachtroute-bench-"))
    url = f"sqlite+pysqlite:///{folder / 'bench.sqlite'}"
    settings = Settings(database_url=url, data_dir=folder, migrate_on_start=False)
    upgrade(url)
    evening = datetime(2026, 11, 23, 21, 0, tzinfo=AMSTERDAM)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        seeded = seed_region(session, settings, night_date=NIGHT, with_users=False)
        seed_requests(session, seeded, night_date=NIGHT, now=evening, visits=args.visits)
        region = accounts.get_region(session)
        night = nights.get_or_create_night(session, region, NIGHT)
        first = replan(
            session, region, night, reason="bench", now=evening, time_limit=5.0, publish=True
        )
    engine.dispose()
    moment = datetime(2026, 11, 24, 1, 30, tzinfo=AMSTERDAM)
    app = create_app(settings, clock=lambda: moment)
    rng = random.Random(1)
    triage = {"X-API-Key": seeded.api_keys[seeded.triage[0]]}
    timings: list[float] = []
    answers = {True: 0, False: 0}
    with TestClient(app) as client:
        for number in range(args.questions + 10):
            body = {
                "lat": 52.9925 + rng.uniform(-0.05, 0.05),
                "lon": 6.5625 + rng.uniform(-0.08, 0.08),
                "within_minutes": rng.choice([15, 30, 45]),
                "urgency": rng.choice(["acute", "urgent"]),
            }
            began = time.perf_counter()
            response = client.post("/triage/v1/capacity", json=body, headers=triage)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200, response.text
            if number >= 10:  # warm-up
                timings.append(elapsed * 1000)
                answers[response.json()["available"]] += 1
        partner = seeded.home_care[0]
        client_id = seeded.clients[partner][0]
        began = time.perf_counter()
        response = client.post(
            "/partner/v1/visit-requests",
            json={
                "kind": "unplanned",
                "client_id": client_id,
                "care_task": "fall",
                "service_minutes": 25,
                "urgency": "acute",
            },
            headers={"X-API-Key": seeded.api_keys[partner]},
        )
        live_request = time.perf_counter() - began
        assert response.status_code == 201, response.text
        live = response.json()["live_replan"]
    timings.sort()
    p95 = timings[int(0.95 * (len(timings) - 1))]
    print(
        f"night: {args.visits} visits, 3 nurses, first plan {first.plan.summary.visits_planned} "
        f"planned; questions at 01:30: {len(timings)} ({answers[True]} yes, {answers[False]} no)"
    )
    print(
        f"triage capacity (ms): p50 {statistics.median(timings):.1f}  p95 {p95:.1f}  "
        f"max {timings[-1]:.1f}"
    )
    print(
        f"live re-plan of an acute request at 01:30: re-plan {live['seconds']:.2f} s, "
        f"whole request {live_request:.2f} s, nurses affected {live['affected_nurses']}"
    )


if __name__ == "__main__":
    main()
