"""Sign-in: short-lived bearer tokens with a TOTP second factor; a user's own TOTP enrolment.

Failed sign-ins are throttled per account at a client address, per address and per account
across addresses (429 with ``Retry-After``, state in the database so every server process
shares it); a TOTP code is accepted once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.core import dpop, security
from api.core.problems import problem_response
from api.core.roles import Role
from api.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    proof_used_once,
    verified_proof,
)
from api.repositories import accounts
from api.schemas.accounts import Me, TokenRequest, TokenResponse, TotpEnrolment, TotpEnrolRequest

router = APIRouter(prefix="/auth", tags=["auth"])

_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "too many failed sign-ins for this account or from this address",
        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    }
}


def _address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _limits(request: Request) -> security.SignInLimits:
    """The app's sign-in limits (``app.state.sign_in_limits``; the defaults otherwise)."""
    found = getattr(request.app.state, "sign_in_limits", None)
    return found if isinstance(found, security.SignInLimits) else security.SignInLimits()


def _bad_proof(request: Request, reason: dpop.ProofReason, message: str) -> JSONResponse:
    return problem_response(
        400,
        "invalid-dpop-proof",
        "DPoP proof refused",
        message,
        instance=request.url.path,
        error="invalid_dpop_proof",
        code=reason.value,
        message=message,
    )


def _too_many(request: Request, error: accounts.TooManyAttempts) -> JSONResponse:
    return problem_response(
        error.status,
        error.slug,
        error.title,
        error.detail,
        instance=request.url.path,
        headers={"Retry-After": str(error.retry_after)},
        retry_after=error.retry_after,
    )


_PROOF_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "the DPoP proof is refused (code: the reason)"}
}


@router.post("/token", response_model=TokenResponse, responses={**_THROTTLED, **_PROOF_REFUSED})
def create_token(
    body: TokenRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> TokenResponse | JSONResponse:
    """Sign in with username and password (and TOTP code) for a token of a few minutes.

    With a ``DPoP`` proof (RFC 9449; a phone signs in so) the token is bound to the proof's
    key (``cnf.jkt``, ``token_type`` ``DPoP``) and works only with proofs by that key; a
    refused proof is 400 ``invalid_dpop_proof`` with its reason, before the password is
    looked at.
    """
    now = clock()
    jkt = None
    if request.headers.getlist("dpop"):
        try:
            proof = verified_proof(request, settings, now, access_token=None)
        except dpop.ProofError as error:
            return _bad_proof(request, error.reason, error.message)
        if not proof_used_once(session, settings, proof, now):
            return _bad_proof(
                request, dpop.ProofReason.PROOF_REPLAYED, "this proof was used before"
            )
        jkt = proof.jkt
    try:
        user, second = accounts.authenticate(
            session,
            username=body.username,
            password=body.password,
            totp_code=body.totp_code,
            now=now,
            settings=settings,
            address=_address(request),
            limits=_limits(request),
            key_thumbprint=jkt,
        )
    except accounts.TooManyAttempts as error:
        return _too_many(request, error)
    claims = security.TokenClaims(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        second_factor=second,
        key_thumbprint=jkt,
    )
    token = security.issue_token(
        claims,
        secret=settings.secret_key.get_secret_value(),
        minutes=settings.access_token_minutes,
        now=now,
    )
    response.headers["Cache-Control"] = "no-store"  # a credential: RFC 6749 section 5.1
    response.headers["Pragma"] = "no-cache"
    return TokenResponse(
        access_token=token,
        token_type="DPoP" if jkt is not None else "bearer",
        expires_in=settings.access_token_minutes * 60,
        role=Role(user.role),
        second_factor=second,
    )


@router.post("/totp/enrol", status_code=201, response_model=TotpEnrolment, responses=_THROTTLED)
def enrol_totp(
    body: TotpEnrolRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> TotpEnrolment | JSONResponse:
    """Enrol your own second factor at your first sign-in: your password (the one you were
    given) and a new one; the TOTP secret is shown to you once, here, and to nobody else."""
    try:
        secret = accounts.enrol_totp(
            session,
            username=body.username,
            password=body.password,
            new_password=body.new_password,
            now=clock(),
            settings=settings,
            address=_address(request),
            limits=_limits(request),
        )
    except accounts.TooManyAttempts as error:
        return _too_many(request, error)
    response.headers["Cache-Control"] = "no-store"
    return TotpEnrolment(
        secret=secret,
        otpauth_uri=security.totp_uri(secret, username=body.username),
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
