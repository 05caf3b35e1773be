"""The baselines choose a nurse for a call by what a dispatcher can know: when a busy nurse is
expected free (her care's nominal minutes), not when she will be (its actual minutes, the
night's noise). Choosing by the actual minutes gave `nearest_free` a foresight the service's
answers cannot have, and its response figures were compared with the service's (issue 11).
Fictional night; places are numbers, minutes from 23:00."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.simulation.generate import Call, Faults, NightSpec, Planned
from api.simulation.params import SimParams
from api.simulation.policies import play_baseline


def _planned(key: str, place: int, start: int, nominal: int, actual: float) -> Planned:
    return Planned(
        key=key,
        place=place,
        care_task="medication",
        service_minutes=nominal,
        skills=(),
        window=(start, start + 60),
        recurring=False,
        actual_minutes=actual,
        travel_factor=1.0,
        key_safe_fails=False,
    )


def _night(a_actual: float, b_actual: float) -> NightSpec:
    """N0 at place 1 and N1 at place 2, each on 30 nominal minutes of care from minute 10;
    an acute call at minute 20 at place 3, 5 minutes from N0 and 6 from N1."""
    call = Call(
        key="C0",
        place=3,
        minute=20.0,
        urgency="acute",
        care_task="medication",
        service_minutes=20,
        actual_minutes=20.0,
        travel_factor=1.0,
        key_safe_fails=False,
    )
    return NightSpec(
        number=0,
        night_date=date(2026, 11, 2),
        planned=[_planned("P0", 1, 10, 30, a_actual), _planned("P1", 2, 10, 30, b_actual)],
        calls=[call],
        faults=Faults(),
    )


def _travel(a: int, b: int) -> float:
    if a == b:
        return 0.0
    if {a, b} == {1, 3}:
        return 5.0
    if {a, b} == {2, 3}:
        return 6.0
    return 0.0  # from the base (-1): both on site at minute 10


@pytest.mark.parametrize("policy", ["nearest_free", "nearest_free_rule"])
def test_the_call_goes_to_the_nurse_expected_first_not_the_one_whose_care_runs_short(
    policy: str,
) -> None:
    """Both nurses are expected free at minute 40; N1's care will in fact take 10 minutes
    (free at 20), N0's its 30. Expected: N0 (5 minutes away) arrives at 45, N1 at 46, so
    the call goes to N0. By actual minutes N1 looked free at once (on site at 26)."""
    record = play_baseline(policy, _night(30.0, 10.0), [["P0"], ["P1"]], _travel, SimParams())
    [call] = record.calls
    assert call.on_site == pytest.approx(45.0)


@settings(max_examples=30, deadline=None)
@given(
    a_actual=st.floats(10.5, 60),
    b_actual=st.floats(10.5, 60),
)
def test_who_takes_the_call_never_depends_on_how_long_care_will_really_take(
    a_actual: float, b_actual: float
) -> None:
    """Property: while both are still at their care when the call comes (each reported
    when she began, neither yet done), the nurse it goes to is the same whatever the care's
    actual minutes: N0, on site once her care really ends and she has driven there."""
    record = play_baseline(
        "nearest_free", _night(a_actual, b_actual), [["P0"], ["P1"]], _travel, SimParams()
    )
    [call] = record.calls
    # N0 is chosen: on site 5 minutes after her care really ends (or at the call, if idle).
    assert call.on_site == pytest.approx(max(20.0, 10.0 + a_actual) + 5.0)
