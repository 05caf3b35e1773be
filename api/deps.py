"""Dependencies as `Annotated` aliases: the session, settings, clock and the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.problems import Forbidden, Unauthorised
from api.core.roles import Principal, Role
from api.repositories import accounts
from api.repositories import phone as phone_repo
from api.services.jobs import JobRunner
from api.services.live import ReplanWorker

__all__ = [
    "ClockDep",
    "JobRunnerDep",
    "PrincipalDep",
    "ReplannerDep",
    "SessionDep",
    "SettingsDep",
    "allow",
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


#: Calls under here go through `api.phone_deps.get_caller`, which binds the token to the
#: phone named in ``X-Device-Id`` (and lets the reveal rules refuse a revoked one, logged).
_DEVICE_BOUND_PREFIX = "/mobile/v1/me/"


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    """The caller, from a bearer token or an API key; 401 when neither is valid."""
    principal: Principal | None = None
    if api_key:
        principal = accounts.principal_from_api_key(session, api_key, settings=settings)
    elif bearer is not None:
        principal = accounts.principal_from_token(
            session, bearer.credentials, settings=settings, now=clock()
        )
    if principal is None:
        raise Unauthorised("a valid bearer token or X-API-Key is required")
    if not request.url.path.startswith(_DEVICE_BOUND_PREFIX):
        _refuse_tokens_of_revoked_phones(session, principal)
    return principal


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


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for every other role)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden("your role may not do this")
        return principal

    return check
