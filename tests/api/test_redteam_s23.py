"""Session 23's red team on issue 11 (simulated nights, reports, the partners' report API).

Each test names its finding (R23-xx); each failed on the code before its fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.cli import main
from api.services.reports import _split
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
    env = {**os.environ, "TMPDIR": str(tmp_path)}
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
