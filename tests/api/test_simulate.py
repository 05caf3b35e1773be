"""`nachtroute simulate`: nights against the real service on SQLite (no mocks), the
baselines' invariants (hypothesis), and bad options.

The busy night is the night the clocks go back (540 real minutes), so that one night played
through the service serves both the invariant checks here and the autumn night's ninth hour
(`test_the_autumn_night_plays_nine_hours_through_the_service`): each night played costs a
worker most of a minute. Plain 480-minute nights go through the service in the quiet night
below and in `test_sim_url.py`."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from api.cli import main
from api.cli.sim_commands import _write_records
from api.core.config import Settings
from api.db.engine import make_engine, make_session_factory
from api.db.models import AccessLogEntry, Client, Nurse, RouteVersion, Visit
from api.db.phone_models import PhoneEvent
from api.main import create_app
from api.services.reports import month_report
from api.simulation.generate import (
    NIGHT_MINUTES,
    Call,
    Faults,
    NightSpec,
    Planned,
    make_world,
    night_minutes,
)
from api.simulation.metrics import JSON_KEYS, summarise
from api.simulation.params import SimParams
from api.simulation.play import night_start
from api.simulation.policies import BASELINES, play_baseline
from api.simulation.records import NightRecord
from api.simulation.runner import (
    Options,
    TeamResult,
    build_world,
    simulate_team,
)
from tests.api.invariants import assert_visits_placed, pending_nights
from tests.api.test_sim_dst import AUTUMN

#: The month report's moment: every night of the played month has ended.
AFTER_THE_MONTH = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
#: A busy short night with every fault on, so each path is played; calls in the last
#: wall-clock hour (06:00-07:00, the autumn night's ninth real hour) too.
BUSY = SimParams(
    recurring_clients=8,
    one_off_planned=2,
    calls_by_hour=[3.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 3.0],
    key_safe_fails=0.3,
    nurse_delayed=1.0,
    phone_offline=1.0,
    restart=1.0,
)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[NightSpec, TeamResult]:
    """One busy night played through the real service (SQLite), kept for the checks: the
    autumn night (the clocks go back, 540 minutes)."""
    options = Options(
        nights=1,
        seed=5,
        nurses=2,
        network=None,  # and the default stepped clock (NACHTROUTE_CLOCK_FILE)
        params=BUSY,
        keep_database=tmp_path_factory.mktemp("sim"),
        first_night=AUTUMN,
    )
    world, road, centre = build_world(options)
    spec = world.nights[0]
    assert spec.calls and spec.faults.restart is not None and spec.faults.offline is not None
    return spec, simulate_team(options, world=world, network=road, centre=centre)


#: A quiet night: one nurse, planned care only, no faults, no drive noise; she is early at
#: doors (waiting for their windows) and free when the break her route shows comes.
QUIET = SimParams(
    recurring_clients=6,
    one_off_planned=1,
    calls_by_hour=[0.0] * 8,
    key_safe_fails=0.0,
    nurse_delayed=0.0,
    phone_offline=0.0,
    restart=0.0,
    travel_spread=0.0,
)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> tuple[NightSpec, TeamResult]:
    """One quiet night played through the real service (SQLite), kept for the checks."""
    options = Options(
        nights=1,
        seed=7,
        nurses=1,
        network=None,
        params=QUIET,
        keep_database=tmp_path_factory.mktemp("quiet"),
    )
    world, road, centre = build_world(options)
    spec = world.nights[0]
    assert spec.planned and not spec.calls
    return spec, simulate_team(options, world=world, network=road, centre=centre)


@pytest.mark.slow
def test_a_simulated_night_through_the_service_keeps_every_invariant(
    played: tuple[NightSpec, TeamResult],
) -> None:
    spec, result = played
    night = result.records["nachtroute"][0]
    assert night.violations == []
    # Every call ended with care begun by the team or handed to the back-up; none vanished.
    assert {c.key for c in night.calls} == {c.key for c in spec.calls}
    for call in night.calls:
        assert (call.start is not None) != call.handed_off
        if call.start is not None:
            assert call.start >= call.minute - 0.01
        # A key safe that would not open: the nurse was on site (it counts as reached), and
        # the call went to the back-up (counted apart).
        if call.reason == "no_entry":
            assert call.on_site is not None and call.response is not None
    for planned in night.planned:
        if planned.start is not None:
            assert planned.on_site == planned.start >= planned.window[0] - 0.01
    # On a stepped clock the service is idle before time moves on: no re-plan ever lags.
    assert night.replan_waits > 0
    # Key-safe codes: revealed at the door (the code set; a wrong one is a violation above),
    # and reveals the rules must refuse were tried (a code revealed is a violation above).
    assert night.keysafe_reveals > 0
    assert night.keysafe_probes > 0
    assert any(c.start is not None for c in night.calls)
    # The database agrees: nothing owed, every open visit placed, statuses as reported.
    url = result.database_url
    assert url is not None
    assert pending_nights(url) == []
    assert_visits_placed(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        statuses = [v.status for v in session.scalars(select(Visit))]
        reported = set(session.scalars(select(PhoneEvent.type)))
    engine.dispose()
    # Her phone says where she drives and when she is at the door, as the app does: the
    # service keeps a visit she drives to first and does not give it up as window_passed.
    assert {"departed", "arrived", "visit_started", "visit_completed"} <= reported
    begun = sum(1 for x in [*night.calls, *night.planned] if x.start is not None)
    assert statuses.count("done") + statuses.count("started") == begun
    # Nothing open at the end: recurring care handed to the back-up is cancelled for this
    # one night (the per-night cancel); the end check compared each visit's status.
    assert statuses.count("open") == 0
    figures = summarise([night])
    assert set(JSON_KEYS) <= set(figures)
    # --records: one line per call and planned visit of each policy, with its miss reason.
    path = Path(url.removeprefix("sqlite+pysqlite:///")).parent / "records.jsonl"
    _write_records(path, 2, result.records, BUSY.tolerance_minutes)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ours = [r for r in rows if r["policy"] == "nachtroute"]
    assert len(ours) == len(night.calls) + len(night.planned)
    assert {r["kind"] for r in ours} == {"call", "planned"}
    assert all("miss" in r for r in ours if r["kind"] == "planned")


@pytest.mark.slow
def test_the_autumn_night_plays_nine_hours_through_the_service(
    played: tuple[NightSpec, TeamResult],
) -> None:
    """One busy autumn night through the real service: calls in its ninth hour are posted
    and end visited or handed to the back-up, and every invariant holds (before, the night
    ended at minute 480 and drew no call after 460). Moved here from `test_sim_dst.py` to
    assert on the busy night played once (issue 11)."""
    spec, result = played
    assert spec.night_date == AUTUMN and spec.minutes == 540
    ninth = {c.key for c in spec.calls if c.minute > NIGHT_MINUTES}
    assert ninth
    night = result.records["nachtroute"][0]
    assert night.violations == []
    outcomes = {c.key: c for c in night.calls}
    # Each was posted and ended visited or handed off (unplayed, it would be neither; late
    # in the night with two nurses the service may well say no: their shifts end at 07:00).
    for key in ninth:
        assert (outcomes[key].start is not None) != outcomes[key].handed_off, outcomes[key]


@pytest.mark.slow
def test_the_month_report_of_the_night_reconciles_with_the_database(
    played: tuple[NightSpec, TeamResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, result = played
    url = result.database_url
    assert url is not None
    month = spec.night_date.strftime("%Y-%m")
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        visits = list(session.scalars(select(Visit)))
        report = month_report(session, Settings(database_url=url), month, now=AFTER_THE_MONTH)
    engine.dispose()
    done = [v for v in visits if v.status == "done"]
    assert sum(o.visits_done for o in report.organisations) == len(done) > 0
    assert math.isclose(
        sum(o.care_minutes_done for o in report.organisations),
        sum(v.service_seconds for v in done) / 60,
    )
    assert report.nights == [spec.night_date.isoformat()]
    assert round(sum(o.cost_share_eur for o in report.organisations), 2) == report.total_cost_eur
    assert report.total_cost_eur == Settings().cost_per_night_eur
    # The command line writes the same figures as HTML and CSV.
    out = tmp_path / "report"
    assert main(["report", "--month", month, "--database-url", url, "--out", str(out)]) == 0
    assert "total EUR" in capsys.readouterr().out
    rows = (out / "organisations.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + len(report.organisations)
    assert (out / "report.html").read_text(encoding="utf-8").count("<img") == 3
    assert main(["report", "--month", "2026-13", "--database-url", url]) == 2


@pytest.mark.slow
def test_a_partner_reads_its_own_month_only_and_the_read_is_logged(
    played: tuple[NightSpec, TeamResult],
) -> None:
    spec, result = played
    url = result.database_url
    assert url is not None
    app = create_app(Settings(database_url=url, migrate_on_start=False))
    month = spec.night_date.strftime("%Y-%m")
    engine = make_engine(url)
    with TestClient(app) as client:
        seen = {}
        for key in result.partner_keys:
            with make_session_factory(engine)() as session:
                before = session.scalar(select(func.count()).select_from(AccessLogEntry))
            answer = client.get(f"/partner/v1/reports/{month}", headers={"X-API-Key": key})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            org = body["organisation"]["organisation_id"]
            seen[org] = body["organisation"]["cost_share_eur"]
            with make_session_factory(engine)() as session:
                owners = {
                    v.organisation_id
                    for v in session.scalars(
                        select(Visit).where(Visit.id.in_([x["visit_id"] for x in body["visits"]]))
                    )
                }
                after = session.scalar(select(func.count()).select_from(AccessLogEntry))
            assert owners <= {org}
            assert after - before == len({x["client_id"] for x in body["visits"]})
        assert len(seen) == len(result.partner_keys)
        assert round(sum(seen.values()), 2) == body["total_cost_eur"]
        bad = client.get("/partner/v1/reports/0000-01", headers={"X-API-Key": key})
        assert bad.status_code == 422
    engine.dispose()


@pytest.mark.slow
def test_a_simulated_nurse_never_reaches_another_address_in_no_time(
    played: tuple[NightSpec, TeamResult],
) -> None:
    """Each drive from one client's door to another's takes time: the nurse drives the
    travel matrix's minutes from where she is. Her route's leg is 0 where a live re-plan
    took her as already on her way (the plan had her leave minutes before she did), and
    driving by it she reached the next address the moment she set off."""
    _, result = played
    url = result.database_url
    assert url is not None
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        events = list(session.scalars(select(PhoneEvent).order_by(PhoneEvent.device_time)))
        where = {
            str(v.id): (c.lat, c.lon)
            for v, c in session.execute(
                select(Visit, Client).join(Client, Visit.client_id == Client.id)
            )
        }
    engine.dispose()
    last: dict[int, str] = {}
    set_off: dict[int, PhoneEvent] = {}
    drives = 0
    for event in events:
        if event.type == "departed":
            set_off[event.nurse_id] = event
        elif event.type == "arrived":
            visit = str(event.payload["visit_id"])
            before, went = last.get(event.nurse_id), set_off.get(event.nurse_id)
            last[event.nurse_id] = visit
            if before is None or went is None or where[before] == where[visit]:
                continue
            assert str(went.payload["to_visit_id"]) == visit
            drives += 1
            assert _naive(event.device_time) > _naive(went.device_time), (
                f"V{before} -> V{visit}: there at {event.device_time:%H:%M:%S}, the moment "
                "she set off"
            )
    assert drives > 0


def _naive(moment: datetime) -> datetime:
    """UTC without its zone: SQLite gives stored times back naive."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@pytest.mark.slow
def test_a_simulated_phone_with_signal_sends_each_event_at_once(
    played: tuple[NightSpec, TeamResult],
) -> None:
    """As the app does: an event reaches the service within a minute of when it happened,
    unless her phone was offline then (its outbox goes as one batch after): a `departed`
    kept until she reached the door told the service nothing of the drive."""
    spec, result = played
    url = result.database_url
    assert url is not None and spec.faults.offline is not None
    who, went = spec.faults.offline
    offline_from = night_start(spec.night_date) + timedelta(minutes=went)
    offline_until = offline_from + timedelta(minutes=BUSY.offline_minutes)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        events = list(session.scalars(select(PhoneEvent)))
        offline_nurse = session.scalars(
            select(Nurse).where(Nurse.code == f"N{who % result.nurses + 1}")
        ).one()
    engine.dispose()
    late = [
        f"{e.type} at {e.device_time:%H:%M:%S}, received {e.received_at:%H:%M:%S}"
        for e in events
        if _naive(e.received_at) - _naive(e.device_time) > timedelta(minutes=1)
        and not (
            e.nurse_id == offline_nurse.id
            and _naive(offline_from) <= _naive(e.device_time) <= _naive(offline_until)
        )
    ]
    assert {e.type for e in events} >= {"departed", "arrived"}
    assert late == []


def _doors(url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The night's doors as the phones reported them, checked as the app plays them:
    `arrived` stamped at the minute she reached the door and stored before the code was
    revealed, no key-safe door opened without a code revealed to her phone, and where she
    waited for a window, the code asked for as the service had her arrival. The visits
    (device, visit id) where she waited at the door, and those of them with a key safe
    whose code came before care could begin."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        events = list(session.scalars(select(PhoneEvent)))
        asked = list(
            session.scalars(select(AccessLogEntry).where(AccessLogEntry.event == "keysafe.reveal"))
        )
        key_safe_visits = {
            str(v.id)
            for v, c in session.execute(
                select(Visit, Client).join(Client, Visit.client_id == Client.id)
            )
            if c.key_safe_present
        }
    engine.dispose()
    revealed = [row for row in asked if row.purpose.startswith("keysafe revealed")]

    def first(kind: str) -> dict[tuple[str, str], PhoneEvent]:
        found: dict[tuple[str, str], PhoneEvent] = {}
        for event in sorted(events, key=lambda e: _naive(e.device_time)):
            if event.type == kind:
                found.setdefault((event.device_id, str(event.payload["visit_id"])), event)
        return found

    arrivals, starts = first("arrived"), first("visit_started")
    for row in revealed:
        assert row.device_id is not None and row.visit_id is not None
        arrival = arrivals.get((row.device_id, row.visit_id))
        assert arrival is not None, f"V{row.visit_id}: code revealed with no arrival stored"
        assert _naive(arrival.received_at) <= _naive(row.at)
        assert _naive(arrival.device_time) <= _naive(row.at)
    waited, coded = [], []
    for key, started in starts.items():
        arrival = arrivals[key]
        assert _naive(arrival.device_time) <= _naive(started.device_time)
        if arrival.device_time < started.device_time:
            waited.append(key)
        if key[1] not in key_safe_visits:
            continue
        assert any(
            (r.device_id, r.visit_id) == key and _naive(r.at) <= _naive(started.received_at)
            for r in revealed
        ), f"V{key[1]}: care begun behind a key safe with no code revealed to her phone"
        if key in waited:
            # Asked for as the service had her arrival (with signal then, or once back).
            got = _naive(arrival.received_at)
            assert any(
                (r.device_id, r.visit_id) == key
                and got <= _naive(r.at) <= got + timedelta(minutes=1)
                for r in asked
            ), f"V{key[1]}: she waited at the door, her phone did not ask for the code"
            coded += [
                key
                for r in revealed
                if (r.device_id, r.visit_id) == key and _naive(r.at) < _naive(started.device_time)
            ][:1]
    return waited, coded


def _breaks(url: str, night_date: date) -> int:
    """The breaks the phones reported, checked as the app plays them: `break` start and
    end, 30 minutes or more apart, not before her route had it begin, with no care begun in
    between; a nurse who took none had it dropped from her route (the service takes a break
    its plan has begun as taken, `planning.live_problem`), so her last route has none. How
    many nurses took one."""
    start = _naive(night_start(night_date))
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        events = list(session.scalars(select(PhoneEvent)))
        routes = list(
            session.scalars(
                select(RouteVersion)
                .where(RouteVersion.published_at.is_not(None))
                .order_by(RouteVersion.version)
            )
        )
    engine.dispose()
    shown: dict[int, list[datetime]] = {}
    last: dict[int, RouteVersion] = {}
    for route in routes:
        last[route.nurse_id] = route
        for step in route.steps:
            if step["type"] == "break":
                shown.setdefault(route.nurse_id, []).append(
                    start + timedelta(seconds=step["start"])
                )
    assert shown  # an 8-hour shift has a break (`planning._break_rule`)
    took = 0
    for nurse, starts in shown.items():
        hers = sorted(
            (e for e in events if e.nurse_id == nurse), key=lambda e: _naive(e.device_time)
        )
        phases = [e.payload["phase"] for e in hers if e.type == "break"]
        if not phases:
            assert not any(s["type"] == "break" for s in last[nurse].steps), (
                f"nurse {nurse}: her route still shows the break she never took"
            )
            continue
        took += 1
        assert phases == ["start", "end"], f"nurse {nurse}: break events {phases}"
        began, ended = (_naive(e.device_time) for e in hers if e.type == "break")
        assert began >= min(starts) - timedelta(seconds=1)
        assert ended - began >= timedelta(minutes=30) - timedelta(seconds=1)
        care = [
            e
            for e in hers
            if e.type in ("visit_started", "visit_completed")
            and began < _naive(e.device_time) < ended
        ]
        assert care == [], f"nurse {nurse}: care reported during her break"
    return took


@pytest.mark.slow
def test_on_a_busy_night_the_phones_play_the_door_and_the_break_as_the_app_does(
    played: tuple[NightSpec, TeamResult],
) -> None:
    """Every fault on (a phone offline among them): each door and break the phones
    reported is as the app plays it (`_doors`, `_breaks`)."""
    spec, result = played
    assert result.database_url is not None
    _doors(result.database_url)
    _breaks(result.database_url, spec.night_date)


@pytest.mark.slow
def test_on_a_quiet_night_she_has_the_code_at_the_door_before_its_window_and_a_break(
    quiet: tuple[NightSpec, TeamResult],
) -> None:
    """Free, she reaches doors before their windows open: her phone reports `arrived` then
    and the key-safe code comes on arrival, before care can begin; and she takes the break
    her route shows. Before, `arrived` was stamped when care could begin (she never waited
    at a door, the code was asked for only then) and no nurse took a break."""
    spec, result = quiet
    url = result.database_url
    assert url is not None
    night = result.records["nachtroute"][0]
    assert night.violations == []
    waited, coded = _doors(url)
    assert waited, "no phone reported reaching a door before care could begin"
    assert coded, "no key-safe code came on arrival while she waited for the window"
    assert _breaks(url, spec.night_date) == 1


def _travel(a: int, b: int) -> float:
    return 0.0 if a == b else 3.0 + (abs(a - b) % 7) * 2.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), nurses=st.integers(1, 4), policy=st.sampled_from(BASELINES))
def test_a_baseline_reaches_or_hands_off_every_call_and_never_starts_early(
    seed: int, nurses: int, policy: str
) -> None:
    world = make_world(
        SimParams(key_safe_fails=0.2, nurse_delayed=1.0),
        nights=1,
        seed=seed,
        first_night=date(2026, 11, 2),
        centre=(52.99, 6.56),
    )
    spec = world.nights[0]
    keys = [p.key for p in spec.planned]
    routes = [keys[i::nurses] for i in range(nurses)]
    record = play_baseline(policy, spec, routes, _travel, SimParams())
    assert len(record.calls) == len(spec.calls)
    assert len(record.planned) == len(spec.planned)
    for call in record.calls:
        assert call.start is not None or call.handed_off
        if call.start is not None:
            assert call.start >= call.minute
    for planned in record.planned:
        assert planned.start is not None or planned.handed_off
        if planned.start is not None:
            assert planned.start >= planned.window[0]
    assert record.driving_minutes >= 0 and not math.isnan(record.driving_minutes)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    policy=st.sampled_from(BASELINES),
    rest_start=st.floats(180, 330),
)
def test_a_baseline_nurse_takes_her_break_once_free_after_the_evening_plan_has_it(
    seed: int, policy: str, rest_start: float
) -> None:
    """One nurse, her break (30 min) at ``rest_start`` in the evening plan: no call or visit
    begins until she has had it, once free at or after that moment. Without it the baselines
    had 30 minutes a nurse a night the service's nurses spend on their break."""
    world = make_world(
        SimParams(calls_by_hour=[3.0] * 8),
        nights=1,
        seed=seed,
        first_night=date(2026, 11, 2),
        centre=(52.99, 6.56),
    )
    spec = world.nights[0]
    routes = [[p.key for p in spec.planned]]
    rest = (rest_start, rest_start + 30)
    # No drive: she is busy from the moment she is on site (a drive would hide in the gap).
    record = play_baseline(policy, spec, routes, lambda a, b: 0.0, SimParams(), [rest])
    door = SimParams().key_safe_minutes
    lasts = {j.key: j.actual_minutes for j in [*spec.planned, *spec.calls]}
    jobs = sorted(
        (job.on_site, job.on_site + (lasts[job.key] if job.start is not None else door))
        for job in [*record.calls, *record.planned]
        if job.on_site is not None
    )
    # Her break began when she was first free at or after rest_start: after the job she
    # was on then, or at rest_start itself.
    began = next((end for begin, end in jobs if begin < rest_start < end), rest_start)
    for begin, _end in jobs:
        assert not began - 1e-6 < begin < began + 30 - 1e-6, (begin, began)


def test_the_baselines_took_no_break_before() -> None:
    """The same night with and without the evening plan's break differs: the break is
    played (a control for the property above, which an ignored break passes only when no
    job falls in it)."""
    world = make_world(
        SimParams(calls_by_hour=[4.0] * 8),
        nights=1,
        seed=5,
        first_night=date(2026, 11, 2),
        centre=(52.99, 6.56),
    )
    spec = world.nights[0]
    routes = [[p.key for p in spec.planned]]
    without = play_baseline("nearest_free", spec, routes, _travel, SimParams())
    rested = play_baseline("nearest_free", spec, routes, _travel, SimParams(), [(200.0, 230.0)])

    def starts(record: NightRecord) -> list[float | None]:
        return [j.on_site for j in [*record.calls, *record.planned]]

    assert starts(without) != starts(rested)
    assert not any(200.0 < s < 230.0 for s in starts(rested) if s is not None)


def _care(
    key: str, window: tuple[int, int], minutes: float, place: int = -1, task: str = "turn"
) -> Planned:
    """Planned care at ``place`` (-1, the base: no drive), ``minutes`` of it."""
    return Planned(
        key=key,
        place=place,
        care_task=task,
        service_minutes=round(minutes),
        skills=(),
        window=window,
        recurring=False,
        actual_minutes=minutes,
        travel_factor=1.0,
        key_safe_fails=False,
    )


def _acute(key: str, minute: float, place: int = -1, minutes: int = 20) -> Call:
    """An acute call at ``place`` (-1: the base), ``minutes`` of care."""
    return Call(
        key=key,
        place=place,
        minute=minute,
        urgency="acute",
        care_task="fall",
        service_minutes=minutes,
        actual_minutes=float(minutes),
        travel_factor=1.0,
        key_safe_fails=False,
    )


def _spec(
    planned: list[Planned],
    calls: list[Call],
    faults: Faults | None = None,
    night_date: date = date(2026, 11, 2),
) -> NightSpec:
    return NightSpec(
        1, night_date, planned, calls, faults or Faults(), minutes=night_minutes(night_date)
    )


@pytest.mark.parametrize("policy", BASELINES)
@pytest.mark.parametrize(
    "night_date",
    [date(2026, 11, 2), date(2026, 3, 28), date(2026, 10, 24)],
    ids=["480 minutes", "420 (summer time begins)", "540 (summer time ends)"],
)
def test_a_break_due_at_the_nights_end_is_no_overtime(policy: str, night_date: date) -> None:
    """Her care runs from 200 minutes before the night's end to 5 minutes after it, through
    her break's start (20 minutes into it): her break is no work, so she has 5 minutes of
    overtime, as the service's nurse has (the end of her last visit,
    `ServiceNight._end_of_night`), not 35 (the break taken after it); on the nights the
    clocks change too (420 and 540 real minutes)."""
    end = night_minutes(night_date)
    spec = _spec([_care("P", (end - 200, end - 190), 205.0)], [], night_date=night_date)
    rest = (end - 180.0, end - 150.0)
    record = play_baseline(policy, spec, [["P"]], lambda a, b: 0.0, SimParams(), [rest])
    assert record.overtime_minutes == pytest.approx(5.0)


def test_a_call_as_one_nurses_break_begins_goes_to_the_idle_other() -> None:
    """fixed_fcfs, both nurses idle, an acute call at 00:40 as N1's break is due: N1 takes
    her break and N2 (no break) takes the call at once. It waited in the queue 30 minutes
    for N1's break to end, N2 idle all the while (the call went to the first idle nurse
    only)."""
    spec = _spec([], [_acute("C0", 100.0)])
    record = play_baseline(
        "fixed_fcfs", spec, [[], []], lambda a, b: 0.0, SimParams(), [(100.0, 130.0), None]
    )
    assert record.calls[0].on_site == pytest.approx(100.0)


@pytest.mark.parametrize("policy", BASELINES)
def test_held_up_during_her_break_she_is_back_when_both_are_over(policy: str) -> None:
    """On her break (00:40-01:10) she is held up 10 minutes at 00:50: both are over by 01:10,
    when her next care (window 01:10-02:10) begins, as the service's nurse (held while she
    waits for her route) would. The hold was added to her break: care began at 01:20."""
    spec = _spec([_care("P", (130, 190), 10.0)], [], Faults(delayed=(0, 110.0, 10)))
    record = play_baseline(policy, spec, [["P"]], lambda a, b: 0.0, SimParams(), [(100, 130)])
    assert record.planned[0].start == pytest.approx(130.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nurses=st.integers(1, 3), rest_start=st.floats(180, 300))
def test_nearest_free_under_the_rule_never_buys_a_call_with_planned_care_past_its_tolerance(
    seed: int, nurses: int, rest_start: float
) -> None:
    """On a night without noise (drives and care as planned, no hold), ``nearest_free_rule``
    leaves no more planned care outside its window and tolerance than the same routes with
    no calls at all: a call it takes never pushes planned care past the region's rule, and
    one no nurse can take that way goes to the back-up at once (``triage_no``)."""
    params = SimParams(
        calls_by_hour=[3.0] * 8,
        service_spread=0.0,
        travel_spread=0.0,
        nurse_delayed=0.0,
        key_safe_fails=0.0,
    )
    world = make_world(
        params, nights=1, seed=seed, first_night=date(2026, 11, 2), centre=(52.99, 6.56)
    )
    spec = world.nights[0]
    keys = [p.key for p in sorted(spec.planned, key=lambda p: p.window)]
    routes = [keys[i::nurses] for i in range(nurses)]
    rests = [(rest_start, rest_start + 30)] * nurses
    quiet = NightSpec(spec.number, spec.night_date, spec.planned, [], spec.faults, spec.minutes)

    def outside(record: NightRecord) -> int:
        return sum(
            1 for p in record.planned if p.miss(params.tolerance_minutes.get(p.care_task, 0))
        )

    without = play_baseline("nearest_free_rule", quiet, routes, _travel, params, rests)
    ruled = play_baseline("nearest_free_rule", spec, routes, _travel, params, rests)
    assert outside(ruled) <= outside(without)
    for call in ruled.calls:
        assert (call.reason == "triage_no") == (call.triage_reason == "planned_tolerance")


def test_nearest_free_under_the_rule_sends_the_nurse_whose_planned_care_keeps_its_rule() -> None:
    """Two nurses at the base, 15 minutes from an acute call at 01:00 (40 minutes of care).
    N1 has hard care (catheter, no tolerance) at 01:30-01:35 at the call's address: taking
    the call she would start it at 01:55. N2 has nothing planned. ``nearest_free`` sends N1
    (the first of two there as soon) and the catheter care starts 20 minutes late;
    ``nearest_free_rule`` sends N2. With N1 alone, it says no (the back-up)."""
    hard = _care("P", (150, 155), 10.0, place=1, task="catheter")
    call = _acute("C", 120.0, place=1, minutes=40)

    def travel(a: int, b: int) -> float:
        return 0.0 if a == b else 15.0

    spec = _spec([hard], [call])
    greedy = play_baseline("nearest_free", spec, [["P"], []], travel, SimParams())
    assert greedy.calls[0].on_site == pytest.approx(135.0)
    assert greedy.planned[0].start == pytest.approx(175.0)
    ruled = play_baseline("nearest_free_rule", spec, [["P"], []], travel, SimParams())
    assert ruled.calls[0].on_site == pytest.approx(135.0)  # N2
    assert ruled.planned[0].start == pytest.approx(150.0)
    alone = play_baseline("nearest_free_rule", spec, [["P"]], travel, SimParams())
    assert alone.calls[0].reason == "triage_no" and alone.planned[0].miss() is None


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["simulate", "--nights", "0"], "--nights"),
        (["simulate", "--nurses", "two"], "--nurses"),
        (["simulate", "--nurses", "3,3"], "--nurses"),
        (["simulate", "--speed", "5"], "--speed"),
        (["simulate", "--policies", "nachtroute,random"], "--policies"),
        (["simulate", "--nights", "3", "--only-nights", "3"], "--only-nights"),
        (["simulate", "--nights", "3", "--only-nights", "1,x"], "--only-nights"),
        (["simulate", "--nights", "3", "--only-nights", "-1"], "--only-nights"),
    ],
)
def test_nonsense_options_get_one_message_and_exit_2(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nachtroute: error: ") and field in err
    assert "Traceback" not in err


def test_a_params_file_with_an_unknown_field_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "params.json"
    path.write_text('{"calls_per_hour": 3}', encoding="utf-8")
    assert main(["simulate", "--params", str(path), "--network", "none"]) == 2
    assert "calls_per_hour" in capsys.readouterr().err


@given(seed=st.integers(0, 10**6), nights=st.integers(2, 12), data=st.data())
@settings(max_examples=25, deadline=None)
def test_only_nights_replays_the_very_nights_of_the_whole_run(
    seed: int, nights: int, data: st.DataObject
) -> None:
    """Night K alone (``--only-nights K``) is night K of the whole run: same date, calls,
    care, noise and faults, so a late call of a 30-night run is traced in one night."""
    chosen = sorted(data.draw(st.sets(st.integers(0, nights - 1), min_size=1)))
    whole, _, _ = build_world(Options(nights=nights, seed=seed, nurses=3, network=None))
    only, _, _ = build_world(
        Options(nights=nights, seed=seed, nurses=3, network=None, only_nights=chosen)
    )
    assert [spec.number for spec in only.nights] == chosen
    assert only.nights == [whole.nights[k] for k in chosen]
    assert only.places == whole.places and only.recurring == whole.recurring


@pytest.mark.parametrize(
    ("planned_start", "expected"),
    [(95.0, "noise"), (118.0, "moved_later"), (None, "moved_later")],
)
def test_a_late_call_she_set_off_for_in_time_is_noise_not_moved_later(
    planned_start: float | None, expected: str
) -> None:
    """An acute call at minute 80, answered in 10 minutes, on site at 112: when the route
    she set off by had her there by 110 the drive ran over (``noise``); a route that had
    her there later was the re-plans' doing (``moved_later``), the service's to trace."""
    from api.simulation.play import ServiceNight
    from api.simulation.records import CallOutcome

    night = object.__new__(ServiceNight)
    night.reached_by, night.offline, night.held = {"C1": "N1"}, None, None
    call = CallOutcome(key="C1", urgency="acute", minute=80.0, start=112.0, answered=10.0)
    call.planned_start = planned_start
    assert night._late_reason(call) == expected
