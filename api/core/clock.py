"""The service's clock: the system's, or a simulated one for trying a night at any hour.

``NACHTROUTE_CLOCK`` (an ISO time with offset) and ``NACHTROUTE_CLOCK_SPEED`` (simulated
seconds per real second) start a `SimulatedClock` at that moment when the service starts;
production refuses them (`api.core.config.Settings`). Every part of the service reads the one
clock object the app holds (``app.state.clock``), never ``datetime.now`` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from api.core.config import Settings

__all__ = ["Clock", "SimulatedClock", "clock_from_settings", "system_clock"]

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


def clock_from_settings(settings: Settings) -> Clock:
    """The simulated clock of ``settings.clock`` (started now), else the system clock."""
    if settings.clock is None:
        return system_clock
    return SimulatedClock(settings.clock, settings.clock_speed)
