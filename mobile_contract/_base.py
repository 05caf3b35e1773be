"""Shared building blocks of the phone contract: units, identifiers and the base model.

Conventions, stated once for every model of the contract:

- moments are **UTC ISO 8601 timestamps** (``2026-11-23T22:00:00Z``); a timestamp with
  another offset is accepted and converted to UTC, one without an offset is refused;
- durations are whole **seconds**, distances whole or decimal **metres**;
- a coordinate is ``[lon, lat]`` in WGS84 degrees (GeoJSON order); the one exception is the
  encoded polyline of a leg, whose format fixes (lat, lon) order itself;
- windows are inclusive at both ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    model_validator,
)

__all__ = [
    "ApiError",
    "ContractModel",
    "Identifier",
    "ItemQuantity",
    "LonLat",
    "Metres",
    "NotBool",
    "PhoneText",
    "Seconds",
    "UtcDateTime",
    "UtcWindow",
]


def _not_a_bool(value: object) -> object:
    # JSON true is no count: lax ints read it as 1 (as `api.schemas.common.NotBool`, S25-05).
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


#: Put after a count's ``Field`` (the schema is unchanged): ``true``/``false`` are refused.
NotBool = BeforeValidator(_not_a_bool)


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +14:00: pydantic turns only ValueError into a 422
        raise ValueError("is outside the range of dates") from None


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value


def _storable(value: str, info: ValidationInfo) -> str:
    # PostgreSQL text cannot hold NUL, and the partner and planner read these texts back.
    # What was stored before this rule is read back as it is (context {"stored": True}):
    # refusing it there would stop every re-plan of the night.
    if "\x00" in value and not (info.context or {}).get("stored"):
        raise ValueError("must not contain NUL characters (\\u0000)")
    return value


#: Free text a phone sends: any character the service can store and show (no NUL).
PhoneText = Annotated[str, AfterValidator(_storable)]

UtcDateTime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    # Also on the way out: a value set without validation (``model_copy(update=...)``, a
    # simulated clock's time with its offset) is still sent as UTC, as the contract says.
    PlainSerializer(_in_utc, return_type=datetime),
    Field(description="UTC ISO 8601 timestamp, e.g. 2026-11-23T22:00:00Z"),
]
Seconds = Annotated[int, Field(ge=0, description="seconds")]
Metres = Annotated[float, Field(ge=0, allow_inf_nan=False, description="metres")]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
LonLat = Annotated[
    tuple[Longitude, Latitude], Field(description="[lon, lat] in WGS84 degrees (GeoJSON order)")
]


class ContractModel(BaseModel):
    """Base of every contract model: immutable, and unknown fields refused."""

    # Serialization schemas list defaulted fields as required: the server always sends them.
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )


class UtcWindow(ContractModel):
    """An inclusive interval of UTC timestamps ``[start, end]``."""

    start: UtcDateTime
    end: UtcDateTime

    @model_validator(mode="after")
    def _end_not_before_start(self) -> Self:
        if self.end < self.start:
            raise ValueError("window end is before its start")
        return self


class ItemQuantity(ContractModel):
    """Units: a count of one night-bag item (nachttas), by its id in the team's template."""

    item_id: Identifier
    quantity: Annotated[int, Field(ge=0, le=10_000), NotBool]


class ApiError(ContractModel):
    """Every error body but a key-safe refusal: a code for machines and a sentence for people.

    The message never echoes the request (no positions, notes or codes in error texts).
    """

    code: str = Field(max_length=64, examples=["not_found"])
    message: str = Field(max_length=300)
