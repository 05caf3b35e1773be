"""The answer: a plan of routes made of typed steps, unassigned visits with reasons, a summary.

Same units as the problem: seconds from the night's start, durations in seconds.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Plan",
    "PromiseRelaxed",
    "ReasonCode",
    "Route",
    "SolverStats",
    "Step",
    "StepType",
    "Summary",
    "Unassigned",
    "Violation",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepType(StrEnum):
    """What a nurse does at a step of her route."""

    START = "start"
    VISIT = "visit"
    BREAK = "break"
    RESTOCK = "restock"
    END = "end"


class Step(_Frozen):
    """One step: travel to ``location``, maybe wait, then spend ``start``..``end`` there.

    ``travel_seconds`` is the drive from the previous step's location, also one she was on
    when a live plan was made (begun before it); ``lateness_seconds`` is past the urgency
    target (unplanned care) or past the window (a violation).
    """

    type: StepType
    visit_id: str | None = None
    location: int
    travel_seconds: int = 0
    arrival: int
    waiting_seconds: int = 0
    start: int
    end: int
    lateness_seconds: int = 0
    load: dict[str, int] = Field(
        default_factory=dict, description="bag contents after this step (item -> quantity)"
    )


class Route(_Frozen):
    """A nurse's night as ordered steps, from `start` to `end`."""

    nurse_id: str
    steps: list[Step]
    travel_seconds: int
    visit_count: int

    def visit_ids(self) -> list[str]:
        """The visits of this route, in order."""
        return [s.visit_id for s in self.steps if s.type == StepType.VISIT and s.visit_id]


class ReasonCode(StrEnum):
    """Why a visit is not in the plan."""

    NO_SKILLED_NURSE = "no_skilled_nurse"
    NOT_ENOUGH_NURSES = "not_enough_nurses"
    OUTSIDE_SHIFTS = "outside_shifts"
    UNREACHABLE_IN_WINDOW = "unreachable_in_window"
    PIN_INFEASIBLE = "pin_infeasible"
    NO_CAPACITY = "no_capacity"
    NO_PLAN_IN_TIME = "no_plan_in_time"
    DISPLACED = "displaced"
    COULD_NOT_GET_IN = "could_not_get_in"
    LINK_INFEASIBLE = "link_infeasible"
    #: Its agreed window closed before the re-plan and nothing says it was begun (a phone
    #: that never reported): nobody could still be "in time", and the visit may well be done.
    WINDOW_PASSED = "window_passed"
    #: The planner moved it out of the plan by hand (`Visit.held`); it stays out of every
    #: re-plan until she moves it onto a route. Never chosen by the solver itself.
    HELD_BY_PLANNER = "held_by_planner"


class Unassigned(_Frozen):
    """A visit left out, with a code for machines and a sentence for the planner."""

    visit_id: str
    urgency: str
    reason: ReasonCode
    message: str


class Violation(_Frozen):
    """A broken rule, as found by the checker or by evaluating a hand-made plan."""

    code: str
    message: str
    visit_id: str | None = None
    nurse_id: str | None = None


class PromiseRelaxed(_Frozen):
    """A call's promised latest start (`Visit.promised_by`) a re-plan could not hold: the
    night's facts (her route as it now stands: a visit running over, a nurse held up) put
    the call past it before any re-plan moved it. ``start`` is where the current plan, laid
    out on those facts, has it; ``None`` when it is no longer in a route."""

    visit_id: str
    promised_by: int
    start: int | None
    nurse_id: str | None
    reason: str = Field(description="running_late | off_shift | not_in_route")
    message: str


#: `SolverStats.status` of a live re-plan that ran out of time and kept the current routes.
OUT_OF_TIME = "out of time: current plan kept"


class SolverStats(_Frozen):
    """How the plan was found."""

    method: str
    seconds: float
    objective: int | None = None
    status: str = ""


class Summary(_Frozen):
    """What the routes add up to."""

    travel_seconds: int
    visits_planned: int
    visits_unassigned: int
    visits_per_nurse: dict[str, int]
    lateness_seconds_by_urgency: dict[str, int]
    late_visits_by_urgency: dict[str, int]
    travel_estimated: bool = Field(
        description="true when travel times are straight-line estimates, not road travel"
    )


class Plan(_Frozen):
    """A night's plan: routes, unassigned visits, a summary and any violated rules."""

    routes: list[Route]
    unassigned: list[Unassigned]
    summary: Summary
    violations: list[Violation] = Field(default_factory=list)
    stats: SolverStats | None = None
    promises_relaxed: list[PromiseRelaxed] = Field(
        default_factory=list,
        description="live re-plan: calls whose promised start the night's facts made impossible",
    )

    def route(self, nurse_id: str) -> Route:
        """The route of ``nurse_id``."""
        for route in self.routes:
            if route.nurse_id == nurse_id:
                return route
        raise KeyError(nurse_id)

    def assignments(self) -> dict[str, list[str]]:
        """Visit id -> the nurses who perform it."""
        result: dict[str, list[str]] = {}
        for route in self.routes:
            for visit_id in route.visit_ids():
                result.setdefault(visit_id, []).append(route.nurse_id)
        return result
