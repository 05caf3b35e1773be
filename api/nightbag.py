"""The night bag (nachttas): shortages at shift start, what to take per visit, what is left,
and what to refill at shift end.

Units: counts of items, by ``item_id`` of the team's `BagTemplate`. Pure functions: the
template and the shift's events (`api.offline_events.ShiftState`) come in, contract models
go out. What is left feeds the optimizer's restock stop as ``Nurse.bag_now`` (with
``Nurse.bag`` the template's full quantities).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from api.offline_events import ShiftState
from mobile_contract._base import ItemQuantity
from mobile_contract.bag import BagStatus, BagTemplate, RestockLine, RestockList, Shortage
from mobile_contract.route import MaterialToTake

__all__ = [
    "bag_status",
    "full_bag",
    "materials_to_take",
    "optimizer_bag_now",
    "remaining",
    "restock_list",
    "shortages",
]


def _counts(lines: Iterable[ItemQuantity]) -> dict[str, int]:
    return {line.item_id: line.quantity for line in lines}


def shortages(template: BagTemplate, contents: Mapping[str, int]) -> list[Shortage]:
    """Every template item below its minimum in ``contents`` (missing items count as 0)."""
    found = []
    for item in template.items:
        counted = contents.get(item.item_id, 0)
        if counted < item.minimum:
            found.append(
                Shortage(
                    item_id=item.item_id,
                    label=item.label,
                    counted=counted,
                    minimum=item.minimum,
                    missing=item.minimum - counted,
                )
            )
    return found


def materials_to_take(template: BagTemplate, materials: Mapping[str, int]) -> list[MaterialToTake]:
    """What to take from the bag into the house for a visit, with the template's labels.

    An item the template does not know is still listed (labelled by its id): the nurse must
    know it is needed even if the bag does not carry it.
    """
    labels = {item.item_id: item.label for item in template.items}
    return [
        MaterialToTake(item_id=item_id, label=labels.get(item_id, item_id), quantity=quantity)
        for item_id, quantity in materials.items()
        if quantity > 0
    ]


def remaining(template: BagTemplate, state: ShiftState) -> dict[str, int]:
    """What is in the bag now: the shift-start count less what completed visits used.

    A recount at shift end replaces the arithmetic. Without a shift-start check the bag is
    taken as full. Never below zero (more used than counted means the count was short).
    """
    if state.bag_counted_at_end is not None:
        counted = _counts(state.bag_counted_at_end)
        return {item.item_id: counted.get(item.item_id, 0) for item in template.items}
    start = _counts(state.bag_check.counted) if state.bag_check else full_bag(template)
    return {
        item.item_id: max(0, start.get(item.item_id, 0) - state.materials_used.get(item.item_id, 0))
        for item in template.items
    }


def bag_status(template: BagTemplate, state: ShiftState) -> BagStatus:
    """The bag now and its shortages, for the phone and the planner."""
    now = remaining(template, state)
    return BagStatus(
        checked_at=state.shift_started_at if state.bag_check else None,
        contents=[ItemQuantity(item_id=k, quantity=v) for k, v in now.items()],
        shortages=shortages(template, now),
    )


def restock_list(
    template: BagTemplate, contents: Mapping[str, int], *, generated_at: datetime
) -> RestockList:
    """What to put back to make the bag full again, item by item (full items left out)."""
    lines = []
    for item in template.items:
        left = min(contents.get(item.item_id, 0), item.full)
        if left < item.full:
            lines.append(
                RestockLine(
                    item_id=item.item_id,
                    label=item.label,
                    remaining=left,
                    full=item.full,
                    to_add=item.full - left,
                    below_minimum=left < item.minimum,
                )
            )
    return RestockList(generated_at=generated_at, lines=lines)


def full_bag(template: BagTemplate) -> dict[str, int]:
    """A full bag (the optimizer's ``Nurse.bag``)."""
    return {item.item_id: item.full for item in template.items}


def optimizer_bag_now(template: BagTemplate, contents: Mapping[str, int]) -> dict[str, int]:
    """What is left, as the optimizer's ``Nurse.bag_now`` (never more than a full bag)."""
    return {item.item_id: min(contents.get(item.item_id, 0), item.full) for item in template.items}
