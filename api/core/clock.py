"""The service's clock: the system's, or a simulated one for trying a night at any hour.

``NACHTROUTE_CLOCK`` (an ISO time with offset) and ``NACHTROUTE_CLOCK_SPEED`` (simulated
seconds per real second) start a `SimulatedClock` at that moment when the service starts;
production refuses them (`api.core.config.Settings`). ``NACHTROUTE_CLOCK_FILE`` gives a
`SteppedClock` instead: the time written in a file, standing still until the file is moved on
(`step_clock_file`), so a discrete-event simulator decides when time passes and the service's
work in between (a re-plan) costs no simulated time. Every part of the service reads the one
clock object the app holds (``app.state.clock``), never ``datetime.now`` directly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.core.config import Settings

__all__ = [
    "Clock",
    "SimulatedClock",
    "SteppedClock",
    "clock_from_settings",
    "read_clock_file",
    "step_clock_file",
    "system_clock",
]

#: A clock: called, it gives the current moment (aware).
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, UTC."""
    return datetime.now(UTC)


class SimulatedClock:
    """Time that starts at ``start`` when made and runs ``speed`` times as fast as real time.

    Monotonic underneath, so a change of the machine's clock does not move it.
    """

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start: an aware time (with offset) is required")
        if speed <= 0:
            raise ValueError("speed: must be above 0")
        self.start, self.speed = start, speed
        self._began = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._began) * self.speed)

    def __repr__(self) -> str:
        return f"SimulatedClock(start={self.start.isoformat()}, speed={self.speed})"


def read_clock_file(path: Path) -> datetime:
    """The aware time written in ``path``; ``ValueError`` when it holds none (``OSError``
    when it cannot be read)."""
    moment = datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
    if moment.tzinfo is None:
        raise ValueError(f"{path.name}: a time with offset is required")
    return moment


def step_clock_file(path: Path, moment: datetime) -> None:
    """Move the stepped clock in ``path`` to ``moment`` (aware, not earlier than its time).

    Written to a temporary file and renamed over ``path``, so a reader in another process
    sees the old time or the new one, never half of it. ``ValueError`` for a naive moment or
    one before the clock's time: a token or a second factor issued at a later time must not
    become "not yet valid"."""
    if moment.tzinfo is None:
        raise ValueError("moment: an aware time (with offset) is required")
    if path.exists() and moment < read_clock_file(path):
        raise ValueError("moment: a stepped clock never goes back")
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(moment.isoformat(), encoding="utf-8")
    os.replace(scratch, path)


class SteppedClock:
    """The time written in a file (`step_clock_file`), standing still between steps.

    Read on every call (a stat, and a read when the file changed). Never goes back: a time
    earlier than one already given, or a file that cannot be read for a moment, gives the
    latest time given.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._now = read_clock_file(path)

    def __call__(self) -> datetime:
        with self._lock:
            try:
                stat = os.stat(self.path)
                seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                if seen != self._seen:
                    self._now = max(self._now, read_clock_file(self.path))
                    self._seen = seen
            except (OSError, ValueError):
                pass  # mid-replace on a platform without atomic rename: the last time
            return self._now

    def __repr__(self) -> str:
        return f"SteppedClock(path={str(self.path)!r})"


def clock_from_settings(settings: Settings) -> Clock:
    """The stepped clock of ``settings.clock_file``, the simulated clock of
    ``settings.clock`` (started now), else the system clock."""
    if settings.clock_file is not None:
        return SteppedClock(settings.clock_file)
    if settings.clock is None:
        return system_clock
    return SimulatedClock(settings.clock, settings.clock_speed)
