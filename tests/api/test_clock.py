"""The simulated clock: NACHTROUTE_CLOCK / NACHTROUTE_CLOCK_SPEED, refused in production."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.cli import main
from api.core.clock import (
    SimulatedClock,
    SteppedClock,
    clock_from_settings,
    step_clock_file,
    system_clock,
)
from api.core.config import Settings
from api.main import create_app
from tests.api.conftest import AMSTERDAM, SECRET

START = datetime(2026, 11, 29, 3, 10, tzinfo=AMSTERDAM)


@given(speed=st.floats(min_value=0.001, max_value=3600), reads=st.integers(2, 20))
def test_simulated_clock_starts_at_its_moment_and_never_goes_back(speed: float, reads: int) -> None:
    clock = SimulatedClock(START, speed)
    moments = [clock() for _ in range(reads)]
    assert moments[0] >= START
    assert moments == sorted(moments)
    assert all(m.utcoffset() == timedelta(hours=1) for m in moments)


def test_settings_read_the_clock_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NACHTROUTE_CLOCK", "2026-11-29T03:10:00+01:00")
    monkeypatch.setenv("NACHTROUTE_CLOCK_SPEED", "60")
    settings = Settings()
    clock = clock_from_settings(settings)
    assert isinstance(clock, SimulatedClock)
    assert clock.start == START and clock.speed == 60
    assert clock() >= START
    assert clock_from_settings(Settings(clock=None)) is system_clock


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"clock": "2026-11-29T03:10:00"}, "NACHTROUTE_CLOCK"),  # no offset
        ({"clock": "2026-11-29T03:10:00+01:00", "environment": "production"}, "NACHTROUTE_CLOCK"),
        ({"clock_speed": 10, "environment": "production"}, "NACHTROUTE_CLOCK_SPEED"),
        ({"clock_speed": 0}, "clock_speed"),
    ],
)
def test_bad_or_production_clocks_are_refused(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(secret_key=SECRET, api_key_pepper=SECRET, **values)
    assert field in str(error.value)


def test_serve_refuses_a_simulated_clock_in_production(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 with the setting named, before anything starts."""
    monkeypatch.setenv("NACHTROUTE_ENVIRONMENT", "production")
    monkeypatch.setenv("NACHTROUTE_SECRET_KEY", SECRET)
    monkeypatch.setenv("NACHTROUTE_API_KEY_PEPPER", SECRET)
    monkeypatch.setenv("NACHTROUTE_CLOCK", "2026-11-29T03:10:00+01:00")
    for command in (["serve"], ["demo", "--no-serve", "--network", "none"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "NACHTROUTE_CLOCK" in err and "Traceback" not in err


def test_the_app_runs_on_the_settings_clock(tmp_path: Path) -> None:
    """One clock object for the whole app, made from the settings."""
    settings = Settings(
        environment="test",
        data_dir=tmp_path,
        secret_key=SECRET,
        api_key_pepper=SECRET,
        clock=START,
    )
    app = create_app(settings)
    assert isinstance(app.state.clock, SimulatedClock)
    assert app.state.clock() >= START


def test_demo_seeds_the_night_of_the_simulated_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At a simulated 03:10 on the 29th, the demo's night is the one that began on the 28th,
    whatever the hour of the day the demo is tried."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NACHTROUTE_CLOCK", "2026-11-29T03:10:00+01:00")
    assert main(["demo", "--no-serve", "--visits", "6", "--network", "none"]) == 0
    assert "Night of 2026-11-28" in capsys.readouterr().out


# --- the stepped clock (NACHTROUTE_CLOCK_FILE): time moves only when the file is moved on


@settings(deadline=None, max_examples=30)  # file writes on a loaded machine: no deadline
@given(steps=st.lists(st.integers(min_value=0, max_value=86_400), min_size=1, max_size=15))
def test_a_stepped_clock_stands_still_between_steps_and_follows_each_step(
    tmp_path_factory: pytest.TempPathFactory, steps: list[int]
) -> None:
    path = tmp_path_factory.mktemp("clock") / "clock.txt"
    step_clock_file(path, START)
    clock = SteppedClock(path)
    moment = START
    for seconds in steps:
        assert clock() == clock() == moment  # stands still however long the work takes
        moment = moment + timedelta(seconds=seconds)
        step_clock_file(path, moment)
        assert clock() == moment
        assert clock().utcoffset() == timedelta(hours=1)


def test_a_stepped_clock_never_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "clock.txt"
    step_clock_file(path, START)
    clock = SteppedClock(path)
    with pytest.raises(ValueError, match="never goes back"):
        step_clock_file(path, START - timedelta(seconds=1))
    # Written behind its back (not through step_clock_file), it still does not go back.
    path.write_text((START - timedelta(hours=1)).isoformat(), encoding="utf-8")
    assert clock() == START
    with pytest.raises(ValueError, match="aware"):
        step_clock_file(path, START.replace(tzinfo=None))


def test_the_settings_make_a_stepped_clock_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clock.txt"
    step_clock_file(path, START)
    clock = clock_from_settings(Settings(clock_file=path))
    assert isinstance(clock, SteppedClock) and clock() == START


@pytest.mark.parametrize(
    ("values", "content"),
    [
        ({"environment": "production"}, START.isoformat()),
        ({"clock": START.isoformat()}, START.isoformat()),
        ({"clock_speed": 60}, START.isoformat()),
        ({}, "not a time"),
        ({}, "2026-11-29T03:10:00"),  # no offset
        ({}, None),  # no file
    ],
)
def test_bad_or_production_stepped_clocks_are_refused(
    tmp_path: Path, values: dict[str, object], content: str | None
) -> None:
    path = tmp_path / "clock.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError) as error:
        Settings(secret_key=SECRET, api_key_pepper=SECRET, clock_file=path, **values)
    assert "NACHTROUTE_CLOCK_FILE" in str(error.value)
