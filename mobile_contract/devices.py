"""Registering the nurse's phone: her token is bound to it, and revoking it ends its reveals.

Units: timestamps UTC.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from mobile_contract._base import ContractModel, Identifier, PhoneText, UtcDateTime

__all__ = ["DeviceRegistration", "DeviceRegistrationRequest", "DeviceStatus", "Platform"]


class Platform(StrEnum):
    """The phone's operating system."""

    ANDROID = "android"
    IOS = "ios"


class DeviceRegistrationRequest(ContractModel):
    """Register this phone for the signed-in nurse (after her second factor).

    ``public_key`` is the phone's own key (JWK as a string, P-256): later requests are signed
    with it, so a copied token alone does not work on another phone.
    """

    platform: Platform
    app_version: PhoneText = Field(max_length=32, examples=["1.0.0"])
    label: PhoneText = Field(max_length=60, description="the nurse's name for the phone")
    public_key: PhoneText = Field(max_length=2000, description="JWK (P-256) as a JSON string")
    push_token: PhoneText | None = Field(
        default=None, max_length=4096, description="to wake the app for a route change"
    )


class DeviceStatus(StrEnum):
    """Whether the phone may still be used; a revoked phone's tokens and reveals end at once."""

    ACTIVE = "active"
    REVOKED = "revoked"


class DeviceRegistration(ContractModel):
    """Units: timestamps UTC. The registered phone."""

    device_id: Identifier
    nurse_id: Identifier
    registered_at: UtcDateTime
    status: DeviceStatus
