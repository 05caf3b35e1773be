"""Red-team findings of s17, each a test through HTTP on the simulated clock."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from api.cli import main
from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import published_night

REQUESTS = "/partner/v1/visit-requests"


JSON = {"Content-Type": "application/json"}


def _raw(body: Mapping[str, object]) -> str:
    """A JSON body as the text a partner's system sends (ASCII escapes kept: "\\ud800")."""
    return json.dumps(body)


@pytest.mark.parametrize("field", ["display_name", "address", "access_instructions"])
def test_a_lone_surrogate_in_a_clients_text_is_422_naming_the_field(
    world: World, field: str
) -> None:
    """JSON "\\ud800" decodes to text no database encoding can store: refused naming the
    field, never a 500 from the driver's UnicodeEncodeError."""
    org = world.seeded.home_care[0]
    body: dict[str, object] = {
        "display_name": "Test client",
        "address": "Teststraat 1",
        "lat": 52.99,
        "lon": 6.56,
        field: "a \ud800 b",
    }
    response = world.client.post(
        "/partner/v1/clients", content=_raw(body), headers={**JSON, **world.key(org)}
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_lone_surrogate_in_a_sign_in_is_422_not_500(world: World, field: str) -> None:
    """The unauthenticated sign-in is where anyone can send it."""
    body = {"username": "planner", "password": "x", field: "x\udfff"}
    response = world.client.post("/auth/token", content=_raw(body), headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == f"body.{field}"


def test_an_acute_call_nobody_is_skilled_for_is_answered_with_that_reason(
    any_world: World,
) -> None:
    """The partner's answer is the plan the search makes when the quick insertion cannot
    place the call: not a stored "first answer" saying no_capacity for a call no nurse on
    shift has the skill for (the search says no_skilled_nurse a second later)."""
    world = any_world
    published_night(world, visits=10)
    world.clock.set(3, 10)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 61)
    response = world.client.post(
        REQUESTS,
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "transfer",
            "service_minutes": 20,
            "urgency": "acute",
            "required_skills": ["transfer"],
        },
        headers=world.key(org),
    )
    assert response.status_code == 201, response.text
    outcome = response.json()["visits"][0]
    assert outcome["planned"] is False
    assert outcome["not_planned_reason"] == "no_skilled_nurse", outcome


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--network", "none", "--database-url", "nonsense"],
        ["simulate", "--network", "none", "--database-url", "sqlite:///{not_a_database}"],
        ["simulate", "--network", "none", "--database-url", "sqlite:///{used}"],
        ["simulate", "--network", "none", "--chart", "{missing}/x.png"],
        ["report", "--month", "2026-11", "--database-url", "nonsense"],
    ],
)
def test_a_database_or_chart_nobody_can_open_is_one_message_and_exit_2(
    argv: list[str],
    seeded_sqlite_url: tuple[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found before a night is played (a chart path was found unwritable only after the
    whole run, a used database when seeding it), never a driver's traceback with exit 1."""
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not a database\n" * 100, encoding="utf-8")
    used = seeded_sqlite_url[0].split(":///", 1)[1]
    paths = {"not_a_database": not_a_database, "used": used, "missing": tmp_path / "no" / "dir"}
    assert main([arg.format(**paths) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nachtroute: error: --"), err
    assert "Traceback" not in err


def test_an_unplanned_call_after_care_of_another_night_is_refused_naming_the_link(
    world: World,
) -> None:
    """Tonight's check "60-90 min after" an injection given tomorrow night can never keep
    its link: 422 naming after.request_id (as for planned care), not taken and planned alone."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 62)
    tomorrow = (NIGHT + timedelta(days=1)).isoformat()
    injection = world.client.post(
        REQUESTS, json=planned_body(client_id, night=tomorrow), headers=world.key(org)
    )
    assert injection.status_code == 201, injection.text
    world.clock.set(23, 30)
    check = world.client.post(
        REQUESTS,
        json={
            "kind": "unplanned",
            "urgency": "soon",
            "client_id": client_id,
            "care_task": "check",
            "service_minutes": 10,
            "after": {"request_id": injection.json()["id"], "min_minutes": 60, "max_minutes": 90},
        },
        headers=world.key(org),
    )
    assert check.status_code == 422, check.text
    assert check.json()["errors"][0]["field"] == "body.after.request_id"
    listed = world.client.get(REQUESTS, headers=world.key(org)).json()
    assert [r["id"] for r in listed] == [injection.json()["id"]]


def test_a_window_on_the_spring_forward_night_is_in_real_seconds_for_every_visit(
    world: World,
) -> None:
    """23:00 CET to 04:00 CEST is four hours, not five: the request that opens the night
    (whose bounds were still in local time in memory, so Python subtracted wall clocks) and
    a later one get the same, real, seconds."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 63)
    night = "2027-03-27"  # clocks go from 02:00 CET to 03:00 CEST on the 28th
    for _ in range(2):
        made = world.client.post(
            REQUESTS,
            json=planned_body(client_id, start="01:30", end="04:00", night=night),
            headers=world.key(org),
        )
        assert made.status_code == 201, made.text
    plan = world.client.get(f"/nights/{night}/plan", headers=world.token("planner")).json()
    windows = [(v["window_start"], v["window_end"]) for v in plan["visits"]]
    assert windows == [(9000, 14400), (9000, 14400)], windows


def test_the_access_log_export_names_the_phone_and_visit_and_neutralises_formulas(
    world: World,
) -> None:
    """A reveal's row holds the phone, the visit and the key id: the privacy officer's export
    shows them (it left them out). The phone id is what the caller sent (any partner's key
    gets a refused row, in its own organisation's export since R22-01), so a CSV cell that
    a spreadsheet would run as a formula is written as text."""
    partner = world.key(world.seeded.home_care[1])
    refused = world.client.post(
        "/mobile/v1/me/keysafe/reveal",
        json={"visit_id": "77"},
        headers={**partner, "X-Device-Id": '=HYPERLINK("http://x.example")'},
    )
    assert refused.status_code == 403, refused.text
    officer = world.token("privacy2", second_factor=True)  # the partner's organisation's
    rows = world.client.get("/access-log", headers=officer).json()
    row = next(r for r in rows if r["event"] == "keysafe.reveal")
    assert row["device_id"] == '=HYPERLINK("http://x.example")'
    assert row["visit_id"] == "77"
    assert "key_id" in row
    exported = world.client.get("/access-log", params={"format": "csv"}, headers=officer)
    table = list(csv.DictReader(io.StringIO(exported.text)))
    cells = next(r for r in table if r["event"] == "keysafe.reveal")
    assert cells["device_id"] == '\'=HYPERLINK("http://x.example")'
    assert not any(v.startswith(("=", "+", "-", "@")) for r in table for v in r.values())


def test_extending_a_recurring_request_gives_care_on_nights_already_open(world: World) -> None:
    """Every night until the new end has the care: nights opened before the extension got
    no visit (only nights opened later were expanded), so care the partner was told recurs
    was silently missing there."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 64)
    other = new_client(world, org, 65)
    first = NIGHT + timedelta(days=1)
    # Another request opens the nights up to a week ahead.
    week = planned_body(
        other,
        night=first.isoformat(),
        recurrence={"weekdays": None, "until": (first + timedelta(days=6)).isoformat()},
    )
    assert world.client.post(REQUESTS, json=week, headers=world.key(org)).status_code == 201
    body = planned_body(
        client_id,
        night=first.isoformat(),
        recurrence={"weekdays": None, "until": (first + timedelta(days=2)).isoformat()},
    )
    made = world.client.post(REQUESTS, json=body, headers=world.key(org))
    assert made.status_code == 201, made.text
    until = (first + timedelta(days=5)).isoformat()
    extended = world.client.patch(
        f"{REQUESTS}/{made.json()['id']}", json={"recurrence_until": until}, headers=world.key(org)
    )
    assert extended.status_code == 200, extended.text
    nights = [(v["night"], v["status"]) for v in extended.json()["visits"]]
    assert nights == [((first + timedelta(days=d)).isoformat(), "open") for d in range(6)]


def test_re_extending_over_nights_a_shortening_cancelled_is_refused_naming_the_field(
    world: World,
) -> None:
    """A cancelled visit does not re-open: rather than say "every night until" with nights
    that have no care, the extension over them is refused, naming recurrence_until."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 66)
    first = NIGHT + timedelta(days=1)
    body = planned_body(
        client_id,
        night=first.isoformat(),
        recurrence={"weekdays": None, "until": (first + timedelta(days=4)).isoformat()},
    )
    made = world.client.post(REQUESTS, json=body, headers=world.key(org)).json()
    url, key = f"{REQUESTS}/{made['id']}", world.key(org)
    short = world.client.patch(url, json={"recurrence_until": first.isoformat()}, headers=key)
    assert short.status_code == 200, short.text
    again = (first + timedelta(days=4)).isoformat()
    refused = world.client.patch(url, json={"recurrence_until": again}, headers=key)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "body.recurrence_until"
    read = world.client.get(url, headers=key).json()
    assert read["recurrence"]["until"] == first.isoformat()


def test_a_new_recurring_request_reaches_a_night_already_open_beyond_the_horizon(
    world: World,
) -> None:
    """Nights are expanded when they open: one opened earlier, beyond the days a new
    recurring request is expanded ahead, gets its visit too (it never got it before)."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 67)
    far = NIGHT + timedelta(days=world.settings.recurrence_days_ahead + 10)
    opened = world.client.post(
        REQUESTS,
        json=planned_body(new_client(world, org, 68), night=far.isoformat()),
        headers=world.key(org),
    )
    assert opened.status_code == 201, opened.text
    body = planned_body(
        client_id,
        night=(NIGHT + timedelta(days=1)).isoformat(),
        recurrence={"weekdays": None, "until": (far + timedelta(days=5)).isoformat()},
    )
    made = world.client.post(REQUESTS, json=body, headers=world.key(org))
    assert made.status_code == 201, made.text
    assert far.isoformat() in {v["night"] for v in made.json()["visits"]}


def test_serve_on_a_database_url_nobody_can_open_is_one_message_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same kind as simulate's --database-url: the setting named, no startup traceback."""
    monkeypatch.setenv("NACHTROUTE_DATABASE_URL", "nonsense")
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nachtroute: error: NACHTROUTE_DATABASE_URL"), err
    assert "Traceback" not in err
