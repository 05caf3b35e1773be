"""Clients: display name, address and location, access instructions, key safe yes/no.

No BSN, no diagnosis, no key-safe code: the night's work does not need them here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from api.schemas.common import FreeText, NameText, Strict

__all__ = ["ClientCreate", "ClientPublic", "ClientUpdate"]

# Any point on earth here; the service refuses one outside the region's own area (422 naming
# the field, `api.repositories.clients`), so a region outside the Netherlands works too.
Lat = Annotated[
    float,
    Field(ge=-90, le=90, allow_inf_nan=False, description="WGS84 degrees, in the region's area"),
]
Lon = Annotated[
    float,
    Field(ge=-180, le=180, allow_inf_nan=False, description="WGS84 degrees, in the region's area"),
]


class ClientBase(Strict):
    external_ref: Annotated[NameText, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="your own reference for this client (not a BSN)"
    )
    display_name: Annotated[NameText, Field(min_length=1, max_length=120)]
    address: Annotated[NameText, Field(min_length=1, max_length=200)]
    lat: Lat
    lon: Lon
    access_instructions: Annotated[FreeText, Field(max_length=1000)] = ""
    key_safe_present: bool = False


class ClientCreate(ClientBase):
    """A client as a partner registers it."""


class ClientUpdate(Strict):
    """Fields to change; left out means unchanged."""

    external_ref: Annotated[NameText, Field(min_length=1, max_length=64)] | None = None
    display_name: Annotated[NameText, Field(min_length=1, max_length=120)] | None = None
    address: Annotated[NameText, Field(min_length=1, max_length=200)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    access_instructions: Annotated[FreeText, Field(max_length=1000)] | None = None
    key_safe_present: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> ClientUpdate:
        # Left out means unchanged; an explicit null would blank a required field.
        for name in self.model_fields_set - {"external_ref"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: leave it out to keep it; it cannot be null")
        return self


class ClientPublic(ClientBase):
    id: int
    organisation_id: int
