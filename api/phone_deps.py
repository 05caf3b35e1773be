"""Dependencies of the phone API: the nurse and her registered phone, the keyring.

A nurse's requests under ``/mobile/v1`` carry her bearer token and name her registered phone
in ``X-Device-Id``; a phone that is not hers, or that was revoked, gets 401 at once (the
key-safe reveal instead lets the reveal rules refuse it, so the refusal is logged).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Header, Request

from api.core.problems import Forbidden, ProblemError, Unauthorised
from api.core.roles import Principal, Role
from api.db.models import Nurse
from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.keysafe import KEYS_ENV, Keyring, KeyringError
from api.repositories import phone as repo
from api.routes.mobile import Caller
from api.totp_vault import keyring_for

__all__ = [
    "DeviceIdHeader",
    "KeyringDep",
    "NurseDep",
    "api_error",
    "get_caller",
    "get_keyring",
    "get_registering_nurse",
]

logger = logging.getLogger("nachtroute.phone")


class KeysNotConfigured(ProblemError):
    status, slug, title = 503, "keysafe-keys-missing", "Key-safe keys not configured"


def get_keyring(request: Request, settings: SettingsDep) -> Keyring:
    """The key-safe keyring: ``app.state.keyring``, else the environment.

    Outside production, with no keys set, a key derived from the service's secret key is
    used (so the demo and the tests run without setup); production refuses to start codes.
    """
    found = getattr(request.app.state, "keyring", None)
    if isinstance(found, Keyring):
        return found
    try:
        keyring = keyring_for(settings)  # the one keyring: key-safe codes and TOTP secrets
    except KeyringError:
        raise KeysNotConfigured(f"set {KEYS_ENV} (make a key: nachtroute keys generate)") from None
    request.app.state.keyring = keyring
    return keyring


KeyringDep = Annotated[Keyring, Depends(get_keyring)]


def api_error(error: type[ProblemError], code: str, message: str) -> ProblemError:
    """A problem+json error that also carries the contract's ``ApiError`` fields."""
    return error(message, extra={"code": code, "message": message})


def get_nurse(principal: PrincipalDep, session: SessionDep) -> tuple[Principal, Nurse]:
    """The signed-in nurse (403 for every other role)."""
    if principal.role != Role.NURSE:
        raise api_error(Forbidden, "forbidden", "only a nurse's phone uses this API")
    nurse = session.get(Nurse, principal.nurse_id) if principal.nurse_id else None
    if nurse is None or not nurse.active:
        raise api_error(Forbidden, "forbidden", "your account is not linked to an active nurse")
    return principal, nurse


NurseDep = Annotated[tuple[Principal, Nurse], Depends(get_nurse)]
DeviceIdHeader = Annotated[
    str | None,
    Header(alias="X-Device-Id", max_length=64, description="the registered phone's device_id"),
]

#: The reveal lets the reveal rules refuse a revoked or foreign phone, so it is logged.
_REVEAL_PATH = "/me/keysafe/reveal"


def get_caller(
    request: Request, nurse: NurseDep, session: SessionDep, x_device_id: DeviceIdHeader = None
) -> Caller:
    """The nurse on her registered, active phone; 401 for another phone or a revoked one.

    The token must be a nurse's and ``X-Device-Id`` her registered phone's id; revoking the
    phone ends every call from it at once. Only the key-safe reveal is let through with any
    phone, so its refusal (``device_revoked``, ``device_not_registered``) is logged.
    """
    _principal, row = nurse
    if request.url.path.endswith(_REVEAL_PATH):
        return Caller(nurse_id=row.code, device_id=(x_device_id or "-")[:64])
    found = repo.device(session, x_device_id)
    if found is None or found.nurse_id != row.id:
        raise api_error(
            Unauthorised, "device_not_registered", "register this phone first (X-Device-Id)"
        )
    if found.revoked_at is not None:
        raise api_error(Unauthorised, "device_revoked", "this phone has been revoked")
    return Caller(nurse_id=row.code, device_id=found.id)


def get_registering_nurse(nurse: NurseDep) -> str:
    """The nurse registering her phone: signed in with her second factor (else 401)."""
    principal, row = nurse
    if not principal.second_factor:
        raise api_error(
            Unauthorised, "second_factor_required", "sign in with your second factor first"
        )
    return row.code
