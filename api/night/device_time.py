"""One validation of a phone's clock: which moment a device time is taken as, and why.

A phone's clock can be hours or years off. Its times are kept as sent in the event log (a
resent event must match itself), but wherever one is *used* (when care began or ended, when a
back-up call came) it goes through `device_moment`: a time inside the night and not after the
server's clock (plus ``tolerance``) is believed; otherwise it is clamped into
``[night start, min(night end, server now)]`` with a sentence saying so. A clamped time can
never lie after the server's now, so it cannot put the past in the future of a live re-plan
and make the plan infeasible.

A phone's clock can also be wrong *inside* the night (40 minutes slow: every time is
believed, and a call reached late looks reached before it was made). Each batch says when
the phone sent it (``sent_at``, by the phone's clock); the server's receipt time minus
``sent_at`` is that phone's clock offset (`batch_clock_offset`), stored with each event of
the batch (`event_clock_offset`) and added to its device time wherever the time is used
(`corrected_time`, then `device_moment` as before). The estimate is believed only within
bounds that make it a clock error and not something else:

- a few seconds are the network and the phone's rounding, not a clock error: an offset of
  at most `OFFSET_DEADBAND` either way is taken as zero;
- an offset of more than `OFFSET_LIMIT` is a clock reset or a forged ``sent_at``: not used
  (the event's time is clamped as for a phone without ``sent_at``);
- an event recorded *after* the batch was sent by the same clock (plus the dead band), or
  longer than `OFFSET_LIMIT` before it, says the clock jumped in between: no offset for it.

A batch held offline for an hour still carries ``sent_at`` = when it was really sent, so the
offset is the clock's, not the hour's. A batch *delivered* late with the ``sent_at`` of its
first try (a queue, a retry of the same bytes; R21B-08) cannot be told from a clock set back
by that batch alone: both raise the measured offset. So the offset is judged per device
against her previous batch (`DeviceClock`, the same night): a measured offset larger than the
previous one is the delivery's delay, and the previous offset stands, *unless* the phone's
clock visibly went back (``sent_at`` before the previous batch's ``sent_at`` or newest event
time): then it is the clock, set back, and the new offset is used. Comparing with the previous
``sent_at`` too (stored per event, R22B-01) keeps one batch whose ``sent_at`` ran ahead (a
clock jump, a forged body) from fixing its offset on every honest batch after it. A smaller
offset is always used (a delay cannot make an offset smaller: the clock was set forward, or
corrected). The limit, said in docs/mobile.md: a clock set back by less than the time since
its previous batch is read as a late delivery, and its times stand at the previous offset
(clamped as for old clients). A delay can only make the offset larger, i.e. the phone's times
*later*; a corrected time is never later than the server received the event. The key-safe
window is never opened sooner by an offset: an arrival counts no earlier than the phone said
(`api.services.phone._her_reports`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from api.db.models import Night
from mobile_contract.events import Event

__all__ = [
    "OFFSET_DEADBAND",
    "OFFSET_LIMIT",
    "DeviceClock",
    "DeviceMoment",
    "batch_clock_offset",
    "batch_offsets",
    "corrected_time",
    "device_moment",
    "event_clock_offset",
]

#: Offsets this small are the network and rounding, not a wrong clock: taken as zero.
OFFSET_DEADBAND = timedelta(seconds=60)
#: Offsets larger than this (and events this long before ``sent_at``) are not believed.
OFFSET_LIMIT = timedelta(hours=36)


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """What the device's previous batch (with an offset) said of its clock: the ``offset``
    taken for it (seconds) and ``clock_at``, the newest device time among its events (by the
    phone's clock, so at most its ``sent_at``)."""

    offset: int
    clock_at: datetime
    #: The batch's own ``sent_at`` (None: stored before it was kept, migration 0015).
    sent_at: datetime | None = None

    @property
    def clock_read(self) -> datetime:
        """The latest its clock said: a ``sent_at`` ahead of the events counts (R22B-01)."""
        return self.clock_at if self.sent_at is None else max(self.clock_at, self.sent_at)


def batch_clock_offset(
    sent_at: datetime | None, received_at: datetime, previous: DeviceClock | None = None
) -> int | None:
    """How far the phone's clock is behind the server's, in whole seconds (negative: ahead),
    from one batch's ``sent_at`` and when the server received it; ``None``: no ``sent_at``
    (an old client) or an offset too large to believe.

    With the device's ``previous`` batch: an offset larger than the previous one (beyond the
    dead band) is a late delivery, and the previous offset stands, unless ``sent_at`` lies
    before the latest the previous batch's clock said, its ``sent_at`` or newest event (the
    clock was set back, or that batch's ``sent_at`` ran ahead: R22B-01)."""
    if sent_at is None:
        return None
    offset = received_at - sent_at
    if abs(offset) > OFFSET_LIMIT:
        return None
    measured = 0 if abs(offset) <= OFFSET_DEADBAND else round(offset.total_seconds())
    if (
        previous is not None
        and measured > previous.offset + OFFSET_DEADBAND.total_seconds()
        and sent_at >= previous.clock_read - OFFSET_DEADBAND
    ):
        return previous.offset
    return measured


def event_clock_offset(
    device_time: datetime, sent_at: datetime | None, offset: int | None
) -> int | None:
    """The batch's ``offset`` for one of its events, or ``None`` when the event's own time
    says the phone's clock changed between recording it and sending the batch (recorded
    after ``sent_at``, or more than `OFFSET_LIMIT` before)."""
    if offset is None or sent_at is None:
        return None
    if device_time > sent_at + OFFSET_DEADBAND or device_time < sent_at - OFFSET_LIMIT:
        return None
    return offset


def batch_offsets(
    events: Iterable[tuple[int, Event]],
    sent_at: datetime | None,
    received_at: datetime,
    previous: DeviceClock | None = None,
) -> dict[UUID, int | None]:
    """Each event's clock offset (`event_clock_offset`) by its id, for a batch received at
    ``received_at`` (after the device's ``previous`` batch, `batch_clock_offset`)."""
    offset = batch_clock_offset(sent_at, received_at, previous)
    return {
        event.event_id: event_clock_offset(event.device_time, sent_at, offset)
        for _index, event in events
    }


def corrected_time(
    device_time: datetime, offset: int | None, received_at: datetime | None = None
) -> datetime:
    """``device_time`` on the server's clock: plus the phone's clock ``offset`` (seconds),
    never after ``received_at`` when the offset moved it later. Without an offset: as sent
    (`device_moment` clamps it)."""
    if not offset:
        return device_time
    moment = device_time + timedelta(seconds=offset)
    if received_at is not None and offset > 0:
        moment = min(moment, max(device_time, received_at))
    return moment


@dataclass(frozen=True, slots=True)
class DeviceMoment:
    """A device time as used: the moment, in seconds from the night's start, and a reason
    (``""`` when the device time was believed)."""

    at: datetime
    seconds: int
    note: str


def device_moment(
    night: Night,
    device_time: datetime,
    *,
    now: datetime,
    tolerance: timedelta,
    offset: int | None = None,
) -> DeviceMoment:
    """``device_time`` (plus the phone's clock ``offset``, `corrected_time`) checked against
    the night and the server's clock ``now``.

    Within ``tolerance`` ahead of ``now`` the time is taken as ``now`` silently (clocks drift
    a little); further ahead, or outside the night, it is clamped with a note. A corrected
    time says so in the note.
    """
    sent = device_time
    device_time = corrected_time(sent, offset, now)
    latest = min(night.ends_at, max(night.starts_at, now))
    note = ""
    moment = device_time
    if device_time > now + tolerance:
        note = f"device_time {sent.isoformat()} is ahead of the server's clock"
    elif device_time < night.starts_at:
        note = f"device_time {sent.isoformat()} is before the night"
    elif device_time > night.ends_at:
        note = f"device_time {sent.isoformat()} is after the night"
    elif device_time != sent:
        minutes = abs(device_time - sent).total_seconds() / 60
        way = "behind" if device_time > sent else "ahead of"
        note = (
            f"device_time {sent.isoformat()} is by a phone clock {minutes:.0f} min {way} "
            "the server's (sent_at)"
        )
    moment = min(max(moment, night.starts_at), latest)
    if note:
        note = f"{note}; taken as {moment.isoformat()}"
    seconds = int((moment - night.starts_at).total_seconds())
    return DeviceMoment(at=moment, seconds=seconds, note=note[:300])
