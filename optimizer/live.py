"""The live night: the state at a moment, and what changes when a call comes in.

`state_at` turns "the plan as it was being followed" into a problem whose past is fixed:
visits begun before ``now`` are started or done, every nurse stands where she is, the bag
holds what is left. `solve(..., warm_start=plan)` then re-plans from there.
"""

from __future__ import annotations

from itertools import pairwise

from optimizer.model import Problem, Visit, VisitState
from optimizer.plan import Plan, StepType

__all__ = ["state_at", "with_visit"]


def state_at(problem: Problem, plan: Plan, now: int) -> Problem:
    """``problem`` as it stands at ``now`` if every nurse has followed ``plan`` until then.

    Visits whose service has begun are ``started`` (or ``done`` once over) with their
    nurses; a nurse on her way to a visit is ``en_route`` to it; every planned visit is
    published to its nurse, so moving it costs stability.
    """
    visits = {v.id: v for v in problem.visits}
    updates: dict[str, dict[str, object]] = {}
    # A visit has begun once all its nurses have begun it: a two-person visit with one nurse
    # at the door is still to come (she waits there for her colleague).
    begun_by: dict[str, list[tuple[str, int]]] = {}
    for route in plan.routes:
        for step in route.steps:
            if step.type == StepType.VISIT and step.visit_id and step.start <= now:
                begun_by.setdefault(step.visit_id, []).append((route.nurse_id, step.start))
    nurses = []
    for nurse in problem.nurses:
        try:
            route = plan.route(nurse.id)
        except KeyError:
            nurses.append(nurse)
            continue
        location, available = nurse.start_location, max(now, nurse.shift.start)
        bag = dict(nurse.bag_now if nurse.bag_now is not None else nurse.bag)
        break_taken = nurse.break_taken
        for previous, step in pairwise(route.steps):
            if step.type == StepType.END:
                if previous.end <= now:  # on her way home, or home
                    location, available = step.location, max(now, step.arrival)
                break
            begun = step.start <= now
            if step.type == StepType.VISIT and step.visit_id is not None:
                needed = visits[step.visit_id].nurses_needed
                if begun and len(begun_by.get(step.visit_id, [])) < needed:
                    begun = False
                    location, available = step.location, now
            # Between the previous step and this one. A timeline leaves at once and waits at
            # the door, but she need not leave before the latest moment that still makes the
            # start: until then she is free (to restock, or for another call) at the previous
            # place; from then on she is on the road to this step and committed to it.
            latest_departure = step.start - step.travel_seconds
            driving = max(previous.end, latest_departure) <= now < step.start
            if driving:
                location, available = step.location, max(now, step.arrival)
            if step.type == StepType.VISIT and step.visit_id is not None:
                visit = visits[step.visit_id]
                if visit.is_locked:
                    location = step.location
                    available = max(available, step.end)
                    continue
                if begun:
                    state = VisitState.DONE if step.end <= now else VisitState.STARTED
                    together = begun_by[visit.id]
                    updates.setdefault(visit.id, {}).update(
                        state=state,
                        started_at=min(start for _, start in together),
                        assigned_nurses=tuple(nurse_id for nurse_id, _ in together),
                    )
                    location, available = step.location, max(now, step.end)
                    for item, quantity in visit.materials.items():
                        bag[item] = bag.get(item, 0) - quantity
                elif driving and visit.nurses_needed == 1:
                    updates.setdefault(visit.id, {}).update(
                        state=VisitState.EN_ROUTE, assigned_nurses=(nurse.id,)
                    )
                if not begun:
                    updates.setdefault(visit.id, {}).setdefault("published_nurse", nurse.id)
            elif step.type == StepType.BREAK and begun:
                break_taken = True
                location, available = step.location, max(now, step.end)
            elif step.type == StepType.RESTOCK and begun:
                bag = dict(nurse.bag)
                location, available = step.location, max(now, step.end)
        nurses.append(
            nurse.model_copy(
                update={
                    "current_location": location,
                    "available_at": available,
                    "bag_now": {item: max(0, q) for item, q in bag.items()},
                    "break_taken": break_taken,
                }
            )
        )
    new_visits = [
        visits[v.id].model_copy(update=updates[v.id]) if v.id in updates else v
        for v in problem.visits
    ]
    return problem.model_copy(update={"nurses": nurses, "visits": new_visits, "now": now})


def with_visit(problem: Problem, visit: Visit) -> Problem:
    """``problem`` with one more visit (its location must already be in the matrices)."""
    return problem.model_copy(update={"visits": [*problem.visits, visit]})
