"""The sentence a pinned visit that cannot be kept is left out with (red team R06): the pin
keeps it out, named with its nurse and what to do, never "no nurse can" when another could.
Fictional nights on a line, one minute between points; times in seconds from 23:00."""

from __future__ import annotations

from optimizer.checker import check
from optimizer.plan import ReasonCode, Unassigned
from optimizer.solve import solve

from .conftest import HOUR, MINUTE, line_problem, nurse, planned, unplanned


def _left_out(
    problem_nurses: list[dict[str, object]], visits: list[dict[str, object]]
) -> dict[str, Unassigned]:
    plan = solve(line_problem(problem_nurses, visits), time_limit=0.5)
    return {u.visit_id: u for u in plan.unassigned}


def test_a_pinned_call_its_nurse_cannot_reach_names_the_pin_not_every_nurse() -> None:
    """N1's shift is shorter than the drive to V1 and back; N2 could go. It said "the drive
    there and back is longer than any nurse's shift"."""
    left = _left_out(
        [nurse("N1", shift={"start": 0, "end": 10 * MINUTE}), nurse("N2")],
        [unplanned("V1", 20, 5 * MINUTE, "acute", pin={"nurse": "N1"})],
    )
    assert left["V1"].reason == ReasonCode.PIN_INFEASIBLE
    assert left["V1"].message == (
        "pinned to N1, whose shift is shorter than the drive there and back: "
        "unpin it to let another nurse take it"
    )


def test_a_two_person_visit_pinned_to_one_nurse_is_planned_with_her_as_one_of_the_two() -> None:
    """Three nurses on shift. It said "needs 2 nurses with the right skills; 1 on shift",
    then (s19-nen) "the pin allows her alone": a pin let only N1 do either half, so a
    planner who pinned a transfer to N1 could never have it planned. The pinned nurse is
    one of the two."""
    problem = line_problem(
        [nurse("N1"), nurse("N2"), nurse("N3")],
        [planned("V1", 5, HOUR, 2 * HOUR, nurses_needed=2, pin={"nurse": "N1"})],
    )
    plan = solve(problem, time_limit=0.5)
    assert plan.unassigned == []
    nurses = plan.assignments()["V1"]
    assert "N1" in nurses and len(set(nurses)) == 2
    assert check(problem, plan) == []


def test_a_two_person_visit_pinned_to_a_nurse_who_cannot_do_it_names_her() -> None:
    """N1 lacks the skill; N2 and N3 have it: the pin keeps it out, not "no nurse can"."""
    left = _left_out(
        [nurse("N1", skills=["basic"]), nurse("N2"), nurse("N3")],
        [
            planned(
                "V1",
                5,
                HOUR,
                2 * HOUR,
                nurses_needed=2,
                pin={"nurse": "N1"},
                required_skills=["iv"],
            )
        ],
    )
    assert left["V1"].reason == ReasonCode.PIN_INFEASIBLE
    assert left["V1"].message.startswith("pinned to N1, who lacks a skill")


def test_a_pinned_visit_nobody_could_do_keeps_the_reason_for_all() -> None:
    """The drive is longer than every shift: not the pin's doing, so the general reason."""
    short = {"start": 0, "end": 10 * MINUTE}
    left = _left_out(
        [nurse("N1", shift=short), nurse("N2", shift=short)],
        [unplanned("V1", 20, 5 * MINUTE, "acute", pin={"nurse": "N1"})],
    )
    assert left["V1"].reason == ReasonCode.UNREACHABLE_IN_WINDOW
    assert "any nurse's shift" in left["V1"].message


def test_a_visit_that_fits_only_off_its_pinned_stop_says_so_not_that_it_moves_itself() -> None:
    """V1 (23:00-23:20) pinned as N1's stop 1 behind V2: it fits only as stop 0. It said
    "it only fits where it would move V1, pinned as her stop 1", V1 being itself."""
    left = _left_out(
        [nurse("N1")],
        [
            planned("V1", 5, 0, 20 * MINUTE, pin={"nurse": "N1", "position": 1}),
            planned("V2", 10, 0, 4 * HOUR),
        ],
    )
    assert left["V1"].reason == ReasonCode.PIN_INFEASIBLE
    assert left["V1"].message.startswith("pinned as N1's stop 1, where it does not fit")
    assert "move V1" not in left["V1"].message


def test_a_pinned_visit_its_nurse_has_no_room_for_names_her_not_every_nurse() -> None:
    """Two visits pinned to N1 at the same time and place; N2 is free. The one left out
    said "no nurse has room for it inside its agreed window tonight"."""
    left = _left_out(
        [nurse("N1"), nurse("N2")],
        [
            planned("V1", 5, 0, 20 * MINUTE, pin={"nurse": "N1"}, service_seconds=25 * MINUTE),
            planned("V2", 5, 0, 20 * MINUTE, pin={"nurse": "N1"}, service_seconds=25 * MINUTE),
        ],
    )
    [reason] = left.values()
    assert reason.message == (
        "pinned to N1, who has no room for it inside its agreed window tonight: "
        "unpin it to let another nurse take it"
    )
