"""Sign-in: short-lived bearer tokens; privacy officers add a TOTP code."""

from __future__ import annotations

from fastapi import APIRouter

from api.core import security
from api.core.roles import Role
from api.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep
from api.repositories import accounts
from api.schemas.accounts import Me, TokenRequest, TokenResponse

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenResponse)
def create_token(
    body: TokenRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> TokenResponse:
    """Sign in with username and password (and TOTP code) for a token of a few minutes."""
    user, second = accounts.authenticate(
        session,
        username=body.username,
        password=body.password,
        totp_code=body.totp_code,
        now=clock(),
        settings=settings,
    )
    claims = security.TokenClaims(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        second_factor=second,
    )
    token = security.issue_token(
        claims,
        secret=settings.secret_key.get_secret_value(),
        minutes=settings.access_token_minutes,
        now=clock(),
    )
    return TokenResponse(
        access_token=token,
        expires_in=settings.access_token_minutes * 60,
        role=Role(user.role),
        second_factor=second,
    )


@router.get("/me", response_model=Me)
def read_me(principal: PrincipalDep) -> Me:
    """Who the token or key belongs to."""
    return Me(
        actor=principal.actor,
        role=principal.role,
        organisation_id=principal.organisation_id,
        nurse_id=principal.nurse_id,
        second_factor=principal.second_factor,
    )
