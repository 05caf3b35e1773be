"""Faults found by playing the night against the running service (the red team), each kept
as a test through HTTP on the simulated clock."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path

import psutil
import pytest

from api.db.phone_models import PhoneEvent
from api.repositories import nights
from tests.api.conftest import World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import fresh, phone_body, published_night, register_phone
from tests.api.test_durable_replans import NACHTROUTE, _free_port, serve, stop

EVENTS = "/mobile/v1/me/events"
REQUESTS = "/partner/v1/visit-requests"

# Aware times whose conversion to UTC leaves the datetime range (year 1 at +14:00, year 9999
# at -14:00): Python raises OverflowError, not ValueError, so validation let them through.
OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_a_phone_time_outside_the_datetime_range_is_refused_not_a_500(
    world: World, moment: str
) -> None:
    """``sent_at`` out of range: 422 naming the field; a ``device_time`` out of range: that
    event alone is rejected as invalid, the rest of the batch is taken."""
    published_night(world, visits=4)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    visit_id = next(s["visit_id"] for s in route["steps"] if s["type"] == "visit")
    now = world.clock().isoformat()
    refused = world.client.post(EVENTS, json={"sent_at": moment, "events": []}, headers=phone)
    assert refused.status_code == 422, refused.text
    assert "sent_at" in refused.text
    bad = {
        "type": "arrived",
        "event_id": str(uuid.uuid4()),
        "device_time": moment,
        "visit_id": visit_id,
    }
    good = {**bad, "event_id": str(uuid.uuid4()), "device_time": now}
    response = world.client.post(
        EVENTS, json={"sent_at": now, "events": [bad, good]}, headers=phone
    )
    assert response.status_code == 200, response.text
    outcomes = [r["outcome"] for r in response.json()["results"]]
    assert outcomes == ["rejected", "accepted"]
    assert response.json()["results"][0]["reason"] == "invalid"


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("name", ["since", "until"])
def test_an_access_log_bound_outside_the_datetime_range_is_a_422(
    world: World, name: str, moment: str
) -> None:
    """The same OverflowError in a query parameter: 422 naming it, not a 500."""
    officer = world.token("privacy1", second_factor=True)
    response = world.client.get("/access-log", params={name: moment}, headers=officer)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == f"query.{name}"


def _acute(client_id: int, call_time: str) -> dict[str, object]:
    return {
        "kind": "unplanned",
        "urgency": "acute",
        "client_id": client_id,
        "care_task": "fall",
        "service_minutes": 20,
        "call_time": call_time,
    }


@pytest.mark.parametrize(
    "call_time", [*OUT_OF_RANGE, "1999-01-01T00:00:00+00:00", "2026-11-23T03:00:00+01:00"]
)
def test_an_acute_call_dated_outside_tonight_is_refused_naming_call_time(
    world: World, call_time: str
) -> None:
    """At 03:12 a call dated years (or a night) ago used to be taken (201) into that past
    night, where nobody would ever plan it; a time out of the datetime range was a 500.
    Both are 422 naming ``call_time``, and nothing is stored."""
    published_night(world, visits=4)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 7)
    world.clock.set(3, 12)
    response = world.client.post(
        REQUESTS, json=_acute(client_id, call_time), headers=world.key(org)
    )
    assert response.status_code == 422, response.text
    assert "call_time" in response.text
    listed = world.client.get(REQUESTS, headers=world.key(org)).json()
    assert all(r["client_id"] != client_id for r in listed)


def test_an_acute_call_dated_earlier_tonight_is_still_taken(world: World) -> None:
    """The bound is the night, not the minute: a call at 02:50 sent at 03:12 is planned."""
    published_night(world, visits=4)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 7)
    world.clock.set(3, 12)
    response = world.client.post(
        REQUESTS, json=_acute(client_id, "2026-11-24T02:50:00+01:00"), headers=world.key(org)
    )
    assert response.status_code == 201, response.text
    assert response.json()["first_night"] == "2026-11-23"


def test_a_server_killed_with_sigkill_leaves_no_solver_process_behind(
    world: World, tmp_path: Path
) -> None:
    """`kill -9` of the server alone (an OOM kill, an operator's kill of one pid) ran no
    shutdown; its solver processes lived on as orphans, ~100 MB each, one set per restart.
    They now leave once their server is gone. (The timeout bounds a hung test only.)"""
    published_night(world, visits=4)
    world.clock.set(3, 10)
    world.client.app.state.replanner.stop()  # only the served process plans
    served = serve(world, tmp_path, name="orphans")
    try:
        org = world.seeded.home_care[0]
        client_id = new_client(world, org, 8)
        with served.http() as http:  # a live re-plan: the live solver process is running
            answer = http.post(
                REQUESTS, json=_acute(client_id, world.clock().isoformat()), headers=world.key(org)
            )
        assert answer.status_code == 201, answer.text
        solvers = psutil.Process(served.process.pid).children(recursive=True)
        assert solvers, "the server started no solver process"
        os.kill(served.process.pid, signal.SIGKILL)  # the server alone, not its group
        served.process.wait()
        _gone, alive = psutil.wait_procs(solvers, timeout=60)
        assert not alive, f"{len(alive)} solver process(es) outlived the killed server"
    finally:
        stop(served)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.process.pid, signal.SIGKILL)
    # The call was answered with the quick insertion; the search it owes died with the
    # server. As after a restart, the owed re-plan is made (here in this process).
    with world.sessions()() as session:
        owed = nights.pending_replans(session)
    for night_id in owed:
        world.client.app.state.replanner.replan_now(night_id)


@pytest.mark.parametrize("where", [(41.16, -8.61), (6.56, 52.99)], ids=["far", "swapped"])
def test_triage_for_a_place_outside_the_region_names_the_coordinates(
    world: World, where: tuple[float, float]
) -> None:
    """A triage caller with a wrong (or lat/lon-swapped) coordinate was told "no_capacity:
    no nurse can fit this in", as if the team were full: 422 naming lat and lon instead, by
    the same area rule a client's address follows."""
    published_night(world, visits=4)
    world.clock.set(3, 12)
    lat, lon = where
    response = world.client.post(
        "/triage/v1/capacity",
        json={"lat": lat, "lon": lon},
        headers=world.key(world.seeded.triage[0]),
    )
    assert response.status_code == 422, response.text
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.lat", "body.lon"}
    inside = world.client.post(
        "/triage/v1/capacity",
        json={"lat": 52.99, "lon": 6.56},
        headers=world.key(world.seeded.triage[0]),
    )
    assert inside.status_code == 200, inside.text


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serve_beyond_loopback_refuses_the_public_placeholder_secret(
    tmp_path: Path, host: str
) -> None:
    """`nachtroute serve --host 0.0.0.0` (the container's command) without
    NACHTROUTE_ENVIRONMENT ran as development with the placeholder secret from the source,
    so anyone on the network could sign an admin's token with it (tried: 200 on
    /admin/organisations). It now exits 2 naming the setting; loopback stays as it was."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NACHTROUTE_ENVIRONMENT", "NACHTROUTE_SECRET_KEY", "NACHTROUTE_API_KEY_PEPPER")
    }
    env.update(
        NACHTROUTE_DATABASE_URL=f"sqlite+pysqlite:///{tmp_path / 'db.sqlite'}",
        NACHTROUTE_DATA_DIR=str(tmp_path),
    )
    process = subprocess.Popen(
        [*NACHTROUTE, "serve", "--host", host, "--port", str(_free_port())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"serve on {host} started with the placeholder secret")
    assert process.returncode == 2
    assert b"NACHTROUTE_SECRET_KEY" in err


def test_a_nul_in_a_phones_free_text_is_refused_naming_the_field(world: World) -> None:
    """A hand-over note with a NUL was taken and shown to the partner (and a phone's label
    with one was a 422 that named no field on PostgreSQL): the event is rejected as invalid
    naming ``handover_note``, the registration is 422 naming ``label``."""
    published_night(world, visits=4)
    key = world.new_key()
    signed_in = world.token("nurse-n1", second_factor=True, key=key)
    refused = world.client.post(
        "/mobile/v1/devices",
        json={**phone_body(key), "label": "phone\x00one"},
        headers=signed_in,
    )
    assert refused.status_code == 422, refused.text
    assert "label" in refused.text
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    visit_id = next(s["visit_id"] for s in route["steps"] if s["type"] == "visit")
    now = world.clock().isoformat()
    event = {
        "type": "visit_completed",
        "event_id": str(uuid.uuid4()),
        "device_time": now,
        "visit_id": visit_id,
        "tasks_done": [],
        "materials_used": [],
        "handover_note": "slept\x00well",
    }
    response = world.client.post(EVENTS, json={"sent_at": now, "events": [event]}, headers=phone)
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert (result["outcome"], result["reason"]) == ("rejected", "invalid")
    assert "handover_note" in result["message"]


def test_an_event_stored_before_a_validation_rule_does_not_stop_the_nights_replans(
    world: World,
) -> None:
    """A could-not-get-in note with a NUL, accepted before phones' texts refused NUL, is in
    the database. Every re-plan re-reads the night's stored events under the current rules;
    the old row failed them (ValidationError), so each re-plan failed and stayed owed, and an
    acute call at 03:12 was never planned, with no reason. Stored events are read as they
    were accepted."""
    published_night(world, visits=4)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    visit_id = [s["visit_id"] for s in route["steps"] if s["type"] == "visit"][-1]
    world.clock.set(3, 5)
    phone = fresh(world, phone)
    now = world.clock().isoformat()
    event = {
        "type": "could_not_get_in",
        "event_id": str(uuid.uuid4()),
        "device_time": now,
        "visit_id": visit_id,
        "reason": "no_answer",
        "note": "back door",
    }
    response = world.client.post(EVENTS, json={"sent_at": now, "events": [event]}, headers=phone)
    assert response.status_code == 200, response.text
    settle(world)
    with world.sessions()() as session:  # the row as the earlier release accepted it
        row = session.get(PhoneEvent, event["event_id"])
        assert row is not None
        row.payload = {**row.payload, "note": "back\x00door"}
        session.commit()
    world.clock.set(3, 12)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 9)
    response = world.client.post(
        REQUESTS, json=_acute(client_id, world.clock().isoformat()), headers=world.key(org)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["live_replan"]["pending"] is False, body
    outcome = body["visits"][0]
    assert outcome["planned"] or outcome["not_planned_reason"] not in (None, "replan_pending"), body
