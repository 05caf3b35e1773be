"""Sign-in, organisations, API keys, users, nurses and shifts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.core.roles import Role
from api.schemas.common import ClockTime, FreeText, Instant, NameText, Strict
from optimizer.model import DEFAULT_SKILLS

__all__ = [
    "ApiKeyCreated",
    "Me",
    "NurseCreate",
    "NursePublic",
    "OrganisationCreate",
    "OrganisationPublic",
    "ShiftSet",
    "TokenRequest",
    "TokenResponse",
    "TotpEnrolRequest",
    "TotpEnrolment",
    "UserCreate",
    "UserPublic",
]

Name = Annotated[NameText, Field(min_length=1, max_length=120)]
Skill = Literal[
    "basic",
    "medication",
    "injection",
    "catheter",
    "stoma",
    "wound",
    "iv",
    "palliative",
    "transfer",
    "diabetes",
]
assert set(Skill.__args__) == set(DEFAULT_SKILLS)  # type: ignore[attr-defined]


class TokenRequest(Strict):
    """A sign-in; privacy officers add the code from their authenticator app."""

    username: Annotated[FreeText, Field(min_length=1, max_length=80)]
    password: Annotated[FreeText, Field(min_length=1, max_length=256)]
    totp_code: Annotated[str, Field(pattern=r"^\d{6}$")] | None = None


class TotpEnrolRequest(Strict):
    """Your own second factor, at your first sign-in: the password you were given and a new
    one (so the one the admin chose opens nothing afterwards)."""

    username: Annotated[FreeText, Field(min_length=1, max_length=80)]
    password: Annotated[FreeText, Field(min_length=1, max_length=256)]
    new_password: Annotated[FreeText, Field(min_length=12, max_length=256)]


class TotpEnrolment(BaseModel):
    """The new TOTP secret, shown this once to the user herself: add it to your
    authenticator app (the URI as a QR code), then sign in with its code."""

    secret: str
    otpauth_uri: str


class TokenResponse(BaseModel):
    """A short-lived token: ``bearer``, or ``DPoP`` when bound to the proof's key."""

    access_token: str
    token_type: Literal["bearer", "DPoP"] = "bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int = Field(description="seconds")
    role: Role
    second_factor: bool


class Me(BaseModel):
    """Who the caller is."""

    actor: str
    role: Role
    organisation_id: int | None
    nurse_id: int | None
    second_factor: bool


class OrganisationCreate(Strict):
    """A partner organisation: home care (thuiszorg) or triage (alarm centre, GP post)."""

    name: Name
    kind: Literal["home_care", "triage"]
    member_since: Instant | None = Field(
        default=None,
        description=(
            "from when it shares the team's fixed cost: nights that start at or after this "
            "moment (default: now, on the service's clock), so a closed month's shares stay "
            "as they were"
        ),
    )


class OrganisationPublic(Strict):
    id: int
    name: str
    kind: str
    member_since: Instant | None = Field(default=None, description="null: a partner from the start")


class ApiKeyCreated(BaseModel):
    """The new key, shown this once."""

    id: int
    organisation_id: int
    prefix: str
    role: Role
    key: str = Field(description="send as X-API-Key; it is not stored and cannot be shown again")


class ApiKeyPublic(BaseModel):
    """One of an organisation's keys as the admin sees it: never its secret nor its hash.
    ``prefix`` is the part of a leaked key between ``nrk_`` and the next ``_``: find it here."""

    id: int
    organisation_id: int
    prefix: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyRevoked(BaseModel):
    """A revoked key (never its secret): refused from ``revoked_at`` on."""

    id: int
    organisation_id: int
    prefix: str
    role: Role
    revoked_at: datetime


class UserCreate(Strict):
    username: Annotated[str, Field(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_.@\-]+$")]
    password: Annotated[FreeText, Field(min_length=12, max_length=256)]
    role: Role
    organisation_id: int | None = None
    nurse_id: int | None = None
    totp_secret: Annotated[str, Field(pattern=r"^[A-Z2-7]{16,64}$")] | None = None

    @field_validator("totp_secret")
    @classmethod
    def _everyone_enrols_themselves(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Whoever creates a login must not learn its second factor: an admin who set a
        # nurse's TOTP secret could reveal key-safe codes as her, one who set a privacy
        # officer's could read the access log as her. Each enrols it herself.
        if value is not None:
            role = info.data.get("role")
            who = f"a {role.value.replace('_', ' ')}" if isinstance(role, Role) else "a user"
            raise ValueError(
                f"{who} enrols her own second factor at her first sign-in "
                "(POST /auth/totp/enrol); an admin never sets or sees it"
            )
        return value


class UserPublic(Strict):
    id: int
    username: str
    role: Role
    organisation_id: int | None
    nurse_id: int | None


class UserListed(BaseModel):
    """A login as the admin sees it (no password hash, no TOTP secret)."""

    id: int
    username: str
    role: Role
    organisation_id: int | None
    nurse_id: int | None
    active: bool


class UserDeactivated(BaseModel):
    """A login that no longer signs in; its tokens are refused from now on."""

    id: int
    username: str
    role: Role
    active: bool


class UserReactivated(BaseModel):
    """A login that signs in again; tokens issued before its deactivation stay refused."""

    id: int
    username: str
    role: Role
    active: bool


class NurseCreate(Strict):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,16}$")]
    display_name: Name
    skills: list[Skill] = Field(default_factory=lambda: list[Skill](["basic"]))
    profile: Literal["car", "bike"] = "car"


class NursePublic(Strict):
    id: int
    code: str
    display_name: str
    skills: list[str]
    profile: str


class ShiftSet(Strict):
    """A nurse's shift on the night of ``night_date`` (the evening's date)."""

    night_date: date
    start: ClockTime = "23:00"
    end: ClockTime = "07:00"

    @field_validator("night_date")
    @classmethod
    def _sane_date(cls, value: date) -> date:
        if not 2000 <= value.year <= 2200:
            raise ValueError("year out of range")
        return value
