"""Shared field types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["ClockTime", "FreeText", "Instant", "NameText", "NotBool", "Problem", "Strict"]


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refused here so the error names the field.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    # JSON "\\ud800" decodes to a lone surrogate, which no UTF-8 driver can encode (a 500).
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain lone surrogates (\\ud800-\\udfff)") from None
    return value


#: Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069): in a name or an
#: address they make the text show in another order than it is stored ("Trojan Source").
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def _one_plain_line(value: str) -> str:
    # A name, address or reference is one line shown as stored: no control characters
    # (newlines, tabs, escapes; C0 and C1) and no bidi overrides.
    for char in value:
        if char in _BIDI_CONTROLS:
            raise ValueError(
                f"must not contain bidirectional control characters (U+{ord(char):04X})"
            )
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            raise ValueError(f"must be one line without control characters (U+{ord(char):04X})")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


#: Any free text a request carries: every character the database can store (no NUL).
FreeText = Annotated[str, AfterValidator(_storable)]
#: A name, address or reference: free text that is not blank (kept without outer spaces).
NameText = Annotated[
    str, AfterValidator(_storable), AfterValidator(_not_blank), AfterValidator(_one_plain_line)
]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +14:00: pydantic turns only ValueError into a 422
        raise ValueError("is outside the range of dates") from None


def _not_a_bool(value: object) -> object:
    # JSON true is no number: lax ints read it as 1 (a one-minute visit, client 1: S25-05).
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


#: Put after a number's ``Field`` (the schema is unchanged): ``true``/``false`` are a 422.
NotBool = BeforeValidator(_not_a_bool)


#: A moment with its offset, read as UTC; one outside the range of dates is a 422, not a 500.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]

#: A wall-clock time ``HH:MM`` (24 h, Europe/Amsterdam); inside a night, times before noon
#: belong to the next morning.
ClockTime = Annotated[
    str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["23:30"], description="HH:MM")
]


class Strict(BaseModel):
    """Unknown fields are refused, so a typo is an error and not silently ignored."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class FieldError(BaseModel):
    """One invalid field."""

    field: str
    message: str
    code: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
