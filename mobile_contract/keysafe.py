"""Revealing a key-safe (sleutelkluis) code: the request, the answer, and the refusal.

Units: ``[lon, lat]``, metres, timestamps UTC.

The code is the most sensitive secret of the system: it opens a vulnerable person's front
door. It travels only in `KeySafeRevealResponse`, sent with ``Cache-Control: no-store``;
inside Python it is a `pydantic.SecretStr`, so ``repr``/``str`` and logs show asterisks and
only the JSON body carries it. The phone shows it, then forgets it at ``forget_at``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import ConfigDict, Field, SecretStr, field_serializer

from mobile_contract._base import ContractModel, Identifier, LonLat, Metres, UtcDateTime

__all__ = ["KeySafeRefusal", "KeySafeRevealRequest", "KeySafeRevealResponse", "RefusalReason"]


class KeySafeRevealRequest(ContractModel):
    """Units: ``[lon, lat]``, metres. Ask for the code of a visit's key safe.

    The nurse and device come from the token; the position is only needed where the team
    requires the nurse to be near the address, and is not stored (only the distance is).
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    visit_id: Identifier
    position: LonLat | None = None
    accuracy_metres: Metres | None = None


def _plain_string_schema(schema: dict[str, Any]) -> None:
    # SecretStr describes itself as a write-only password; to the phone it is a plain string.
    schema.pop("writeOnly", None)
    schema.pop("format", None)
    schema["minLength"] = 3


class KeySafeRevealResponse(ContractModel):
    """Units: timestamps UTC. The code, for this visit, now. Never cache, never log."""

    # A validation error must not echo the code it failed on.
    model_config = ConfigDict(hide_input_in_errors=True)

    visit_id: Identifier
    reveal_id: UUID = Field(description="the access-log entry of this reveal")
    code: Annotated[
        SecretStr,
        Field(
            min_length=3,
            max_length=16,
            description="the key-safe code; only in this response body",
            json_schema_extra=_plain_string_schema,
        ),
    ]
    forget_at: UtcDateTime = Field(description="the phone wipes the code from memory by then")

    @field_serializer("code", when_used="json")
    def _code_in_json_body(self, code: SecretStr) -> str:
        # The one place the code leaves the server in clear: the response body, over TLS.
        return code.get_secret_value()


class RefusalReason(StrEnum):
    """Why a code was not revealed (every refusal is written to the access log)."""

    NOT_ASSIGNED = "not_assigned"
    DEVICE_NOT_REGISTERED = "device_not_registered"
    DEVICE_REVOKED = "device_revoked"
    NO_KEY_SAFE = "no_key_safe"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    POSITION_REQUIRED = "position_required"
    TOO_FAR = "too_far"


class KeySafeRefusal(ContractModel):
    """Units: timestamps UTC. The 403 body when a code is not revealed; it never holds it."""

    visit_id: Identifier
    reveal_id: UUID = Field(description="the access-log entry of this refusal")
    reason: RefusalReason
    message: str = Field(max_length=300)
    retry_after: UtcDateTime | None = Field(
        default=None, description="too_early: the moment the code becomes available"
    )
