"""Dependencies as `Annotated` aliases: the session, settings, clock and the caller.

The caller: `PrincipalDep` for every route (a bearer token or an API key; a nurse's token
from before one of her phones was revoked is refused, under ``/mobile/v1`` too). The phone
API binds a nurse's token to the phone named in ``X-Device-Id`` (`get_caller`: 401 for a
phone not hers or revoked); only the key-safe reveal takes any token, role and phone
(`get_reveal_caller`), so the reveal rules refuse it and the refusal is written to the
access log. Which dependency a route uses says which rule applies: nothing here looks at
the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.problems import Forbidden, ProblemError, Unauthorised, api_error
from api.core.roles import Principal, Role
from api.db.models import Nurse
from api.keysafe import KEYS_ENV, Keyring, KeyringError
from api.repositories import accounts
from api.repositories import phone as phone_repo
from api.routes.mobile import Caller
from api.services.jobs import JobRunner
from api.services.live import ReplanWorker
from api.services.mobile_backend import DbMobileBackend
from api.totp_vault import keyring_for

__all__ = [
    "ClockDep",
    "DeviceIdHeader",
    "JobRunnerDep",
    "KeyringDep",
    "NurseDep",
    "PrincipalDep",
    "ReplannerDep",
    "SessionDep",
    "SettingsDep",
    "TokenPrincipalDep",
    "allow",
    "get_backend",
    "get_caller",
    "get_keyring",
    "get_registering_nurse",
    "get_reveal_caller",
]

Clock = Callable[[], datetime]


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; repository functions commit, anything else rolls back."""
    with request.app.state.session_factory() as session:
        yield session


def get_clock(request: Request) -> Clock:
    """The clock (a fake in tests, so "03:12" can be now)."""
    clock: Clock = request.app.state.clock
    return clock


def get_job_runner(request: Request) -> JobRunner:
    """The job runner (in-process by default)."""
    runner: JobRunner = request.app.state.job_runner
    return runner


def get_replanner(request: Request) -> ReplanWorker:
    """The app's re-plan worker (`api.services.live.ReplanWorker`)."""
    replanner: ReplanWorker = request.app.state.replanner
    return replanner


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReplannerDep = Annotated[ReplanWorker, Depends(get_replanner)]
SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
JobRunnerDep = Annotated[JobRunner, Depends(get_job_runner)]

_bearer = HTTPBearer(auto_error=False, description="a token from POST /auth/token")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="a partner system's key (nrk_...)"
)


def get_token_principal(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    """The caller, from a bearer token or an API key; 401 when neither is valid.

    Only the key-safe reveal uses this alone (`get_reveal_caller`): there the reveal rules
    refuse a token from before a revocation (``device_revoked``), so the refusal is written
    to the access log. Everything else uses `get_principal`.
    """
    principal: Principal | None = None
    if api_key:
        principal = accounts.principal_from_api_key(session, api_key, settings=settings)
    elif bearer is not None:
        principal = accounts.principal_from_token(
            session, bearer.credentials, settings=settings, now=clock()
        )
    if principal is None:
        raise Unauthorised("a valid bearer token or X-API-Key is required")
    return principal


TokenPrincipalDep = Annotated[Principal, Depends(get_token_principal)]


def _refuse_tokens_of_revoked_phones(session: Session, principal: Principal) -> None:
    """401 for a nurse's token issued before one of her phones was revoked.

    Away from her phone's own calls a token names no phone, so any token that may have been
    on the lost phone (issued while it was still live) is refused: revoking a phone ends its
    tokens everywhere at once. She signs in again; a token issued in the second of the
    revocation or later is hers.
    """
    if principal.role != Role.NURSE or principal.nurse_id is None:
        return
    if principal.token_issued_at is None:
        return
    revoked = phone_repo.latest_revocation(session, principal.nurse_id)
    if revoked is None:
        return
    if revoked.tzinfo is None:
        revoked = revoked.replace(tzinfo=UTC)
    if principal.token_issued_at < int(revoked.timestamp()):
        raise Unauthorised(
            "this token was issued before a phone of yours was revoked: sign in again",
            extra={"code": "device_revoked", "message": "sign in again"},
        )


def get_principal(principal: TokenPrincipalDep, session: SessionDep) -> Principal:
    """The caller (`get_token_principal`), whose token was not on a phone since revoked.

    Under ``/mobile/v1`` too: such a token works for no phone, not even the new one.
    """
    _refuse_tokens_of_revoked_phones(session, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for every other role)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden("your role may not do this")
        return principal

    return check


# ----------------------------------------------------------------- the phone API


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


def get_caller(nurse: NurseDep, session: SessionDep, x_device_id: DeviceIdHeader = None) -> Caller:
    """The nurse on her registered, active phone; 401 for another phone or a revoked one.

    The token must be a nurse's, not from before a revocation (`get_principal`), and
    ``X-Device-Id`` her registered phone's id; revoking the phone ends every call from it at
    once.
    """
    _principal, row = nurse
    found = phone_repo.device(session, x_device_id)
    if found is None or found.nurse_id != row.id:
        raise api_error(
            Unauthorised, "device_not_registered", "register this phone first (X-Device-Id)"
        )
    if found.revoked_at is not None:
        raise api_error(Unauthorised, "device_revoked", "this phone has been revoked")
    return Caller(nurse_id=row.code, device_id=found.id)


def get_reveal_caller(
    principal: TokenPrincipalDep, session: SessionDep, x_device_id: DeviceIdHeader = None
) -> Caller:
    """Whoever asks for a key-safe code, on whatever phone and in whatever role.

    The reveal rules refuse them (a revoked or foreign phone, a token from before a
    revocation, a caller of the wrong role or an inactive nurse) and write the refusal to
    the access log, so every valid token is let through here: a wrong role is named in
    ``Caller.role`` (``nurse_inactive`` for a nurse login whose nurse is inactive).
    """
    device_id = (x_device_id or "-")[:64]
    if principal.role != Role.NURSE:
        return Caller(nurse_id="", device_id=device_id, role=principal.role.value)
    row = session.get(Nurse, principal.nurse_id) if principal.nurse_id else None
    if row is None or not row.active:
        return Caller(nurse_id="", device_id=device_id, role="nurse_inactive")
    return Caller(nurse_id=row.code, device_id=device_id)


def get_registering_nurse(nurse: NurseDep) -> str:
    """The nurse registering her phone: signed in with her second factor (else 401)."""
    principal, row = nurse
    if not principal.second_factor:
        raise api_error(
            Unauthorised, "second_factor_required", "sign in with your second factor first"
        )
    return row.code


def get_backend(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: TokenPrincipalDep,
) -> DbMobileBackend:
    """The phone API's database backend for this request (the caller is checked by the
    route's `get_caller`, `get_reveal_caller` or `get_registering_nurse`)."""
    return DbMobileBackend(
        session,
        settings,
        principal,
        clock=request.app.state.clock,
        session_factory=request.app.state.session_factory,
        route_log_marks=_route_log_marks(request),
        keyring=lambda: get_keyring(request, settings),
        max_distance_m=settings.keysafe_max_distance_m,
        replanner=get_replanner(request),
    )


def _route_log_marks(request: Request) -> dict[str, str]:
    """Per nurse, the route content last access-logged (kept for the app's lifetime)."""
    marks: dict[str, str] | None = getattr(request.app.state, "phone_route_logged", None)
    if marks is None:
        marks = request.app.state.phone_route_logged = {}
    return marks
