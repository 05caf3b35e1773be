"""`nachtroute simulate`: a short night against the real service on SQLite (no mocks), the
baselines' invariants (hypothesis), and bad options."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.cli import main
from api.db.engine import make_engine, make_session_factory
from api.db.models import Visit
from api.simulation.generate import make_world
from api.simulation.metrics import JSON_KEYS, summarise
from api.simulation.params import SimParams
from api.simulation.policies import BASELINES, play_baseline
from api.simulation.runner import Options, build_world, simulate_team
from tests.api.invariants import assert_visits_placed, pending_nights

#: A busy short night with every fault on, so each path is played.
BUSY = SimParams(
    recurring_clients=8,
    one_off_planned=2,
    calls_by_hour=[3.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    key_safe_fails=0.3,
    nurse_delayed=1.0,
    phone_offline=1.0,
    restart=1.0,
)


@pytest.mark.slow
def test_a_simulated_night_through_the_service_keeps_every_invariant(tmp_path: Path) -> None:
    options = Options(
        nights=1, seed=5, nurses=2, speed=1200, network=None, params=BUSY, keep_database=tmp_path
    )
    world, road, centre = build_world(options)
    spec = world.nights[0]
    assert spec.calls and spec.faults.restart is not None and spec.faults.offline is not None
    result = simulate_team(options, world=world, network=road, centre=centre)
    night = result.records["nachtroute"][0]
    assert night.violations == []
    # Every call ended with care begun by the team or handed to the back-up; none vanished.
    assert {c.key for c in night.calls} == {c.key for c in spec.calls}
    for call in night.calls:
        assert (call.start is not None) != call.handed_off
        if call.start is not None:
            assert call.start >= call.minute - 0.01
    assert any(c.start is not None for c in night.calls)
    # The database agrees: nothing owed, every open visit placed, statuses as reported.
    url = result.database_url
    assert url is not None
    assert pending_nights(url) == []
    assert_visits_placed(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        statuses = [v.status for v in session.scalars(select(Visit))]
    engine.dispose()
    begun = sum(1 for x in [*night.calls, *night.planned] if x.start is not None)
    assert statuses.count("done") + statuses.count("started") == begun
    assert "open" not in statuses
    figures = summarise([night])
    assert set(JSON_KEYS) <= set(figures)


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


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["simulate", "--nights", "0"], "--nights"),
        (["simulate", "--nurses", "two"], "--nurses"),
        (["simulate", "--nurses", "3,3"], "--nurses"),
        (["simulate", "--speed", "5"], "--speed"),
        (["simulate", "--policies", "nachtroute,random"], "--policies"),
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
