"""Clients: display name, address and location, access instructions, key safe yes/no.

No BSN, no diagnosis, no key-safe code: the night's work does not need them here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.schemas.common import Strict

__all__ = ["ClientCreate", "ClientPublic", "ClientUpdate"]

Lat = Annotated[float, Field(ge=50.5, le=53.8, allow_inf_nan=False, description="WGS84, NL")]
Lon = Annotated[float, Field(ge=3.2, le=7.3, allow_inf_nan=False, description="WGS84, NL")]


class ClientBase(Strict):
    external_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="your own reference for this client (not a BSN)"
    )
    display_name: Annotated[str, Field(min_length=1, max_length=120)]
    address: Annotated[str, Field(min_length=1, max_length=200)]
    lat: Lat
    lon: Lon
    access_instructions: Annotated[str, Field(max_length=1000)] = ""
    key_safe_present: bool = False


class ClientCreate(ClientBase):
    """A client as a partner registers it."""


class ClientUpdate(Strict):
    """Fields to change; left out means unchanged."""

    external_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    display_name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    address: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    access_instructions: Annotated[str, Field(max_length=1000)] | None = None
    key_safe_present: bool | None = None


class ClientPublic(ClientBase):
    id: int
    organisation_id: int
