"""One validation of a phone's clock: which moment a device time is taken as, and why.

A phone's clock can be hours or years off. Its times are kept as sent in the event log (a
resent event must match itself), but wherever one is *used* (when care began or ended, when a
back-up call came) it goes through `device_moment`: a time inside the night and not after the
server's clock (plus ``tolerance``) is believed; otherwise it is clamped into
``[night start, min(night end, server now)]`` with a sentence saying so. A clamped time can
never lie after the server's now, so it cannot put the past in the future of a live re-plan
and make the plan infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api.db.models import Night

__all__ = ["DeviceMoment", "device_moment"]


@dataclass(frozen=True, slots=True)
class DeviceMoment:
    """A device time as used: the moment, in seconds from the night's start, and a reason
    (``""`` when the device time was believed)."""

    at: datetime
    seconds: int
    note: str


def device_moment(
    night: Night, device_time: datetime, *, now: datetime, tolerance: timedelta
) -> DeviceMoment:
    """``device_time`` checked against the night and the server's clock ``now``.

    Within ``tolerance`` ahead of ``now`` the time is taken as ``now`` silently (clocks drift
    a little); further ahead, or outside the night, it is clamped with a note.
    """
    latest = min(night.ends_at, max(night.starts_at, now))
    note = ""
    moment = device_time
    if device_time > now + tolerance:
        note = f"device_time {device_time.isoformat()} is ahead of the server's clock"
    elif device_time < night.starts_at:
        note = f"device_time {device_time.isoformat()} is before the night"
    elif device_time > night.ends_at:
        note = f"device_time {device_time.isoformat()} is after the night"
    moment = min(max(moment, night.starts_at), latest)
    if note:
        note = f"{note}; taken as {moment.isoformat()}"
    seconds = int((moment - night.starts_at).total_seconds())
    return DeviceMoment(at=moment, seconds=seconds, note=note[:300])
