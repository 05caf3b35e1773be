"""`nachtroute simulate --url`: one night played against a service someone else started
(here: this test, with `nachtroute serve` on a fresh SQLite database and a clock file); the
simulator seeds its accounts in that database, steps the clock file, and neither starts nor
stops the service (issue 11)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from api.cli import main
from api.core.clock import step_clock_file
from api.simulation.play import night_start
from api.simulation.runner import FIRST_NIGHT
from api.simulation.service import bin_path, free_port, wait_healthy


@pytest.mark.slow
def test_simulate_plays_a_night_against_a_running_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite+pysqlite:///{tmp_path / 'night.sqlite'}"
    clock = tmp_path / "clock.txt"
    step_clock_file(clock, night_start(FIRST_NIGHT) - timedelta(hours=2))
    port = free_port()
    env = {
        **os.environ,
        "NACHTROUTE_DATABASE_URL": database,
        "NACHTROUTE_DATA_DIR": str(tmp_path),
        "NACHTROUTE_ENVIRONMENT": "development",
        "NACHTROUTE_CLOCK_FILE": str(clock),
        # As docs/simulation.md asks of a service the simulator plays against.
        "NACHTROUTE_ACCESS_TOKEN_MINUTES": "1440",
        "NACHTROUTE_RECURRENCE_DAYS_AHEAD": "14",
        "NACHTROUTE_REPLAN_POLL_SECONDS": "0.2",
    }
    for name in ("NACHTROUTE_CLOCK", "NACHTROUTE_CLOCK_SPEED", "NACHTROUTE_NETWORK"):
        env.pop(name, None)
    # A light night (seed 5: 5 planned visits and 6 calls, not the defaults' 28 and 12; a
    # nurse held up) with the service restart drawn, which is not ours to play: the busy
    # night's invariants are test_simulate's, the --url path is what is tested here.
    params = tmp_path / "params.json"
    light = {"recurring_clients": 4, "one_off_planned": 1, "calls_by_hour": [0.5] * 8}
    params.write_text(json.dumps(light | {"restart": 1.0}), encoding="utf-8")
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
        code = main(
            [
                "simulate",
                "--nights",
                "1",
                "--seed",
                "5",
                "--nurses",
                "2",
                "--network",
                "none",
                "--params",
                str(params),
                "--url",
                url,
                "--database-url",
                database,
                "--clock-file",
                str(clock),
                "--json",
                "--quiet",
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        figures = json.loads(out.strip().splitlines()[-1])
        assert figures["nights"] == 1
        assert figures["invariant_violations"] == 0
        # Still ours and still serving: the simulator did not stop it (nor for the night's
        # restart fault).
        assert server.poll() is None
        # It stepped the service's clock through the night (past 07:00).
        moved = datetime.fromisoformat(clock.read_text().strip())
        assert moved >= night_start(FIRST_NIGHT) + timedelta(hours=8)
    finally:
        server.terminate()
        server.wait(timeout=30)
    errors = [
        line
        for line in (tmp_path / "server.log").read_text(errors="replace").splitlines()
        if " ERROR " in line or "Traceback" in line
    ]
    assert errors == []


def test_url_without_its_database_and_clock_gets_one_message_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", "--url", "http://127.0.0.1:9"]) == 2
    assert "--database-url" in capsys.readouterr().err
