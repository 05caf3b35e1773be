"""A served `nachtroute serve` process on a free loopback port, started and stopped by us.

Shared by the simulator and `bench/load_bench.py` (one way to start the service for a run).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from api.core.clock import step_clock_file

__all__ = ["Served", "bin_path", "free_port", "wait_healthy"]


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bin_path(name: str) -> str:
    """A console script of this environment (beside the interpreter), else from PATH."""
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], seconds: float = 180) -> None:
    """Return once ``/health`` answers 200; ``SystemExit`` if the process ends or never does."""
    deadline = time.monotonic() + seconds
    # One client for the polls: each `httpx.get` made a new one, loading the CA store (some
    # 30 ms of CPU a poll, taken from the service starting up beside it).
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"nachtroute serve exited with {server.returncode}")
            try:
                if http.get(base_url + "/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise SystemExit("nachtroute serve did not answer /health in time")


class Served:
    """``nachtroute serve`` on ``database_url`` with a simulated clock; restartable.

    The log goes to ``log_path`` (appended across restarts), for counting ERROR lines.
    """

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        log_path: Path,
        *,
        speed: float,
        extra_env: dict[str, str] | None = None,
        clock_file: Path | None = None,
    ) -> None:
        self.database_url, self.data_dir, self.log_path = database_url, data_dir, log_path
        self.speed = speed
        #: A stepped clock (NACHTROUTE_CLOCK_FILE) instead of a running one: ``speed`` unused.
        self.clock_file = clock_file
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, clock: datetime) -> None:
        """Start serving with the clock at ``clock`` (aware), running ``speed`` times fast,
        or, stepped, standing at ``clock`` until the clock file is moved on."""
        env = {
            **os.environ,
            "NACHTROUTE_DATABASE_URL": self.database_url,
            "NACHTROUTE_DATA_DIR": str(self.data_dir),
            "NACHTROUTE_ENVIRONMENT": "development",
            "NACHTROUTE_MIGRATE_ON_START": "false",
            **self.extra_env,
        }
        for name in ("NACHTROUTE_CLOCK", "NACHTROUTE_CLOCK_SPEED", "NACHTROUTE_CLOCK_FILE"):
            env.pop(name, None)
        if self.clock_file is not None:
            step_clock_file(self.clock_file, clock)
            env["NACHTROUTE_CLOCK_FILE"] = str(self.clock_file)
        else:
            env["NACHTROUTE_CLOCK"] = clock.isoformat()
            env["NACHTROUTE_CLOCK_SPEED"] = f"{self.speed:g}"
        if "NACHTROUTE_NETWORK" not in self.extra_env:
            env.pop("NACHTROUTE_NETWORK", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own console script, fixed args
                [bin_path("nachtroute"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
            )
        wait_healthy(self.base_url, self.process)

    def stop(self) -> None:
        """Terminate (SIGTERM, then SIGKILL after 20 s) what we started."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def error_lines(self) -> list[str]:
        """The server's log lines at ERROR or with a traceback."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]


class NotItsDatabase(ValueError):
    """``--url``'s service does not use ``--database-url``: the keys seeded there are unknown."""


class Remote:
    """A service someone else runs (``simulate --url``): never started or stopped here.
    Its clock is stepped through the file it was started with (``NACHTROUTE_CLOCK_FILE``);
    the simulator seeds its accounts in the service's (fresh) database beforehand
    (docs/simulation.md, "Against a running service")."""

    def __init__(self, base_url: str, clock_file: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock_file = clock_file
        #: Never a process of ours: the runner's "start it once" test stays true.
        self.process: subprocess.Popen[bytes] | None = None
        self.speed = 1.0
        self._started = False

    def start(self, clock: datetime) -> None:
        """Move its clock to ``clock`` (never back) and check it answers."""
        step_clock_file(self.clock_file, clock)
        if not self._started:
            answer = httpx.get(self.base_url + "/health", timeout=10)
            answer.raise_for_status()
            self._started = True

    def check_database(self, partner_key: str) -> None:
        """Raise `NotItsDatabase` when the service does not know ``partner_key``, just seeded
        in the database given: it serves another one (every call after would be a 401)."""
        answer = httpx.get(
            self.base_url + "/partner/v1/clients", headers={"X-API-Key": partner_key}, timeout=10
        )
        if answer.status_code == 401:
            raise NotItsDatabase(
                "--database-url: not the database of the service at --url (it does not know "
                "the API keys just seeded there, which is no longer fresh); give the "
                "service's own NACHTROUTE_DATABASE_URL, fresh"
            )

    def stop(self) -> None:
        """Nothing: the service is not ours to stop."""

    def error_lines(self) -> list[str]:
        """Its log is not ours to read: a 5xx still counts (`play.Session`)."""
        return []
