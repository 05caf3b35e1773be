"""Red-team findings of s18 on the service (NEN 7513 access log, month report, reasons),
through HTTP on the test clock; each failed until its fix (ids as in the red team's report)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.db.models import AccessLogEntry, Night
from tests.api.conftest import AMSTERDAM, NIGHT, World, new_client, planned_body
from tests.api.invariants import settle
from tests.api.phone_helpers import published_night
from tests.api.test_planner import PLAN

REQUESTS = "/partner/v1/visit-requests"


def _rows(world: World, after: int = 0) -> list[AccessLogEntry]:
    with world.sessions()() as session:
        return list(
            session.scalars(
                select(AccessLogEntry).where(AccessLogEntry.id > after).order_by(AccessLogEntry.id)
            )
        )


def _last_id(world: World) -> int:
    rows = _rows(world)
    return rows[-1].id if rows else 0


def _request(world: World, org: int, client_id: int, **extra: object) -> int:
    made = world.client.post(
        REQUESTS, json=planned_body(client_id, **extra), headers=world.key(org)
    )
    assert made.status_code == 201, made.text
    request_id: int = made.json()["id"]
    return request_id


def test_r10_another_organisations_client_refused_attempts_are_logged(any_world: World) -> None:
    """Organisation B reads, amends, sets the key-safe code of, and asks care for
    organisation A's client: each is 404 as for no client at all (nothing of A's leaks),
    and each is a refused row for A's privacy officer naming who, when and which client.
    They wrote no row at all."""
    world = any_world
    a, b = world.seeded.home_care
    client_id = new_client(world, a)
    before = _last_id(world)
    other = world.key(b)
    attempts = [
        world.client.get(f"/partner/v1/clients/{client_id}", headers=other),
        world.client.patch(
            f"/partner/v1/clients/{client_id}", json={"key_safe_present": False}, headers=other
        ),
        world.client.put(
            f"/partner/v1/clients/{client_id}/keysafe", json={"code": "4321"}, headers=other
        ),
        world.client.post(REQUESTS, json=planned_body(client_id), headers=other),
    ]
    unknown = world.client.get("/partner/v1/clients/999999", headers=other)
    assert [r.status_code for r in attempts] == [404] * 4
    for refused in attempts:
        assert refused.json()["detail"] == unknown.json()["detail"]
        assert "Teststraat" not in refused.text and "Test client" not in refused.text
    rows = _rows(world, before)
    assert [r.event for r in rows] == [
        "read.refused",
        "update.refused",
        "update.refused",
        "create.refused",
        "read.refused",
    ]
    theirs, nobodys = rows[:4], rows[4]
    for row in theirs:
        assert (row.client_id, row.client_organisation_id) == (client_id, a)
        assert row.acting_organisation_id == b and row.role == "partner"
        assert row.api_key_id is not None and " refused " in f" {row.purpose} "
    # An id that names no client is B's own doing: in B's officer's export, not A's (R02).
    assert (nobodys.client_id, nobodys.client_organisation_id) == (None, b)
    officer_a = world.token("privacy1", second_factor=True)
    exported = world.client.get("/access-log", headers=officer_a).json()
    assert sum(r["event"].endswith(".refused") for r in exported) == 4
    officer_b = world.token("privacy2", second_factor=True)
    exported_b = world.client.get("/access-log", headers=officer_b).json()
    assert client_id not in {r["client_id"] for r in exported_b}


def test_r10_another_organisations_visit_request_refused_attempts_are_logged(
    world: World,
) -> None:
    """B reads, amends, cancels (whole and one night) and links to A's visit request: each
    404 (422 for the link, as for no request), each a refused row naming A's client."""
    a, b = world.seeded.home_care
    client_id = new_client(world, a)
    request_id = _request(world, a, client_id)
    own_client = new_client(world, b, 2)
    before = _last_id(world)
    other = world.key(b)
    url = f"{REQUESTS}/{request_id}"
    statuses = [
        world.client.get(url, headers=other).status_code,
        world.client.patch(url, json={"service_minutes": 20}, headers=other).status_code,
        world.client.post(f"{url}/cancel", headers=other).status_code,
        world.client.post(f"{url}/cancel", json={"night": "2026-11-23"}, headers=other).status_code,
        world.client.post(
            REQUESTS,
            json=planned_body(
                own_client, after={"request_id": request_id, "min_minutes": 0, "max_minutes": 60}
            ),
            headers=other,
        ).status_code,
    ]
    assert statuses == [404, 404, 404, 404, 422]
    rows = _rows(world, before)
    assert [r.event for r in rows] == [
        "read.refused",
        "update.refused",
        "update.refused",
        "update.refused",
        "create.refused",
    ]
    assert all((r.client_id, r.client_organisation_id) == (client_id, a) for r in rows)
    assert all(r.acting_organisation_id == b for r in rows)
    mine = world.client.get(url, headers=world.key(a))
    assert mine.status_code == 200 and mine.json()["status"] == "active"


def test_r11_reading_visit_requests_is_logged_once_per_client_seen(any_world: World) -> None:
    """A visit request names the client and the care (health data): reading one is a row
    for its client, reading the list one row per client on the page (three requests of two
    clients: two rows), as the monthly report does. They wrote no row."""
    world = any_world
    org = world.seeded.home_care[0]
    first, second = new_client(world, org, 1), new_client(world, org, 2)
    one = _request(world, org, first)
    _request(world, org, first, start="01:00", end="02:00")
    _request(world, org, second)
    before = _last_id(world)
    key = world.key(org)
    assert world.client.get(f"{REQUESTS}/{one}", headers=key).status_code == 200
    rows = _rows(world, before)
    assert [(r.event, r.client_id) for r in rows] == [("read", first)]
    assert rows[0].purpose == "read visit request" and rows[0].acting_organisation_id == org
    before = rows[-1].id
    listed = world.client.get(REQUESTS, headers=key)
    assert listed.status_code == 200 and len(listed.json()) == 3
    rows = _rows(world, before)
    assert sorted((r.event, r.client_id) for r in rows) == [("read", first), ("read", second)]
    assert {r.purpose for r in rows} == {"list visit requests"}
    before = rows[-1].id
    empty = world.client.get(REQUESTS, params={"offset": 3}, headers=key)
    assert empty.json() == [] and _rows(world, before) == []


REPORT = "/partner/v1/reports/2026-11"


def _planned_night(world: World, night: str, org: int, client_id: int) -> None:
    """Planned care on ``night`` for ``org``'s client, and the night's plan (version 1)."""
    made = world.client.post(
        REQUESTS, json=planned_body(client_id, night=night), headers=world.key(org)
    )
    assert made.status_code == 201, made.text
    headers = {**world.token("planner"), "If-Match": '"0"'}
    job = world.client.post(
        f"/nights/{night}/plan/reoptimise", json={"time_limit_seconds": 0.5}, headers=headers
    )
    assert job.status_code == 202, job.text
    world.client.app.state.job_runner.wait(job.json()["id"], timeout=60)  # type: ignore[attr-defined]
    plan = world.client.get(f"/nights/{night}/plan", headers=world.token("planner")).json()
    assert plan["version"] == 1, plan


def _report(world: World, org: int) -> dict[str, object]:
    answer = world.client.get(REPORT, headers=world.key(org))
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_r12_a_night_still_running_is_left_out_of_the_month_and_marked(world: World) -> None:
    """At 02:00 the night's cost was split on the care done so far (an organisation whose
    care comes after 02:00 paid only the fixed part); the figures changed as the night went
    on. The running night is left out, marked not ended, and counts once it has ended."""
    a = world.seeded.home_care[0]
    _planned_night(world, NIGHT.isoformat(), a, new_client(world, a))
    world.clock.set(2, 0)
    running = _report(world, a)
    assert (running["nights"], running["total_cost_eur"]) == (0, 0.0)
    assert running["nights_not_ended"] == [NIGHT.isoformat()]
    assert running["visits"] == []
    world.clock.set(7, 30)
    ended = _report(world, a)
    assert ended["nights_not_ended"] == []
    assert (ended["nights"], ended["total_cost_eur"]) == (1, world.settings.cost_per_night_eur)


def test_r16_a_planned_night_with_nobody_on_shift_costs_nothing(world: World) -> None:
    """The night of 24 Nov has a plan (its care all unassigned: no nurse on shift) but no
    shift at all: it was billed as a full night. Only the night with shifts costs."""
    a = world.seeded.home_care[0]
    client_id = new_client(world, a)
    _planned_night(world, NIGHT.isoformat(), a, client_id)
    _planned_night(world, "2026-11-24", a, client_id)
    world.clock.now = datetime(2026, 11, 25, 12, 0, tzinfo=AMSTERDAM)
    report = _report(world, a)
    assert (report["nights"], report["total_cost_eur"]) == (1, world.settings.cost_per_night_eur)
    assert report["nights_not_ended"] == []


def test_r06_a_pinned_visit_its_nurse_cannot_keep_says_the_pin_keeps_it_out(
    world: World,
) -> None:
    """A visit pinned to N1 with its window after 01:00; N1 is sent home at 00:30. The
    re-plan left it out saying "no nurse can be there inside its agreed window" (N2 and N3
    could: only the pin keeps it from them), so the planner looked for a back-up instead of
    unpinning. The reason is the pin, naming N1, and says what to do."""
    published_night(world, visits=12)
    planner = world.token("planner")
    plan = world.client.get(PLAN, headers=planner).json()
    late = next(v for v in plan["visits"] if (v["window_start"] or 0) >= 2 * 3600)
    pinned = world.client.post(
        f"{PLAN}/moves",
        json={"visit_id": late["id"], "nurse": "N1", "pin": True},
        headers={**planner, "If-Match": f'"{plan["version"]}"'},
    )
    assert pinned.status_code == 200, pinned.text
    world.clock.set(0, 30)
    planner = world.token("planner")  # tokens last minutes
    home = world.client.put(
        f"/nurses/{world.seeded.nurses['N1']}/shifts",
        json={"night_date": NIGHT.isoformat(), "start": "23:00", "end": "00:30"},
        headers=planner,
    )
    assert home.status_code == 204, home.text
    settle(world)
    after = world.client.get(PLAN, headers=planner).json()["plan"]
    left = {u["visit_id"]: u for u in after["unassigned"]}
    reason = left[f"V{late['id']}"]
    assert reason["reason"] == "pin_infeasible", reason
    assert reason["message"].startswith("pinned to N1, who "), reason
    assert "unpin" in reason["message"] and "no nurse" not in reason["message"]


def test_r11_changing_visit_requests_is_logged_for_their_client(world: World) -> None:
    """Submitting, amending and cancelling a request change a client's care data (and answer
    with it): each is a row for its client, as a client's own change is. They wrote none."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    key = world.key(org)
    before = _last_id(world)
    request_id = _request(world, org, client_id)
    url = f"{REQUESTS}/{request_id}"
    amended = world.client.patch(url, json={"service_minutes": 20}, headers=key)
    assert amended.status_code == 200, amended.text
    cancelled = world.client.post(f"{url}/cancel", headers=key)
    assert cancelled.status_code == 200, cancelled.text
    rows = _rows(world, before)
    assert [(r.event, r.purpose, r.client_id) for r in rows] == [
        ("create", "submit visit request", client_id),
        ("update", "amend visit request", client_id),
        ("update", "cancel visit request", client_id),
    ]
    assert all(r.acting_organisation_id == org and r.role == "partner" for r in rows)


def test_r11_the_planners_night_plan_read_is_logged_once_per_client(world: World) -> None:
    """``GET /nights/{date}/plan`` lists every visit with its client's id, care needs and
    window, like the month report that is logged per client: the planner's read wrote no
    row. Now one row per client of the night's visits, for the planner."""
    published_night(world, visits=12)
    before = _last_id(world)
    planner = world.token("planner")
    plan = world.client.get(PLAN, headers=planner).json()
    shown = {v["client_id"] for v in plan["visits"]}
    rows = _rows(world, before)
    assert sorted(r.client_id for r in rows) == sorted(shown)
    assert {(r.event, r.purpose, r.role) for r in rows} == {("read", "night plan", "planner")}
    assert all(r.user_id == world.seeded.users["planner"][0] for r in rows)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minutes=st.integers(0, 4 * 24 * 60))
def test_r12_r16_the_month_bills_each_ended_night_with_a_shift_once_whenever_read(
    world: World, minutes: int
) -> None:
    """Read at any moment from the evening of 23 Nov to 27 Nov (the report only reads, so
    one database serves every example): the cost is one night per ended night that had a
    shift (23 Nov; 24 Nov has a plan but nobody on shift), the shares add up to it, and the
    planned nights not yet ended are named, never billed."""
    from api.services.reports import month_report

    a = world.seeded.home_care[0]
    with world.sessions()() as session:
        planned = sum(1 for _ in session.scalars(select(Night).where(Night.plan_version > 0)))
    if planned == 0:  # the first example makes the two nights
        client_id = new_client(world, a)
        _planned_night(world, NIGHT.isoformat(), a, client_id)
        _planned_night(world, "2026-11-24", a, client_id)
    now = datetime(2026, 11, 23, 20, 0, tzinfo=AMSTERDAM) + timedelta(minutes=minutes)
    with world.sessions()() as session:
        report = month_report(session, world.settings, "2026-11", now=now)
        ends = {n.night_date.isoformat(): n.ends_at for n in session.scalars(select(Night))}
    billed = [night for night, end in ends.items() if end <= now and night == NIGHT.isoformat()]
    assert report.nights == billed
    assert report.total_cost_eur == world.settings.cost_per_night_eur * len(billed)
    assert report.nights_not_ended == sorted(n for n, end in ends.items() if now < end)
    cents = sum(round(o.cost_share_eur * 100) for o in report.organisations)
    assert cents == round(report.total_cost_eur * 100)
