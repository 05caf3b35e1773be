"""The night's problem model and its OR-Tools solver. No HTTP, no database, no OSM here.

from optimizer import Problem, solve, check
plan = solve(Problem.model_validate_json(text), time_limit=5)
assert check(problem, plan) == []
"""

from optimizer.checker import check
from optimizer.evaluate import evaluate
from optimizer.live import state_at, with_visit
from optimizer.model import (
    BreakRule,
    Location,
    Night,
    Nurse,
    Pin,
    Problem,
    TimeWindow,
    TravelMatrix,
    UrgencyClass,
    Visit,
    VisitState,
)
from optimizer.plan import Plan, ReasonCode, Route, Step, StepType, Summary, Unassigned
from optimizer.quote import InsertionOption, quote
from optimizer.solve import solve

__all__ = [
    "BreakRule",
    "InsertionOption",
    "Location",
    "Night",
    "Nurse",
    "Pin",
    "Plan",
    "Problem",
    "ReasonCode",
    "Route",
    "Step",
    "StepType",
    "Summary",
    "TimeWindow",
    "TravelMatrix",
    "Unassigned",
    "UrgencyClass",
    "Visit",
    "VisitState",
    "check",
    "evaluate",
    "quote",
    "solve",
    "state_at",
    "with_visit",
]
