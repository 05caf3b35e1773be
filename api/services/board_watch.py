"""What the board's live streams share: one version read per night per interval, however
many streams watch that night, and a cap on the streams one user holds open (R15; the
cap's mechanism, `StreamSlots`, is the phones' too)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.services.stream_slots import StreamSlots

__all__ = ["STREAMS_PER_USER", "BoardWatch"]

#: Open board streams one user may hold: a planner with a few tabs; the board falls back to
#: polling ``/board/version`` when the stream is refused.
STREAMS_PER_USER = 3


@dataclass
class _Reading:
    value: dict[str, Any] | None = None
    #: When ``value`` was read (the watch's clock, seconds).
    at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BoardWatch:
    """Shared version reads and per-user stream slots (``slots``) for one app (one event loop).

    ``read(night_date)`` is the blocking database read (``{"version", "replan_pending"}``);
    it runs in the thread pool at most once per ``interval`` seconds per night: streams
    that ask meanwhile get the last reading. ``clock``: seconds, monotonic (tests pass
    their own)."""

    def __init__(
        self,
        read: Callable[[date], dict[str, Any]],
        *,
        per_user: int = STREAMS_PER_USER,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.slots = StreamSlots(per_user)
        self.interval = interval
        self._clock = clock
        self._readings: dict[date, _Reading] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def current(self, night_date: date) -> dict[str, Any]:
        """The night's version reading, at most ``interval`` seconds old."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # locks belong to one loop (a restarted app, a test's run)
            self._loop, self._readings = loop, {}
        reading = self._readings.get(night_date)
        if reading is None:
            self._forget_old()
            reading = self._readings[night_date] = _Reading()
        async with reading.lock:  # one read in flight per night; the others wait for it
            if reading.value is None or self._clock() - reading.at >= self.interval:
                reading.value = await run_in_threadpool(self._read, night_date)
                reading.at = self._clock()
            return reading.value

    def _forget_old(self) -> None:
        # Nights nobody watched for a minute; keeps the table as small as the nights watched.
        now = self._clock()
        for night_date in [
            d
            for d, r in self._readings.items()
            if now - r.at > 60 and not r.lock.locked() and r.value is not None
        ]:
            del self._readings[night_date]
