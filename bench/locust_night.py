"""Locust users of the night load run (`bench.load_bench` starts Locust with this file).

Four kinds of client, the counts fixed (``-u 52``): 40 phones reading their route (with the
ETag of their last read, as the app does, each request with a DPoP proof by the phone's key),
10 phones posting event batches (positions),
one partner system sending an acute call every 3 s, each of which is planned live before the
answer, and one triage partner asking every 3 s whether a nurse can be somewhere within 30
minutes (``"triage": false`` in the config leaves it out: ``-u 51``, as before session 20).
The phones' tokens, device ids and the partner's keys come from the JSON file named in
``NACHTROUTE_BENCH_CONFIG`` (written by `bench.load_bench`; fictional demo data).

`FastHttpUser` (geventhttpclient): the load generator shares the 2 cores with the server, so
the cheaper client leaves more of them to what is measured.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import gevent
from locust import FastHttpUser, between, constant_pacing, task

from mobile_contract.dpop_client import PhoneKey

with open(os.environ["NACHTROUTE_BENCH_CONFIG"], encoding="utf-8") as file:
    CONFIG: dict[str, Any] = json.load(file)

_phones = itertools.cycle(CONFIG["phones"])
_posters = itertools.cycle(CONFIG["phones"])
_alarm_clients = itertools.cycle(CONFIG["alarm_clients"])


def _server_seconds() -> float:
    # The server's clock (NACHTROUTE_CLOCK, speed 1) started at the bench's clock when the
    # server started: device times and proofs stay on it.
    started = datetime.fromisoformat(CONFIG["clock"]).timestamp()
    return started + (time.time() - float(CONFIG["clock_origin"]))


def _now() -> datetime:
    return datetime.fromtimestamp(_server_seconds(), tz=UTC)


def _first_at_random_phase(longest: float) -> None:
    """A phone's first request at a random point of its interval, as a night's phones poll
    (``"start": "spread"``, the default); ``"together"``: Locust starts all 51 users within
    a few milliseconds and each fires at once, a burst of 50 first requests no night has."""
    if CONFIG.get("start", "spread") == "spread":
        gevent.sleep(random.uniform(0, longest))


class _Phone:
    """A bench phone: its token and key; each request gets a fresh DPoP proof from the
    reference client (`mobile_contract.dpop_client`), as the app sends it."""

    def __init__(self, phone: dict[str, Any], host: str) -> None:
        self.key = PhoneKey.from_pem(phone["key_pem"], clock=_server_seconds)
        self.token = str(phone["token"])
        self.device_id = str(phone["device_id"])
        self.host = host.rstrip("/")

    def headers(self, method: str, path: str) -> dict[str, str]:
        return {
            **self.key.headers(method, self.host + path, self.token),
            "X-Device-Id": self.device_id,
        }


class RouteReader(FastHttpUser):
    """A nurse's phone polling her route."""

    fixed_count = 40
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.phone = _Phone(next(_phones), self.host or "")
        self.etag: str | None = None
        _first_at_random_phase(1.5)

    @task
    def read_route(self) -> None:
        headers = self.phone.headers("GET", "/mobile/v1/me/route")
        if self.etag:
            headers["If-None-Match"] = self.etag
        with self.client.get(
            "/mobile/v1/me/route", headers=headers, name="route read", catch_response=True
        ) as response:
            if response.status_code == 200:
                self.etag = response.headers.get("ETag")
                response.success()
            elif response.status_code == 304:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")


class EventPoster(FastHttpUser):
    """A nurse's phone sending its outbox: a few positions per batch."""

    fixed_count = 10
    wait_time = between(1.5, 2.5)

    def on_start(self) -> None:
        phone = next(_posters)
        self.phone = _Phone(phone, self.host or "")
        self.rng = random.Random(phone["device_id"])
        self.where = phone["base"]
        _first_at_random_phase(2.5)

    @task
    def post_events(self) -> None:
        now = _now()
        events = [
            {
                "type": "position",
                "event_id": str(uuid.uuid4()),
                "device_time": (now - timedelta(seconds=5 * (4 - n))).isoformat(),
                "position": [
                    self.where[0] + self.rng.uniform(-0.01, 0.01),
                    self.where[1] + self.rng.uniform(-0.01, 0.01),
                ],
                "accuracy_metres": 15,
            }
            for n in range(5)
        ]
        with self.client.post(
            "/mobile/v1/me/events",
            json={"sent_at": now.isoformat(), "events": events},
            headers=self.phone.headers("POST", "/mobile/v1/me/events"),
            name="event batch",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            outcomes = {r["outcome"] for r in response.json()["results"]}
            if outcomes != {"accepted"}:
                response.failure(f"outcomes {sorted(outcomes)}")


class AlarmCentre(FastHttpUser):
    """A partner sending an acute call every 3 s; the answer comes after the live re-plan."""

    fixed_count = 1 if CONFIG.get("alarms", True) else 0
    wait_time = constant_pacing(3)

    @task
    def acute_call(self) -> None:
        client_id = next(_alarm_clients)
        with self.client.post(
            "/partner/v1/visit-requests",
            json={
                "kind": "unplanned",
                "client_id": client_id,
                "care_task": "fall",
                "service_minutes": 20,
                "urgency": "acute",
            },
            headers={"X-API-Key": CONFIG["partner_key"], "Idempotency-Key": str(uuid.uuid4())},
            name="live re-plan (acute call)",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}")
            elif response.json().get("live_replan") is None:
                response.failure("answered without a live re-plan")


class TriagePartner(FastHttpUser):
    """A triage partner asking "can a night nurse be there within 30 minutes?" every 3 s,
    for a place near the region's base (an answer is a quick first layout of the call on the
    current plan, `api.services.triage.capacity`; nothing is stored)."""

    fixed_count = 1 if CONFIG.get("triage", True) else 0
    wait_time = constant_pacing(3)

    def on_start(self) -> None:
        self.rng = random.Random(11)
        self.base = CONFIG["base"]
        _first_at_random_phase(3)

    @task
    def ask(self) -> None:
        question = {
            "lat": round(self.base[1] + self.rng.uniform(-0.03, 0.03), 6),
            "lon": round(self.base[0] + self.rng.uniform(-0.04, 0.04), 6),
            "within_minutes": 30,
            "urgency": self.rng.choice(["acute", "urgent"]),
            "service_minutes": 20,
        }
        with self.client.post(
            "/triage/v1/capacity",
            json=question,
            headers={"X-API-Key": CONFIG["triage_key"]},
            name="triage question",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif response.json().get("reason") in {"outside_night_hours", "no_nurses_on_shift"}:
                response.failure(f"answered {response.json()['reason']}")
