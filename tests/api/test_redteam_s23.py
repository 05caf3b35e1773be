"""Session 23's red team on issue 11 (simulated nights, reports, the partners' report API).

Each test names its finding (R23-xx); each failed on the code before its fix."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session as OrmSession

from api.cli import main
from api.core.clock import step_clock_file
from api.core.config import Settings
from api.db.engine import make_engine, make_session_factory
from api.db.models import Client, Night, Nurse, Organisation, Region, Shift, Visit, VisitRequest
from api.repositories.nights import night_bounds
from api.seed import CENTRE
from api.services.reports import _split, month_report
from api.simulation.generate import make_world
from api.simulation.params import SimParams
from api.simulation.play import Job, ServiceNight, Session, night_start
from api.simulation.play import Region as SimRegion
from api.simulation.runner import FIRST_NIGHT
from api.simulation.service import bin_path, free_port, wait_healthy
from tests.api.conftest import AMSTERDAM, NIGHT, World, new_client
from tests.api.test_redteam_s18_service import _planned_night, _report

# --- nachtroute simulate: bad options are one message and exit 2, found before the run ------


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        # httpx.InvalidURL is not an httpx.HTTPError: it was a traceback (exit 1).
        (
            ["--url", "http://[::1", "--database-url", "sqlite:///x.db", "--clock-file", "c"],
            "--url",
        ),
        # A first night the service cannot hold: OverflowError / HTTP 422 tracebacks.
        (["--first-night", "9999-12-31"], "--first-night"),
        (["--first-night", "0001-01-01"], "--first-night"),
        (["--first-night", "2199-12-31", "--nights", "3"], "--first-night"),
    ],
)
def test_r23_01_a_nonsense_url_or_first_night_is_exit_2_naming_it(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--network", "none", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nachtroute: error: {names}"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--records", "--chart"])
def test_r23_02_records_or_chart_at_a_folder_is_refused_before_the_night_is_played(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--records DIR`` played the whole run (a night ~35 s, 30 nights ~20 min) and then
    died on IsADirectoryError, the figures lost; ``--chart DIR`` wrote ``DIR.png`` and said
    it wrote ``DIR``. Both are known before anything starts."""
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["simulate", "--network", "none", "--quiet", option, str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nachtroute: error: {option}"), err
    assert not list(tmp_path.glob("out.*"))


def _sim_folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("nachtroute-sim-*"))


@pytest.mark.slow
def test_r23_03_sigterm_mid_run_stops_the_service_it_started_and_leaves_no_temp_files(
    tmp_path: Path,
) -> None:
    """``kill <pid of nachtroute simulate>`` (a CI job's timeout, systemd, ``timeout``) ended
    Python at once: no ``finally`` ran, so the ``nachtroute serve`` it started lived on
    (re-parented to init, holding its port) and its temporary folder (the SQLite database,
    the server log) stayed in the temp dir. It must stop what it started, as on Ctrl-C."""
    # A data folder not made yet, as on a fresh machine where no demo ran: the simulator
    # died starting its service there (FileNotFoundError, session 28's first run).
    data_dir = tmp_path / "home" / "nachtroute"
    env = {**os.environ, "TMPDIR": str(tmp_path), "NACHTROUTE_DATA_DIR": str(data_dir)}
    env.pop("NACHTROUTE_DATABASE_URL", None)
    err = (tmp_path / "simulate.err").open("wb")
    command = ["simulate", "--nights", "1", "--network", "none", "--quiet"]
    sim = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    server_pid = None
    try:
        # Bounds a hang only: wait until the service it started has answered.
        limit = time.monotonic() + 300
        while server_pid is None and time.monotonic() < limit and sim.poll() is None:
            time.sleep(0.5)
            for folder in _sim_folders(tmp_path):
                log = folder / "server.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                if "Application startup complete" in text and "GET /health" in text:
                    server_pid = int(text.split("Started server process [", 1)[1].split("]")[0])
        assert server_pid is not None, "the simulator never started its service"
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=120)
        gone = time.monotonic() + 60
        while time.monotonic() < gone and _alive(server_pid):
            time.sleep(0.5)
        assert not _alive(server_pid), "nachtroute serve outlived the simulator"
        assert _sim_folders(tmp_path) == []
        assert sim.returncode == 128 + signal.SIGTERM
        assert "terminated" in (tmp_path / "simulate.err").read_text()
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        err.close()
        if server_pid is not None and _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)  # the one this test's simulator started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of an exited child of ours would still answer; ours are not zombies of init.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" not in status.read_text()


# --- cost shares -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 10**9),
    weights=st.lists(
        st.one_of(st.integers(0, 10**6).map(float), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=12,
    ),
)
def test_r23_04_split_sums_to_the_total_to_the_cent_and_never_goes_negative(
    total: int, weights: list[float]
) -> None:
    cents = _split(total, weights)
    assert sum(cents) == total
    assert all(c >= 0 for c in cents)


def test_r23_05_an_organisation_joining_mid_month_pays_a_share_of_its_nights_only(
    world: World,
) -> None:
    """The rule (`api/services/reports.py`, docs): the fixed part is split **per night,
    equally over that night's members**. It was split over the month in proportion to the
    member-nights, so an organisation joining on the 24th (member for one of two nights)
    paid 288/1440 of the fixed part instead of its third of the 24th (240). With no care
    done, the variable part follows the same weights: it was billed 960.00 instead of 800.00
    (a third of the one night it was a member of)."""
    a = world.seeded.home_care[0]
    client_id = new_client(world, a)
    nurse_id = next(iter(world.seeded.nurses.values()))
    shift = world.client.put(
        f"/nurses/{nurse_id}/shifts",
        json={"night_date": "2026-11-24"},
        headers=world.token("admin"),
    )
    assert shift.status_code == 204, shift.text
    _planned_night(world, NIGHT.isoformat(), a, client_id)
    _planned_night(world, "2026-11-24", a, client_id)
    made = world.client.post(
        "/admin/organisations",
        json={
            "name": "Thuiszorg Midden (test)",
            "kind": "home_care",
            "member_since": "2026-11-24T12:00:00+01:00",
        },
        headers=world.token("admin"),
    )
    assert made.status_code == 201, made.text
    key = world.client.post(
        f"/admin/organisations/{made.json()['id']}/api-keys", headers=world.token("admin")
    ).json()["key"]
    world.clock.now = datetime(2026, 11, 27, 12, 0, tzinfo=AMSTERDAM)
    newcomer = world.client.get("/partner/v1/reports/2026-11", headers={"X-API-Key": key})
    assert newcomer.status_code == 200, newcomer.text
    body = newcomer.json()
    assert (body["nights"], body["organisation"]["visits_done"]) == (2, 0)
    night = world.settings.cost_per_night_eur
    assert body["organisation"]["cost_share_eur"] == round(night / 3, 2)
    shares = [
        _report(world, org)["organisation"]["cost_share_eur"]  # type: ignore[index]
        for org in world.seeded.home_care
    ]
    assert round(sum(shares) + body["organisation"]["cost_share_eur"], 2) == 2 * night


# --- the simulator's invariant check ------------------------------------------------------


class _PlanAsRead(ServiceNight):
    """The checker under test, given one plan as `GET /nights/{d}/plan` answers it (the
    real service keeps these invariants, so a breach is written down here to see that the
    check catches it; nothing of the service is replaced)."""

    answer: dict[str, Any]

    def _plan(self) -> dict[str, Any]:
        return self.answer


def _night_with(plan: dict[str, Any]) -> _PlanAsRead:
    world = make_world(SimParams(), nights=1, seed=3, first_night=FIRST_NIGHT, centre=CENTRE)
    spec = world.nights[0]
    region = SimRegion(partner_keys=[], triage_key="", nurses=["N1"], base=CENTRE)
    night = _PlanAsRead(
        Session("http://127.0.0.1:9"),  # never called: the plan is given, no probe before 01:00
        world,
        spec,
        SimParams(),
        region,
        place_client={},
        recurring_requests={},
        restart=None,
    )
    night.answer = plan
    for number, planned in ((7, spec.planned[0]), (8, spec.planned[1])):
        night.by_visit[number] = Job(
            key=planned.key,
            visit_id=number,
            request_id=number,
            organisation=1,
            deadline=600,
            spec=planned,
            status="handed_off" if number == 7 else "open",
        )
    return night


def _plan(routes: list[str], unassigned: list[str], statuses: dict[int, str]) -> dict[str, Any]:
    return {
        "replan_pending": False,
        "version": 3,
        "visits": [{"id": k, "status": v} for k, v in statuses.items()],
        "plan": {
            "routes": [{"steps": [{"type": "visit", "visit_id": ref} for ref in routes]}],
            "unassigned": [{"visit_id": ref, "reason": "no_capacity"} for ref in unassigned],
        },
    }


@pytest.mark.parametrize(
    ("plan", "says"),
    [
        # V7 was handed to the back-up (the partner's cancel: 200) and is still routed: a
        # nurse is sent to a visit the back-up partner took. The check counted open visits
        # only, so the night read 0 violations.
        (_plan(["V7", "V8"], [], {7: "cancelled", 8: "open"}), "V7 ("),
        (_plan(["V8"], ["V7"], {7: "cancelled", 8: "open"}), "cancelled but still in the plan"),
        # V9: in a route, asked for by nobody (doubled); it was seen only if it also showed
        # in the night's visits at the end.
        (_plan(["V8", "V9"], [], {7: "cancelled", 8: "open"}), "V9 in the plan, asked for by"),
    ],
)
def test_r23_06_the_invariant_check_sees_a_cancelled_or_unknown_visit_left_in_the_plan(
    plan: dict[str, Any], says: str
) -> None:
    night = _night_with(plan)
    night._check(30.0)
    assert any(says in v for v in night.record.violations), night.record.violations
    night.http.close()


def test_r23_06_a_plan_without_them_is_clean() -> None:
    night = _night_with(_plan(["V8"], [], {7: "cancelled", 8: "open"}))
    night._check(30.0)
    assert night.record.violations == []
    night.http.close()


def test_r23_06_after_the_night_the_last_plan_may_still_list_what_was_handed_off() -> None:
    """No re-plan is made once the night is over: care whose tolerance ran to the night's
    end is handed to the back-up then and stays listed unassigned in the last plan (seen
    as a false violation on 10 simulated nights with 2 nurses). Nobody follows that plan."""
    night = _night_with(_plan(["V8"], ["V7"], {7: "cancelled", 8: "open"}))
    night._check(night.spec.minutes + 1000)
    assert night.record.violations == []
    night._check(night.spec.minutes - 1)
    assert any("cancelled but still in the plan" in v for v in night.record.violations)
    night.http.close()


# --- the partners' month report -----------------------------------------------------------


def _acute_call(world: World, organisation: Any, client_id: int) -> Any:
    """A partner's acute call for ``client_id`` (a fall, 20 minutes of care)."""
    return world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "fall",
            "service_minutes": 20,
            "urgency": "acute",
        },
        headers=world.key(organisation),
    )


def _night_with_an_acute_call(world: World) -> tuple[Any, int, Any]:
    """A home-care organisation's client with planned care tonight and, at 23:00, an
    acute call for her, accepted: (organisation, client id, the call's answer)."""
    a = world.seeded.home_care[0]
    client_id = new_client(world, a)
    _planned_night(world, NIGHT.isoformat(), a, client_id)
    world.clock.set(0, 0)
    call = _acute_call(world, a, client_id)
    assert call.status_code == 201, call.text
    return a, client_id, call


def test_r23_07_a_call_handed_to_the_back_up_shows_in_the_partners_month(world: World) -> None:
    a, client_id, call = _night_with_an_acute_call(world)
    not_needed = _acute_call(world, a, client_id)
    assert not_needed.status_code == 201, not_needed.text
    world.clock.set(0, 45)  # 15 minutes past the acute target: the back-up is sent
    cancelled = world.client.post(
        f"/partner/v1/visit-requests/{call.json()['id']}/cancel",
        json={"reason": "handed_to_backup"},
        headers=world.key(a),
    )
    assert cancelled.status_code == 200, cancelled.text
    # The same call again, no longer needed (the client called back): not the team's miss.
    withdrawn = world.client.post(
        f"/partner/v1/visit-requests/{not_needed.json()['id']}/cancel", headers=world.key(a)
    )
    assert withdrawn.status_code == 200, withdrawn.text
    world.clock.now = datetime(2026, 11, 27, 12, 0, tzinfo=AMSTERDAM)
    month = _report(world, a)
    assert month["nights"] == 1
    figures = month["organisation"]
    assert figures["calls"] == 1  # type: ignore[index]
    assert figures["calls_handed_off"] == 1  # type: ignore[index]
    assert figures["calls_within_target"] == 0  # type: ignore[index]
    lines = [v for v in month["visits"] if v["urgency"] == "acute"]  # type: ignore[union-attr]
    assert [v["status"] for v in lines] == ["handed_to_backup"]  # type: ignore[index]


def test_r23_07_a_cancel_reason_that_is_not_known_is_a_422_naming_it(world: World) -> None:
    a, _client, call = _night_with_an_acute_call(world)
    answer = world.client.post(
        f"/partner/v1/visit-requests/{call.json()['id']}/cancel",
        json={"reason": "bored"},
        headers=world.key(a),
    )
    assert answer.status_code == 422, answer.text
    assert "body.reason" in answer.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        # Each of these was taken: a negative or NaN rate played a night without calls, a
        # rate of 1e7 an hour hung the generator (memory), a care minute of 0 or -20 was
        # refused by the service mid-night, a reversed delay range was a ValueError
        # traceback, and a tolerance out of the service's 0-240 made the served process exit
        # with 2 and the simulator exit 1 without naming the field.
        ('{"calls_by_hour": [-5, 1, 1, 1, 1, 1, 1, 1]}', "calls_by_hour[0]"),
        ('{"calls_by_hour": [1e7, 1, 1, 1, 1, 1, 1, 1]}', "calls_by_hour[0]"),
        ('{"calls_by_hour": [NaN, 1, 1, 1, 1, 1, 1, 1]}', "calls_by_hour[0]"),
        ('{"call_service_minutes": [0]}', "call_service_minutes[0]"),
        ('{"delay_minutes": [-30, 5]}', "delay_minutes[0]"),
        ('{"delay_minutes": [30, 5]}', "delay_minutes"),
        ('{"tolerance_minutes": {"medication": -15}}', "tolerance_minutes.medication"),
        ('{"tolerance_minutes": {"medication": 100000}}', "tolerance_minutes.medication"),
    ],
)
def test_r23_08_a_params_field_out_of_range_is_exit_2_naming_it_before_the_run(
    params: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "params.json"
    file.write_text(params, encoding="utf-8")
    code = main(["simulate", "--network", "none", "--quiet", "--params", str(file)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert field in err


# --- the month's cost shares, over the database (Hypothesis) -------------------------------

_Org = tuple[int | None, list[tuple[int, str, int]]]  # joined before night k; (night, status, min)


@pytest.fixture
def report_session(sqlite_template: Path, tmp_path: Path) -> Iterator[OrmSession]:
    """A migrated SQLite copy; each example writes in a transaction it rolls back."""
    path = tmp_path / "report.sqlite"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite+pysqlite:///{path}")
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    nights=st.lists(st.booleans(), min_size=1, max_size=5),  # per night: a nurse on shift
    orgs=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 5)),
            st.lists(
                st.tuples(
                    st.integers(0, 4),
                    st.sampled_from(["done", "done", "cancelled", "open", "could_not_get_in"]),
                    st.integers(1, 240),
                ),
                max_size=6,
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    per_night=st.floats(0, 1_000_000, allow_nan=False),
    fixed_share=st.floats(0, 1),
    basis=st.sampled_from(["visits", "care_minutes"]),
    nothing_done=st.booleans(),
)
def test_r23_09_shares_sum_to_the_total_reconcile_and_follow_each_nights_members(
    report_session: OrmSession,
    nights: list[bool],
    orgs: list[_Org],
    per_night: float,
    fixed_share: float,
    basis: str,
    nothing_done: bool,
) -> None:
    """Every case: the shares sum to the total to the cent, done visits and care minutes
    reconcile with the database, an organisation pays nothing of a night before it joined,
    and with no care done each worked night's cost is split equally over that night's
    members (to the cent per night). The old weighting by member-nights failed the last."""
    session = report_session
    if nothing_done:  # the month all split by membership: each night's own members
        orgs = [(j, [(k, "open" if st_ == "done" else st_, m) for k, st_, m in v]) for j, v in orgs]
    try:
        made = _month_in(session, nights, orgs)
        config = Settings(
            cost_per_night_eur=per_night, cost_fixed_share=fixed_share, cost_variable_basis=basis
        )
        after = datetime(2026, 12, 1, 12, 0, tzinfo=AMSTERDAM)
        report = month_report(session, config, "2026-11", now=after)
        worked = [night for night, shift in zip(made["nights"], nights, strict=True) if shift]
        cents = round(per_night * 100)
        assert round(report.total_cost_eur * 100) == cents * len(worked)
        shares = {o.organisation_id: round(o.cost_share_eur * 100) for o in report.organisations}
        assert sum(shares.values()) == cents * len(worked)
        for org, (joined, visits) in zip(made["orgs"], orgs, strict=True):
            figures = next(o for o in report.organisations if o.organisation_id == org)
            done = [m for _, status, m in visits if status == "done"]  # every ended night
            assert figures.visits_done == len(done)
            assert figures.care_minutes_done == pytest.approx(sum(done), abs=0.05)
        members = [
            [joined is None or joined <= k for joined, _ in orgs]
            for k, shift in enumerate(nights)
            if shift
        ]
        if not all(any(m) for m in members):
            return  # a night nobody was a member of: split over all, by the fallback
        any_done = any(o.visits_done for o in report.organisations)
        for i, org in enumerate(made["orgs"]):
            if not any(m[i] for m in members) and not report.organisations[i].visits_done:
                assert shares[org] == 0  # never a member, no care: nothing to pay
            if not any_done:
                expected = sum(cents / sum(m) for m in members if m[i])
                assert abs(shares[org] - expected) <= 2  # two splits, a cent each
    finally:
        session.rollback()


def _month_in(session: OrmSession, nights: list[bool], orgs: list[_Org]) -> dict[str, list[int]]:
    """Region, organisations (member from night k, or always), nights of November with a
    plan (and a nurse on shift where asked), their visits: ids of what was made."""
    region = Region(name="Regio Test", base_lat=52.99, base_lon=6.56)
    session.add(region)
    session.flush()
    nurse = Nurse(region_id=region.id, code="T1", display_name="Nurse T1")
    session.add(nurse)
    session.flush()
    made_nights = []
    for k, shift in enumerate(nights):
        night_date = date(2026, 11, 2) + timedelta(days=k)
        starts, ends = night_bounds(region, night_date)
        night = Night(region_id=region.id, night_date=night_date, starts_at=starts, ends_at=ends)
        night.plan_version = 1
        session.add(night)
        if shift:
            session.add(Shift(nurse_id=nurse.id, night_date=night_date, start="23:00", end="07:00"))
        made_nights.append(night)
    session.flush()
    made_orgs = []
    for index, (joined, visits) in enumerate(orgs):
        since = None
        if joined is not None:
            since = made_nights[min(joined, len(nights) - 1)].starts_at
            if joined >= len(nights):
                since = made_nights[-1].starts_at + timedelta(hours=1)  # after the last
        org = Organisation(
            region_id=region.id, name=f"Org {index} (test)", kind="home_care", member_since=since
        )
        session.add(org)
        session.flush()
        client = Client(organisation_id=org.id, display_name="C", address="-", lat=52.99, lon=6.56)
        session.add(client)
        session.flush()
        for k, status, minutes in visits:
            request = VisitRequest(
                organisation_id=org.id,
                client_id=client.id,
                kind="planned",
                urgency="planned",
                care_task="turn",
                first_night=date(2026, 11, 2),
                service_minutes=minutes,
            )
            session.add(request)
            session.flush()
            session.add(
                Visit(
                    night_id=made_nights[k % len(nights)].id,
                    request_id=request.id,
                    organisation_id=org.id,
                    client_id=client.id,
                    urgency="planned",
                    service_seconds=minutes * 60,
                    status=status,
                )
            )
        made_orgs.append(org.id)
    session.flush()
    return {"nights": [n.id for n in made_nights], "orgs": made_orgs}


@pytest.mark.slow
def test_r23_10_url_with_another_database_than_the_services_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--url`` of a service on database A with ``--database-url`` B (both fresh, as the
    docs ask): the simulator seeded B, then every call was a 401 and the run ended in an
    ``httpx.HTTPStatusError`` traceback (exit 1). Now one message naming the option."""
    clock = tmp_path / "clock.txt"
    step_clock_file(clock, night_start(FIRST_NIGHT) - timedelta(hours=2))
    port = free_port()
    env = {
        **os.environ,
        "NACHTROUTE_DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'served.sqlite'}",
        "NACHTROUTE_DATA_DIR": str(tmp_path),
        "NACHTROUTE_ENVIRONMENT": "development",
        "NACHTROUTE_CLOCK_FILE": str(clock),
    }
    for name in ("NACHTROUTE_CLOCK", "NACHTROUTE_CLOCK_SPEED", "NACHTROUTE_NETWORK"):
        env.pop(name, None)
    with (tmp_path / "server.log").open("ab") as log:
        server = subprocess.Popen(
            [bin_path("nachtroute"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, seconds=120)
        other = f"sqlite+pysqlite:///{tmp_path / 'other.sqlite'}"
        argv = ["simulate", "--network", "none", "--quiet", "--url", url]
        code = main([*argv, "--database-url", other, "--clock-file", str(clock)])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("nachtroute: error: --database-url: not the database of"), err
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_r23_11_a_relative_sqlite_file_is_the_one_in_the_callers_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`simulate --database-url sqlite:///sim.sqlite` (docs/simulation.md) seeded sim.sqlite
    here while the service it started, in its temporary folder, opened an empty file of that
    name there and exited with 3: the run died and the report read 0 nights."""
    from api.cli._errors import absolute_sqlite_url

    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite_url("sqlite:///sim.sqlite") == f"sqlite:///{tmp_path / 'sim.sqlite'}"
    assert absolute_sqlite_url("sqlite+pysqlite:///a/b.db") == (
        f"sqlite+pysqlite:///{tmp_path / 'a' / 'b.db'}"
    )
    absolute = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert absolute_sqlite_url(absolute) == absolute
    for unchanged in ("sqlite://", "sqlite:///:memory:", "postgresql://postgres@127.0.0.1/t"):
        assert absolute_sqlite_url(unchanged) == unchanged
