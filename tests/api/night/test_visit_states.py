"""The visit-status state machine: one set of transitions, forward only."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.night.visit_states import (
    ALLOWED,
    PROGRESS_RANK,
    PROGRESS_STATUS,
    STATUS_PROGRESS,
    Decision,
    VisitStatus,
    decide,
    may_follow_request,
)

_ORDER = {
    VisitStatus.OPEN: 0,
    VisitStatus.CANCELLED: 0,
    VisitStatus.COULD_NOT_GET_IN: 1,
    VisitStatus.STARTED: 2,
    VisitStatus.DONE: 3,
}


def test_a_started_visit_cannot_become_could_not_get_in() -> None:
    """The case the phone and the planner disagreed on is refused."""
    assert decide("started", "could_not_get_in") == Decision.REFUSED
    assert decide("done", "could_not_get_in") == Decision.REFUSED


def test_only_visits_not_begun_follow_their_request() -> None:
    """Amend and cancel reach open and could-not-get-in visits only."""
    assert [s.value for s in VisitStatus if may_follow_request(s)] == [
        "open",
        "could_not_get_in",
    ]


def test_repeats_and_earlier_steps_are_history() -> None:
    """A repeated status, or started on a done visit, is already known (not a refusal)."""
    assert all(decide(s, s) == Decision.ALREADY for s in VisitStatus)
    assert decide("done", "started") == Decision.ALREADY


@given(st.lists(st.sampled_from(list(VisitStatus)), max_size=12))
def test_applying_any_requests_only_moves_forward(requests: list[VisitStatus]) -> None:
    """Whatever is asked in whatever order, care given is never undone and done is final."""
    status = VisitStatus.OPEN
    for target in requests:
        decision = decide(status, target)
        if decision == Decision.APPLY:
            assert target in ALLOWED[status]
            begun_before = _ORDER[status] >= _ORDER[VisitStatus.STARTED]
            assert not (begun_before and _ORDER[target] < _ORDER[status])
            if target == VisitStatus.CANCELLED:
                assert status in (VisitStatus.OPEN, VisitStatus.COULD_NOT_GET_IN)
            status = target
        else:
            assert target not in ALLOWED[status]
    if VisitStatus.DONE in requests:
        assert status == VisitStatus.DONE


def test_the_phones_progress_order_agrees_with_the_transitions() -> None:
    """Between statuses a phone can report, a change is allowed exactly when it is a step
    forward in the phone's progress (one set of rules for both)."""
    reported = list(PROGRESS_STATUS.values())
    for before in [VisitStatus.OPEN, *reported]:
        for after in reported:
            rank_before = PROGRESS_RANK[STATUS_PROGRESS[before]]
            rank_after = PROGRESS_RANK[STATUS_PROGRESS[after]]
            forward = rank_after > rank_before
            assert (decide(before, after) == Decision.APPLY) == forward, (before, after)
