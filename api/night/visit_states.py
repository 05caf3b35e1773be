"""The visit-status state machine: one set of transitions, one function that applies a change.

Statuses (``Visit.status``), and the allowed changes (forward steps may be skipped)::

    open ──► could_not_get_in ──► started ──► done
     │               │               ▲          ▲
     └──► cancelled ◄┘               └──────────┴── cancelled (care given after all)

- A visit moves forward only: nobody un-starts a visit or un-finishes it.
- ``could_not_get_in`` comes before ``started``: she may get in on a second try, but a visit
  she has started (she is inside) cannot become could-not-get-in. A planner who sends a nurse
  again (moves the visit onto a route) re-opens it: could_not_get_in → open.
- ``cancelled`` is for visits not begun (``open``, ``could_not_get_in``); a begun visit stays
  what it is when its request is cancelled. A nurse who reports care given on a visit
  cancelled while she was offline is believed (``started``/``done``): what was given is not
  lost. ``done`` is final.

`decide` answers *whether*: ``apply``, ``already`` (the change repeats or precedes what is
known, e.g. ``started`` on a done visit: history, nothing to change) or ``refused``.
`change_visit` applies a change or raises `TransitionRefused` (409 problem+json naming the
visit and both statuses). A report through ``POST /nights/{date}/events`` must change
something (``already`` is a 409 too); a phone's event that is ``already`` is accepted as
history (phones resend and arrive out of order), one that is refused is rejected with
``visit_state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from api.core.problems import Conflict
from api.db.models import Night, NightEvent, Visit
from api.repositories import nights
from mobile_contract.route import VisitProgress

__all__ = [
    "ALLOWED",
    "PROGRESS_RANK",
    "PROGRESS_STATUS",
    "STATUS_PROGRESS",
    "Decision",
    "TransitionRefused",
    "VisitStatus",
    "change_visit",
    "decide",
    "may_follow_request",
]


class VisitStatus(StrEnum):
    """A visit's status, as stored in ``Visit.status``."""

    OPEN = "open"
    COULD_NOT_GET_IN = "could_not_get_in"
    STARTED = "started"
    DONE = "done"
    CANCELLED = "cancelled"


#: The one set of allowed transitions (from -> to).
ALLOWED: Mapping[VisitStatus, frozenset[VisitStatus]] = {
    VisitStatus.OPEN: frozenset(
        {
            VisitStatus.COULD_NOT_GET_IN,
            VisitStatus.STARTED,
            VisitStatus.DONE,
            VisitStatus.CANCELLED,
        }
    ),
    VisitStatus.COULD_NOT_GET_IN: frozenset(
        {VisitStatus.STARTED, VisitStatus.DONE, VisitStatus.CANCELLED, VisitStatus.OPEN}
    ),
    VisitStatus.STARTED: frozenset({VisitStatus.DONE}),
    VisitStatus.DONE: frozenset(),
    VisitStatus.CANCELLED: frozenset({VisitStatus.STARTED, VisitStatus.DONE}),
}

#: Changes that repeat or precede what is already known: history, not a contradiction.
_HISTORY: frozenset[tuple[VisitStatus, VisitStatus]] = frozenset(
    {
        *((s, s) for s in VisitStatus),
        (VisitStatus.DONE, VisitStatus.STARTED),
        (VisitStatus.CANCELLED, VisitStatus.COULD_NOT_GET_IN),
    }
)


#: The phone's view of the same rules: how far along a visit is (its progress only moves
#: forward, whatever order its events arrive in). Could-not-get-in comes before started,
#: as above; en route and at the door are steps the status does not record.
PROGRESS_RANK: Mapping[VisitProgress, int] = {
    VisitProgress.PLANNED: 0,
    VisitProgress.EN_ROUTE: 1,
    VisitProgress.ARRIVED: 2,
    VisitProgress.COULD_NOT_GET_IN: 3,
    VisitProgress.STARTED: 4,
    VisitProgress.COMPLETED: 5,
}

#: Status -> the progress a phone shows, and back (progress the status does not record: none).
STATUS_PROGRESS: Mapping[VisitStatus, VisitProgress] = {
    VisitStatus.OPEN: VisitProgress.PLANNED,
    VisitStatus.COULD_NOT_GET_IN: VisitProgress.COULD_NOT_GET_IN,
    VisitStatus.STARTED: VisitProgress.STARTED,
    VisitStatus.DONE: VisitProgress.COMPLETED,
    VisitStatus.CANCELLED: VisitProgress.PLANNED,
}
PROGRESS_STATUS: Mapping[VisitProgress, VisitStatus] = {
    VisitProgress.COULD_NOT_GET_IN: VisitStatus.COULD_NOT_GET_IN,
    VisitProgress.STARTED: VisitStatus.STARTED,
    VisitProgress.COMPLETED: VisitStatus.DONE,
}


class Decision(StrEnum):
    """What a requested change does: applied, already known (nothing to do), or refused."""

    APPLY = "apply"
    ALREADY = "already"
    REFUSED = "refused"


def decide(current: str, target: str) -> Decision:
    """Whether ``current`` may become ``target``; `ValueError` for an unknown status."""
    before, after = VisitStatus(current), VisitStatus(target)
    if (before, after) in _HISTORY:
        return Decision.ALREADY
    return Decision.APPLY if after in ALLOWED[before] else Decision.REFUSED


class TransitionRefused(Conflict):
    """409: the visit's status may not change this way (the body names the visit and both)."""

    slug, title = "visit-transition-refused", "Visit status change refused"

    def __init__(self, visit_id: int, current: str, target: str) -> None:
        super().__init__(
            f"visit {visit_id} is {current}; it cannot become {target}",
            extra={"visit_id": visit_id, "from_status": current, "to_status": target},
        )


def may_follow_request(status: str) -> bool:
    """Whether a visit follows its request's amend or cancel (it has not begun)."""
    return decide(status, VisitStatus.CANCELLED) == Decision.APPLY


def change_visit(
    session: Session,
    night: Night,
    visit: Visit,
    target: VisitStatus,
    *,
    at: datetime,
    began: int | None = None,
    nurse_id: int | None = None,
    user_id: int | None = None,
    record: bool = True,
    received_at: datetime | None = None,
) -> NightEvent | None:
    """Move ``visit`` to ``target`` (else `TransitionRefused`) and record the night event.

    ``began``: when care began (started and done), in seconds from the night's start, from
    times already validated (`api.night.device_time`); kept inside the night and not before
    the visit's call, and an earlier start is kept. ``nurse_id``: who did it; ``at``: the
    event's time. Returns the recorded night event (None with ``record=False``);
    ``received_at``: the server's clock when ``at`` is a phone's (earlier) time. The caller
    commits.
    """
    if decide(visit.status, target) != Decision.APPLY:
        raise TransitionRefused(visit.id, visit.status, target.value)
    if target in (VisitStatus.STARTED, VisitStatus.DONE):
        if nurse_id is not None:
            visit.done_by_nurse_id = nurse_id
        if visit.started_at is None and began is not None:
            # Never before the call it answers was made (R21B-06): a phone's time, or its
            # clock offset, put care 15 minutes before the call, and the month report gave
            # the partner a negative response 'within target'.
            earliest = max(0, visit.call_time or 0)
            visit.started_at = min(max(earliest, began), nights.horizon(night))
    visit.status = target.value
    if not record:
        return None
    return nights.add_event(
        session,
        night,
        kind=target.value,
        at=at,
        nurse_id=nurse_id,
        visit_id=visit.id,
        user_id=user_id,
        received_at=received_at,
    )
