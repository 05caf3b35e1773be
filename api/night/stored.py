"""Stored plans and routes read back as typed models, never as dictionaries by string keys.

A plan version stores `optimizer.plan.Plan` as JSON; a route version stores the steps a
nurse's phone shows, `StoredStep` (times in seconds from the night's start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from api.db.models import PlanVersion, RouteVersion
from optimizer.plan import Plan, StepType

__all__ = ["StoredStep", "plan_of", "route_of", "stored_steps", "visit_ids_of"]


class StoredStep(BaseModel):
    """One step of a stored route version: its type, visit (database id) and times.

    Units: seconds from the night's start; ``arrival <= start <= end``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: StepType
    visit_id: int | None = None
    arrival: int
    start: int
    end: int


_STEPS = TypeAdapter(list[StoredStep])


def stored_steps(raw: Sequence[Any] | None) -> list[StoredStep]:
    """A route version's ``steps`` column as typed steps."""
    return _STEPS.validate_python(list(raw or []))


def route_of(route: RouteVersion) -> list[StoredStep]:
    """The typed steps of a route version."""
    return stored_steps(route.steps)


def visit_ids_of(steps: Iterable[StoredStep]) -> list[int]:
    """The visits of ``steps`` in order (database ids)."""
    return [s.visit_id for s in steps if s.visit_id is not None]


def plan_of(version: PlanVersion) -> Plan:
    """A stored plan version's plan."""
    return Plan.model_validate(version.plan)
