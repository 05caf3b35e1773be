"""Acute calls arriving together: each partner's first answer (`LiveReplanner.answer_now`,
the quick insertion stored before the worker's searched re-plan) is quoted against the
night with every call answered before it, at the soonest place across all nurses."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from api.db.models import Night
from tests.api.conftest import World, new_client
from tests.api.invariants import settle, visits_placed_after_each_test  # noqa: F401
from tests.api.test_durable_replans import acute
from tests.api.test_redteam_s20 import CALLS, _quiet_night


@contextmanager
def searches_held(world: World) -> Iterator[None]:
    """The worker thread stopped: every call is answered while the searched re-plan is
    owed (the first answers alone), then it runs again and drains what is owed."""
    replanner = world.client.app.state.replanner  # type: ignore[attr-defined]
    replanner.stop()
    try:
        yield
    finally:
        replanner.start()


def _assert_spread_and_in_time(world: World, told: list[dict[str, Any]]) -> None:
    """Every first answer planned, within its 30 minutes, at most two calls a nurse."""
    assert all(v["planned"] for v in told), told
    by_nurse = Counter(v["nurse"] for v in told)
    starts = [datetime.fromisoformat(v["expected_start"]) for v in told]
    late = [s for s in starts if s > world.clock() + timedelta(minutes=30)]
    assert not late and max(by_nurse.values()) <= 2, (by_nurse, [s.time() for s in starts])
    settle(world)


def test_calls_answered_while_a_replan_is_owed_spread_over_the_idle_nurses(world: World) -> None:
    """01:05, three nurses idle; six acute calls near the test clients, posted one after
    another while the searched re-plan is still owed. Every first answer must count the
    calls answered before it and send the nurse who is there soonest: two calls each, all
    within their 30 minutes (the red team saw 3-4 stacked on one nurse, partners told
    01:39-03:43 while another nurse was idle)."""
    org = _quiet_night(world)
    clients = [new_client(world, org, 10 + n) for n in range(6)]
    world.clock.set(1, 5)
    answers: list[dict[str, Any]] = []
    with searches_held(world):
        for client_id in clients:
            posted = world.client.post(CALLS, json=acute(client_id), headers=world.key(org))
            assert posted.status_code == 201, posted.text
            answers.append(posted.json())
    _assert_spread_and_in_time(world, [a["visits"][0] for a in answers])


def test_calls_committed_together_get_first_answers_spread_over_the_nurses(
    any_world: World,
) -> None:
    """The same six calls posted at once: all six are accepted before the first of them
    is answered (the night's re-plan lock held meanwhile), so one first answer inserts
    all six into the last stored plan, and the others read it."""
    world = any_world
    org = _quiet_night(world)
    clients = [new_client(world, org, 10 + n) for n in range(6)]
    world.clock.set(1, 5)
    replanner = world.client.app.state.replanner  # type: ignore[attr-defined]
    with world.sessions()() as session:
        night = session.query(Night).one()
        night_id, before = night.id, night.replan_requested
    answers: list[Any] = [None] * 6

    def post(i: int) -> None:
        answers[i] = world.client.post(CALLS, json=acute(clients[i]), headers=world.key(org))

    with searches_held(world):
        with replanner.night_lock(night_id):
            threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for _ in range(1200):  # a bound, not a timing: the six commit, then wait here
                with world.sessions()() as session:
                    if session.get(Night, night_id).replan_requested >= before + 6:
                        break
                time.sleep(0.05)
            else:
                raise AssertionError("the six calls were not all accepted")
        for t in threads:
            t.join()
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    _assert_spread_and_in_time(world, [a.json()["visits"][0] for a in answers])
