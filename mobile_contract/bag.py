"""The night bag (nachttas): the team's template, the shift-start check, and the restock list.

Units: counts of items, identified by ``item_id`` in the team's template; timestamps UTC.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from mobile_contract._base import ContractModel, Identifier, ItemQuantity, UtcDateTime

__all__ = [
    "BagCheck",
    "BagItem",
    "BagStatus",
    "BagTemplate",
    "RestockLine",
    "RestockList",
    "Shortage",
]

Count = Annotated[int, Field(ge=0, le=10_000)]


class BagItem(ContractModel):
    """Units: counts. One item of the bag: the minimum to start a shift with, and a full bag."""

    item_id: Identifier
    label: str = Field(max_length=120, examples=["Insulinenaalden / insulin needles"])
    minimum: Count = Field(description="a shift does not start with fewer")
    full: Count = Field(description="how many a full bag holds (what restocking refills to)")

    @model_validator(mode="after")
    def _minimum_fits(self) -> Self:
        if self.minimum > self.full:
            raise ValueError(f"{self.item_id}: minimum {self.minimum} exceeds full {self.full}")
        return self


class BagTemplate(ContractModel):
    """The team's night bag: every item with its minimum and full quantity."""

    team_id: Identifier
    version: Annotated[int, Field(ge=1)]
    items: list[BagItem] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique_items(self) -> Self:
        ids = [item.item_id for item in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("items: an item_id appears twice")
        return self

    def item(self, item_id: str) -> BagItem:
        """The item with ``item_id``."""
        for item in self.items:
            if item.item_id == item_id:
                return item
        raise KeyError(item_id)


class BagCheck(ContractModel):
    """Units: counts. The shift-start checklist: what the nurse counted in the bag.

    An item of the template that is not listed counts as zero.
    """

    template_version: Annotated[int, Field(ge=1)]
    counted: list[ItemQuantity] = Field(max_length=500)

    @model_validator(mode="after")
    def _unique_items(self) -> Self:
        ids = [line.item_id for line in self.counted]
        if len(ids) != len(set(ids)):
            raise ValueError("counted: an item_id appears twice")
        return self


class Shortage(ContractModel):
    """Units: counts. An item below its minimum; reported to the planner."""

    item_id: Identifier
    label: str
    counted: Count
    minimum: Count
    missing: Annotated[int, Field(ge=1)]


class BagStatus(ContractModel):
    """Units: counts, timestamps UTC. The bag now: counted at shift start minus what was used."""

    checked_at: UtcDateTime | None = Field(description="the shift-start check; null before it")
    contents: list[ItemQuantity]
    shortages: list[Shortage] = Field(description="items below their minimum now")


class RestockLine(ContractModel):
    """Units: counts. How many of an item to put back to make the bag full."""

    item_id: Identifier
    label: str
    remaining: Count
    full: Count
    to_add: Annotated[int, Field(ge=1)]
    below_minimum: bool


class RestockList(ContractModel):
    """Units: counts, timestamps UTC. At shift end: what to refill, for the next shift."""

    generated_at: UtcDateTime
    lines: list[RestockLine]
