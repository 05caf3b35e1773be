"""A phone's clock offset (R04): the server's receipt time minus the batch's ``sent_at``,
stored per event and added to its device times wherever they are used; through HTTP on the
test clock, on SQLite and PostgreSQL. Phones slow and fast, with and without ``sent_at``."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from api.db.models import Client, Night, Visit
from api.db.phone_models import PhoneEvent
from api.night.device_time import (
    OFFSET_DEADBAND,
    OFFSET_LIMIT,
    DeviceClock,
    batch_clock_offset,
    corrected_time,
    event_clock_offset,
)
from api.offline_events import derive_state
from api.repositories.phone import SqlEventStore, _stored
from tests.api.conftest import World
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import FAKE_CODE, fresh, publish, register_phone, set_code
from tests.api.test_keysafe_window import _late_visit_night, _reveal
from tests.api.test_keysafe_window import _step as _route_step
from tests.api.test_redteam_s20 import _far_acute_call, _quiet_night, _step

EVENTS = "/mobile/v1/me/events"
REPORT = "/partner/v1/reports/2026-11"
BASE = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def _event(kind: str, device_time: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": str(uuid.uuid4()),
        "device_time": device_time.astimezone(UTC).isoformat(),
        **extra,
    }


def _send(
    world: World,
    phone: dict[str, str],
    events: list[dict[str, Any]],
    sent_at: datetime | None,
) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"events": events}
    if sent_at is not None:
        body["sent_at"] = sent_at.astimezone(UTC).isoformat()
    sent = world.client.post(EVENTS, json=body, headers=fresh(world, phone))
    assert sent.status_code == 200, sent.text
    results: list[dict[str, Any]] = sent.json()["results"]
    assert {r["outcome"] for r in results} == {"accepted"}, results
    settle(world)
    return results


def _started_seconds(world: World, visit_id: int) -> int | None:
    with world.sessions()() as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        return visit.started_at


def _called_and_phone(world: World) -> tuple[int, int, dict[str, str]]:
    """An acute call at 01:05 on a quiet night: its organisation, visit id and its nurse's
    phone."""
    org = _quiet_night(world)
    publish(world)
    world.clock.set(1, 5)
    answer = _far_acute_call(world, org)
    settle(world)
    visit_id = answer["visits"][0]["visit_id"]
    nurse, _now = _step(world, visit_id)
    return org, visit_id, register_phone(world, f"nurse-n{nurse[1:]}")


@pytest.mark.parametrize("error_minutes", [40, -30])
def test_care_begun_offline_counts_when_it_began_on_a_slow_or_fast_phone(
    any_world: World, error_minutes: int
) -> None:
    """Her phone's clock is 40 min slow (or 30 min fast). The acute call comes at 01:05; she
    starts care at 01:15 and her phone, offline, sends it at 01:25 with ``sent_at`` by the
    same clock. Care began at 01:15 by the server's clock: a 10-minute response. Before the
    offset was used, the slow phone's start was believed (00:35, before the call: -30 min,
    within target) and the fast one's clamped to its arrival (01:25: 20 min)."""
    world = any_world
    org, visit_id, phone = _called_and_phone(world)
    error = timedelta(minutes=error_minutes)
    world.clock.set(1, 15)
    began = world.clock()
    world.clock.set(1, 25)
    [result] = _send(
        world,
        phone,
        [_event("visit_started", began - error, visit_id=str(visit_id))],
        sent_at=world.clock() - error,
    )
    assert "phone clock" in result["message"], result
    assert _started_seconds(world, visit_id) == 2 * 3600 + 15 * 60
    with world.sessions()() as session:
        [stored] = session.scalars(select(PhoneEvent).where(PhoneEvent.type == "visit_started"))
        assert stored.clock_offset_seconds == error_minutes * 60
    world.clock.set(7, 30)
    report = world.client.get(REPORT, headers=world.key(org))
    assert report.status_code == 200, report.text
    [line] = [v for v in report.json()["visits"] if v["visit_id"] == visit_id]
    assert line["response_minutes"] == 10.0, line


def test_a_slow_phones_batch_delivered_late_keeps_the_clocks_offset(any_world: World) -> None:
    """Her phone's clock is 40 min slow: a position at 01:10 measures +40 min. She starts
    care at 01:15 and the phone sends it at once (``sent_at`` 00:35 by its clock), but the
    request is held and the same bytes arrive at 01:45 (R21B-08's kind: a queue, a retry of
    the same body). The clock is still 40 min slow (it ran on since 01:10): care began at
    01:15, a 10-minute response, not 01:45 (the batch alone measured +70 min)."""
    world = any_world
    org, visit_id, phone = _called_and_phone(world)
    slow = timedelta(minutes=40)
    world.clock.set(1, 10)
    _send(
        world,
        phone,
        [_event("position", world.clock() - slow, position=[6.6, 53.07], accuracy_metres=10)],
        sent_at=world.clock() - slow,
    )
    world.clock.set(1, 15)
    began = world.clock() - slow
    world.clock.set(1, 45)
    _send(world, phone, [_event("visit_started", began, visit_id=str(visit_id))], sent_at=began)
    assert _started_seconds(world, visit_id) == 2 * 3600 + 15 * 60
    with world.sessions()() as session:
        [stored] = session.scalars(select(PhoneEvent).where(PhoneEvent.type == "visit_started"))
        assert stored.clock_offset_seconds == 2400
    world.clock.set(7, 30)
    report = world.client.get(REPORT, headers=world.key(org))
    [line] = [v for v in report.json()["visits"] if v["visit_id"] == visit_id]
    assert line["response_minutes"] == 10.0, line


def test_an_old_client_without_sent_at_is_used_as_before(any_world: World) -> None:
    """A batch without ``sent_at`` (an old client) is accepted; its times are used as sent,
    clamped as before: a time inside the night and not ahead is believed."""
    world = any_world
    _org, visit_id, phone = _called_and_phone(world)
    world.clock.set(1, 25)
    began = world.clock() - timedelta(minutes=10)
    [result] = _send(
        world, phone, [_event("visit_started", began, visit_id=str(visit_id))], sent_at=None
    )
    assert result["message"] == ""
    assert _started_seconds(world, visit_id) == 2 * 3600 + 15 * 60
    with world.sessions()() as session:
        [stored] = session.scalars(select(PhoneEvent).where(PhoneEvent.type == "visit_started"))
        assert stored.clock_offset_seconds is None


def test_a_clock_that_jumped_or_a_sent_at_past_belief_falls_back_to_clamping(
    world: World,
) -> None:
    """An event recorded after its batch's ``sent_at`` (the clock changed in between) and a
    ``sent_at`` days off are not believed: the time is clamped as for an old client, so a
    forged ``sent_at`` cannot move a time anywhere the device time itself could not."""
    _org, visit_id, phone = _called_and_phone(world)
    world.clock.set(1, 25)
    now = world.clock()
    [jumped] = _send(
        world,
        phone,
        [_event("arrived", now - timedelta(minutes=5), visit_id=str(visit_id))],
        sent_at=now - timedelta(minutes=50),
    )
    assert "phone clock" not in jumped["message"], jumped
    [forged] = _send(
        world,
        phone,
        [_event("visit_started", now - timedelta(days=3), visit_id=str(visit_id))],
        sent_at=now - timedelta(days=3),
    )
    assert "before the night" in forged["message"], forged
    with world.sessions()() as session:
        offsets = set(session.scalars(select(PhoneEvent.clock_offset_seconds)))
    assert offsets == {None}


def test_the_newest_position_is_the_newest_on_the_servers_clock(any_world: World) -> None:
    """Her phone sends a position at 01:10 with a right clock; at 01:20 its clock is 40 min
    slow (set by hand) and it sends another, stamped 00:40. The newest position is the one
    of 01:20: the stored shift state (the SQL that keeps one position) and the replay of
    every event agree on it."""
    world = any_world
    _org, _visit_id, phone = _called_and_phone(world)
    rng = random.Random(21)
    sent = []
    for minute, slow in ((10, 0), (20, 40)):
        world.clock.set(1, minute)
        newest = world.clock()
        at = newest - timedelta(minutes=slow)
        where = [6.56 + rng.random() / 100, 52.99]
        sent.append(where)
        _send(
            world,
            phone,
            [_event("position", at, position=where, accuracy_metres=10)],
            sent_at=at,
        )
    with world.sessions()() as session:
        night = session.scalars(select(Night)).one()
        nurse_id = session.scalars(select(PhoneEvent.nurse_id)).first()
        store = SqlEventStore(session, night.id)
        kept = store.for_shift(str(nurse_id), str(night.id))
        state = derive_state(kept)
        rows = session.scalars(select(PhoneEvent).where(PhoneEvent.nurse_id == nurse_id))
        everything = derive_state([_stored(row) for row in rows])
    assert state.last_position is not None and everything.last_position is not None
    assert list(state.last_position[1]) == sent[1]
    assert state.last_position == everything.last_position
    assert state.last_position[0] == newest


def test_a_slow_phones_completion_keeps_the_key_safe_open_until_after_care_ended(
    any_world: World,
) -> None:
    """Her phone is 40 min slow. She starts at the ETA and completes ten minutes later; the
    window closes 15 minutes after she really finished (before, her phone's time shut it 25
    minutes before she was done). A phone claiming to be hours fast still cannot open it
    before an hour ahead of the ETA (the arrival counts no earlier than the phone said)."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    eta = datetime.fromisoformat(_route_step(world, phone, visit_id)["eta"])
    with world.sessions()() as session:
        client = session.get(Client, client_id)
        assert client is not None
        door = [client.lon, client.lat]

    world.clock.now = eta - timedelta(hours=2)
    fast = timedelta(hours=3)
    _send(
        world,
        phone,
        [_event("arrived", world.clock.now + fast, visit_id=visit_id)],
        sent_at=world.clock.now + fast,
    )
    refused = _reveal(world, phone, visit_id, position=door).json()
    assert refused["reason"] == "too_early", refused
    assert datetime.fromisoformat(refused["retry_after"]) == eta - timedelta(minutes=60)

    slow = timedelta(minutes=40)
    world.clock.now = eta
    _send(world, phone, [_event("visit_started", eta - slow, visit_id=visit_id)], eta - slow)
    world.clock.now = eta + timedelta(minutes=10)
    done = _event("visit_completed", world.clock.now - slow, visit_id=visit_id)
    _send(world, phone, [{**done, "tasks_done": [], "materials_used": []}], world.clock.now - slow)
    world.clock.now = eta + timedelta(minutes=25)
    opened = _reveal(world, phone, visit_id, position=door)
    assert opened.status_code == 200 and opened.json()["code"] == FAKE_CODE
    world.clock.now = eta + timedelta(minutes=26)
    assert _reveal(world, phone, visit_id, position=door).json()["reason"] == "too_late"


# ------------------------------------------------------------------ the estimate's bounds

_SECONDS = st.integers(min_value=-3 * 86400, max_value=3 * 86400)


@given(error=_SECONDS, latency=st.integers(min_value=0, max_value=20), held=_SECONDS)
def test_a_corrected_time_is_the_servers_within_latency_or_not_corrected(
    error: int, latency: int, held: int
) -> None:
    """A phone ``error`` seconds slow (negative: fast) records an event ``held`` seconds
    before sending (negative: a clock that jumped back meanwhile), and the batch takes
    ``latency`` seconds to arrive. Corrected, the event's time is its real time within the
    latency, never after the server received it; when the offset is not believed, the
    time is left as sent (the clamping of old clients applies)."""
    received = BASE
    sent_real = received - timedelta(seconds=latency)
    happened = sent_real - timedelta(seconds=held)
    device_time = happened - timedelta(seconds=error)
    sent_at = sent_real - timedelta(seconds=error)
    offset = event_clock_offset(device_time, sent_at, batch_clock_offset(sent_at, received))
    at = corrected_time(device_time, offset, received)
    assert at <= max(device_time, received)
    if offset is None:
        assert at == device_time
        assert (
            abs(received - sent_at) > OFFSET_LIMIT
            or device_time > sent_at + OFFSET_DEADBAND
            or device_time < sent_at - OFFSET_LIMIT
        )
    elif offset == 0:
        assert abs(received - sent_at) <= OFFSET_DEADBAND
        assert at == device_time
    else:
        # Its real time on the server's clock, but never after the server received it (an
        # event dated up to the dead band after sent_at: a clock that stepped meanwhile).
        real = happened + timedelta(seconds=latency)
        assert abs(at - min(real, max(device_time, received))) <= timedelta(seconds=1)
    if abs(error) + latency <= OFFSET_LIMIT.total_seconds() and 0 <= held <= 3600:
        assert offset is not None  # an hour held offline: still believed


def test_the_bounds_of_a_batch_offset() -> None:
    assert batch_clock_offset(None, BASE) is None
    assert batch_clock_offset(BASE - timedelta(seconds=59), BASE) == 0
    assert batch_clock_offset(BASE - timedelta(minutes=40), BASE) == 2400
    assert batch_clock_offset(BASE + timedelta(minutes=30), BASE) == -1800
    assert batch_clock_offset(BASE - OFFSET_LIMIT - timedelta(seconds=1), BASE) is None


@given(
    error=st.integers(min_value=-86400, max_value=86400),
    since=st.integers(min_value=0, max_value=4 * 3600),
    delay=st.integers(min_value=0, max_value=4 * 3600),
    latency=st.integers(min_value=0, max_value=20),
)
def test_a_late_delivery_is_not_a_clock_and_a_clock_set_back_is(
    error: int, since: int, delay: int, latency: int
) -> None:
    """A phone ``error`` seconds slow sent a batch (newest event at its sending) that
    arrived in ``latency`` seconds; ``since`` seconds later it sends another that arrives
    ``delay`` seconds late with that ``sent_at``: the offset is the previous one (within the
    dead band) and the clock's error within the dead band and latency, whatever the delay
    (R21B-08; the batch alone measured ``error + delay``). Had its clock instead been set
    back by more than ``since`` (plus the dead band) in between and the batch come at once,
    the new offset is believed (R04)."""
    sent_real = BASE
    previous_offset = batch_clock_offset(
        sent_real - timedelta(seconds=error), sent_real + timedelta(seconds=latency)
    )
    assert previous_offset is not None
    previous = DeviceClock(offset=previous_offset, clock_at=sent_real - timedelta(seconds=error))
    then = sent_real + timedelta(seconds=since)
    late = batch_clock_offset(
        then - timedelta(seconds=error), then + timedelta(seconds=delay), previous
    )
    assert late is not None and late <= previous_offset + OFFSET_DEADBAND.total_seconds()
    assert abs(late - error) <= OFFSET_DEADBAND.total_seconds() + latency
    back = since + 61 + delay
    reset = batch_clock_offset(
        then - timedelta(seconds=error + back), then + timedelta(seconds=latency), previous
    )
    assert reset == batch_clock_offset(
        then - timedelta(seconds=error + back), then + timedelta(seconds=latency)
    )
