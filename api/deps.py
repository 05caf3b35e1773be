"""Dependencies as `Annotated` aliases: the session, settings, clock and the caller.

The caller: `PrincipalDep` for every route (a bearer token or an API key; a nurse's token
from before one of her phones was revoked is refused, under ``/mobile/v1`` too). A token
bound to a phone key (``cnf.jkt``) is taken only with a fresh DPoP proof by that key
(RFC 9449, `api.core.dpop`; its ``jti`` once, in the database): `get_token_principal`
refuses anything else (`ProofRefused`, 401 with the reason, an access-log row). The phone
API needs such a bound token and the ``X-Device-Id`` phone registered with that key
(`get_caller`); only the key-safe reveal takes any role and phone (`get_reveal_caller`,
which still wants the proof and the second factor), so the reveal rules refuse the rest and
the refusal is written to the access log. Which dependency a route uses says which rule
applies: nothing here looks at the URL (the proof's ``htu`` is compared with the request's
own, `request_url`).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, NoReturn

from fastapi import Depends, Header, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.core import dpop
from api.core.config import Settings
from api.core.dpop import ProofReason
from api.core.problems import Forbidden, ProblemError, Unauthorised, api_error
from api.core.roles import Principal, Role
from api.db.models import Nurse
from api.db.phone_models import PhoneDevice
from api.keysafe import KEYS_ENV, Keyring, KeyringError
from api.repositories import access_log, accounts, proofs
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
    "ProofRefused",
    "ReplannerDep",
    "SessionDep",
    "SettingsDep",
    "TokenPrincipalDep",
    "allow",
    "credential_still_valid",
    "get_backend",
    "get_caller",
    "get_keyring",
    "get_registering_nurse",
    "get_reveal_caller",
    "refuse",
    "request_url",
]

Clock = Callable[[], datetime]

# The accessors of the app's state below are `async def`: FastAPI runs a sync dependency in
# a worker thread, a hop per dependency per request that costs more than the lookup itself.


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; repository functions commit, anything else rolls back.

    ``async``: making a session does no I/O, and closing one does only when a transaction
    is still open (its rollback then runs in a worker thread, never on the event loop), so
    a request does not pay two worker-thread hand-offs for its session.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def get_clock(request: Request) -> Clock:
    """The clock (a fake in tests, so "03:12" can be now)."""
    clock: Clock = request.app.state.clock
    return clock


async def get_job_runner(request: Request) -> JobRunner:
    """The job runner (in-process by default)."""
    runner: JobRunner = request.app.state.job_runner
    return runner


async def get_replanner(request: Request) -> ReplanWorker:
    """The app's re-plan worker (`api.services.live.ReplanWorker`)."""
    replanner: ReplanWorker = request.app.state.replanner
    return replanner


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReplannerDep = Annotated[ReplanWorker, Depends(get_replanner)]
SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
JobRunnerDep = Annotated[JobRunner, Depends(get_job_runner)]

_bearer = HTTPBearer(
    auto_error=False,
    description=(
        "a token from POST /auth/token; a token bound to a phone key (cnf.jkt) is sent as "
        "'Authorization: DPoP <token>' with a DPoP proof"
    ),
)
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="a partner system's key (nrk_...)"
)
_dpop = APIKeyHeader(
    name="DPoP",
    auto_error=False,
    scheme_name="DPoP",
    description=(
        "a DPoP proof (RFC 9449) signed by the phone's registered key, fresh for every "
        "request: mobile_contract/README.md"
    ),
)


class ProofRefused(Unauthorised):
    """401: the request's proof of possession (or second factor) is refused; ``code`` names
    the `api.core.dpop.ProofReason`."""

    slug, title = "proof-refused", "Proof of possession refused"
    www_authenticate = 'DPoP error="invalid_dpop_proof", algs="ES256"'


def _authorization(request: Request) -> tuple[str, str] | None:
    """``(scheme in lower case, token)`` of the Authorization header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return (scheme.lower(), token) if scheme and token else None


def request_url(request: Request, settings: Settings) -> str:
    """The URL a proof's ``htu`` is compared with: ``public_base_url`` + path when set
    (behind a TLS proxy the server sees http://internal-host), else the URL as received
    (scheme and Host header). Query and fragment never count (`api.core.dpop.normalise_htu`)."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + request.url.path
    return str(request.url)


def log_refusal(
    request: Request,
    session: Session,
    principal: Principal,
    reason: str,
    *,
    now: datetime,
    event: str = "dpop.refused",
) -> None:
    """The access-log row of a phone request refused before any client's data (committed)."""
    session.rollback()
    access_log.record_refusal(
        session,
        principal,
        at=now,
        event=event,
        reason=reason,
        device_id=request.headers.get("x-device-id"),
        what=f"{request.method} {request.url.path}",
    )
    session.commit()


def refuse(
    request: Request,
    session: Session,
    principal: Principal,
    reason: ProofReason,
    message: str,
    *,
    now: datetime,
    event: str = "dpop.refused",
) -> NoReturn:
    """Write the refusal's access-log row (committed), then answer 401 problem+json with
    ``code`` = ``reason``. The row names who, the phone as asked for, the method and path."""
    log_refusal(request, session, principal, reason.value, now=now, event=event)
    raise ProofRefused(message, extra={"code": reason.value, "message": message})


def _check_proof(
    request: Request,
    session: Session,
    settings: Settings,
    principal: Principal,
    *,
    scheme: str,
    token: str,
    now: datetime,
) -> None:
    """A token bound to a phone key is used only with a fresh, one-time proof by that key
    (RFC 9449 section 7): else `refuse` with the reason."""
    if scheme != "dpop":
        refuse(
            request,
            session,
            principal,
            ProofReason.PROOF_MISSING,
            "a token bound to your phone's key is sent as 'Authorization: DPoP <token>' "
            "with a DPoP proof",
            now=now,
        )
    try:
        proof = verified_proof(request, settings, now, access_token=token)
    except dpop.ProofError as error:
        refuse(request, session, principal, error.reason, error.message, now=now)
    if proof.jkt != principal.key_thumbprint:
        refuse(
            request,
            session,
            principal,
            ProofReason.PROOF_KEY_MISMATCH,
            "the proof is signed by another key than the one your token is bound to",
            now=now,
        )
    if not proof_used_once(session, settings, proof, now):
        refuse(
            request,
            session,
            principal,
            ProofReason.PROOF_REPLAYED,
            "this proof was used before: make a new one for every request",
            now=now,
        )


def verified_proof(
    request: Request, settings: Settings, now: datetime, *, access_token: str | None
) -> dpop.Proof:
    """The request's one ``DPoP`` proof, verified for its method and URL on the service's
    clock (``access_token``: the token it must carry the hash of; ``None`` at sign-in).

    Raises `api.core.dpop.ProofError` with the reason."""
    return dpop.verify_proof(
        dpop.single_proof(request.headers.getlist("dpop")),
        method=request.method,
        url=request_url(request, settings),
        now=now,
        max_skew_seconds=settings.dpop_skew_on_service_clock,
        access_token=access_token,
    )


def proof_used_once(session: Session, settings: Settings, proof: dpop.Proof, now: datetime) -> bool:
    """Record ``proof``'s one-time id until it could no longer pass as fresh; ``False`` when it
    was used before (a replay)."""
    expires = datetime.fromtimestamp(
        proof.issued_at + settings.dpop_skew_on_service_clock + 1, tz=UTC
    )
    return proofs.use_once(session, jkt=proof.jkt, jti=proof.jti, expires_at=expires, now=now)


def get_token_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    proof: Annotated[str | None, Security(_dpop)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    """The caller, from a token (``Bearer``, or ``DPoP`` with a proof) or an API key; 401
    when none is valid, and for a phone-bound token without a valid proof by its key
    (`ProofRefused`, access-logged).

    Only the key-safe reveal uses this alone (`get_reveal_caller`): there the reveal rules
    refuse a token from before a revocation (``device_revoked``), so the refusal is written
    to the access log. Everything else uses `get_principal`.
    """
    del bearer, proof  # read from the request below; declared for the OpenAPI description
    principal: Principal | None = None
    presented = _authorization(request)
    now = clock()
    if api_key:
        principal = accounts.principal_from_api_key(session, api_key, settings=settings)
    elif presented is not None and presented[0] in ("bearer", "dpop"):
        # One round trip for the user, her nurse, her phones' latest revocation and the
        # phone the request names: the dependencies below read them from the request.
        found = accounts.token_caller(
            session,
            presented[1],
            settings=settings,
            now=now,
            device_id=request.headers.get("x-device-id"),
        )
        request.state.token_caller = found
        principal = found.principal if found is not None else None
    if principal is None:
        raise Unauthorised("a valid bearer token or X-API-Key is required")
    if principal.key_thumbprint is not None and presented is not None:
        _check_proof(
            request, session, settings, principal, scheme=presented[0], token=presented[1], now=now
        )
    return principal


TokenPrincipalDep = Annotated[Principal, Depends(get_token_principal)]


def credential_still_valid(request: Request) -> bool:
    """Whether the credential ``request`` was let in with is still valid now: an event
    stream, checked once when it opened, asks this again at every heartbeat and ends when
    it is not (review s25: streams ran their 300 s after a deactivation or a phone revoke).

    Checks what `get_principal` and `get_caller` check except the DPoP proof (a proof is
    used once, at the opening): the API key is not revoked; the token is unexpired, its user
    active with the same role and no token of hers revoked since (`accounts.token_caller`),
    a nurse's token not from before one of her phones was revoked, and the phone the request
    names (``X-Device-Id``), if any, still registered to her and not revoked. Blocking (one
    fresh session, one round trip for a token): run it in a worker thread.
    """
    settings: Settings = request.app.state.settings
    now = request.app.state.clock()
    with request.app.state.session_factory() as session:
        api_key = request.headers.get("x-api-key")
        if api_key:
            return accounts.principal_from_api_key(session, api_key, settings=settings) is not None
        presented = _authorization(request)
        if presented is None or presented[0] not in ("bearer", "dpop"):
            return False
        device_id = request.headers.get("x-device-id")
        found = accounts.token_caller(
            session, presented[1], settings=settings, now=now, device_id=device_id
        )
    if found is None:
        return False
    principal, revoked, device = found.principal, found.latest_revocation, found.device
    issued = principal.token_issued_at
    if principal.role == Role.NURSE and revoked is not None and issued is not None:
        if revoked.tzinfo is None:
            revoked = revoked.replace(tzinfo=UTC)
        if issued < int(revoked.timestamp()):  # as `_refuse_tokens_of_revoked_phones`
            return False
    if not device_id:
        return True
    # The phone the stream was opened for: still hers and not revoked.
    return (
        device is not None
        and device.revoked_at is None
        and found.nurse is not None
        and device.nurse_id == found.nurse.id
    )


def _token_caller(request: Request, principal: Principal) -> accounts.TokenCaller | None:
    """What `get_token_principal` read with this request's token (``None`` for an API key)."""
    found: accounts.TokenCaller | None = getattr(request.state, "token_caller", None)
    return found if found is not None and found.principal is principal else None


def _refuse_tokens_of_revoked_phones(
    request: Request, session: Session, principal: Principal
) -> None:
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
    known = _token_caller(request, principal)
    revoked = (
        known.latest_revocation
        if known is not None
        else phone_repo.latest_revocation(session, principal.nurse_id)
    )
    if revoked is None:
        return
    if revoked.tzinfo is None:
        revoked = revoked.replace(tzinfo=UTC)
    if principal.token_issued_at < int(revoked.timestamp()):
        raise Unauthorised(
            "this token was issued before a phone of yours was revoked: sign in again",
            extra={"code": "device_revoked", "message": "sign in again"},
        )


async def get_principal(
    request: Request, principal: TokenPrincipalDep, session: SessionDep
) -> Principal:
    """The caller (`get_token_principal`), whose token was not on a phone since revoked.

    Under ``/mobile/v1`` too: such a token works for no phone, not even the new one.
    ``async``: the revocation was read with the token, so no worker thread is needed (only
    when it was not, the look-up runs in one).
    """
    if principal.role == Role.NURSE and _token_caller(request, principal) is None:
        await run_in_threadpool(_refuse_tokens_of_revoked_phones, request, session, principal)
    else:
        _refuse_tokens_of_revoked_phones(request, session, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def allow(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only ``roles`` through (403 for every other role)."""
    allowed = frozenset(roles)

    async def check(principal: PrincipalDep) -> Principal:
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


def _nurse_row(request: Request, session: Session, principal: Principal) -> Nurse | None:
    """The caller's nurse row, as `get_token_principal` read it (else from the session)."""
    known = _token_caller(request, principal)
    if known is not None:
        return known.nurse
    return session.get(Nurse, principal.nurse_id) if principal.nurse_id else None


def _device(request: Request, session: Session, principal: Principal) -> PhoneDevice | None:
    """The phone ``X-Device-Id`` names, as `get_token_principal` read it (else looked up)."""
    known = _token_caller(request, principal)
    if known is not None:
        return known.device
    return phone_repo.device(session, request.headers.get("x-device-id"))


async def get_nurse(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> tuple[Principal, Nurse]:
    """The signed-in nurse (403 for every other role); read with the token (no I/O here)."""
    if principal.role != Role.NURSE:
        raise api_error(Forbidden, "forbidden", "only a nurse's phone uses this API")
    nurse: Nurse | None = None
    if principal.nurse_id and _token_caller(request, principal) is not None:
        nurse = _nurse_row(request, session, principal)
    elif principal.nurse_id:
        nurse = await run_in_threadpool(_nurse_row, request, session, principal)
    if nurse is None or not nurse.active:
        raise api_error(Forbidden, "forbidden", "your account is not linked to an active nurse")
    return principal, nurse


NurseDep = Annotated[tuple[Principal, Nurse], Depends(get_nurse)]
DeviceIdHeader = Annotated[
    str | None,
    Header(alias="X-Device-Id", max_length=64, description="the registered phone's device_id"),
]


def _device_key_matches(device: PhoneDevice, principal: Principal) -> bool:
    """Whether the token is bound to (and the request was proved by) the phone's key."""
    if principal.key_thumbprint is None:
        return False
    registered = dpop.registered_key_thumbprint(device.public_key)
    return registered is not None and hmac.compare_digest(registered, principal.key_thumbprint)


def _require_bound_token(
    request: Request, session: Session, principal: Principal, now: datetime, *, event: str
) -> None:
    """Device-bound calls need a token bound to a phone key (its proof checked already)."""
    if principal.key_thumbprint is not None:
        return
    if request.headers.get("dpop"):
        refuse(
            request,
            session,
            principal,
            ProofReason.PROOF_KEY_MISMATCH,
            "this token is not bound to your phone's key: sign in again with a DPoP proof",
            now=now,
            event=event,
        )
    refuse(
        request,
        session,
        principal,
        ProofReason.PROOF_MISSING,
        "sign in with a DPoP proof and send one signed by your phone with every request",
        now=now,
        event=event,
    )


async def get_caller(
    request: Request,
    nurse: NurseDep,
    session: SessionDep,
    clock: ClockDep,
    x_device_id: DeviceIdHeader = None,
) -> Caller:
    """The nurse on her registered, active phone; 401 for another phone or a revoked one,
    and for a request not proved by that phone's key (`ProofRefused`, access-logged).

    The token must be a nurse's, not from before a revocation (`get_principal`), bound to
    the key of the phone ``X-Device-Id`` names, which is hers and active; revoking the
    phone ends every call from it at once. ``async``: the phone was read with the token;
    only a refusal (its access-log row) needs a worker thread.
    """
    principal, row = nurse
    if principal.key_thumbprint is None:
        await run_in_threadpool(
            _require_bound_token, request, session, principal, clock(), event="dpop.refused"
        )
    del x_device_id  # read with the token (`get_token_principal`); declared for the docs
    found = (
        _device(request, session, principal)
        if _token_caller(request, principal) is not None
        else await run_in_threadpool(_device, request, session, principal)
    )
    if found is None or found.nurse_id != row.id:
        await run_in_threadpool(
            log_refusal, request, session, principal, "device_not_registered", now=clock()
        )
        raise api_error(
            Unauthorised, "device_not_registered", "register this phone first (X-Device-Id)"
        )
    if found.revoked_at is not None:
        await run_in_threadpool(
            log_refusal, request, session, principal, "device_revoked", now=clock()
        )
        raise api_error(Unauthorised, "device_revoked", "this phone has been revoked")
    if not _device_key_matches(found, principal):
        await run_in_threadpool(
            refuse,
            request,
            session,
            principal,
            ProofReason.PROOF_KEY_MISMATCH,
            "the proof is not signed by this phone's registered key",
            now=clock(),
        )
    return Caller(nurse_id=row.code, device_id=found.id)


def get_reveal_caller(
    request: Request,
    principal: TokenPrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    x_device_id: DeviceIdHeader = None,
) -> Caller:
    """Whoever asks for a key-safe code, on whatever phone and in whatever role.

    A nurse's token must come from a sign-in with her second factor (``amr`` holds
    ``otp``; else ``second_factor_required``) and be bound to the key of the phone
    ``X-Device-Id`` names, proved by this request (``proof_missing``,
    ``proof_key_mismatch``): each refused 401 with a ``keysafe.reveal`` access-log row. The
    reveal rules refuse the rest (a revoked or foreign phone, a token from before a
    revocation, a caller of the wrong role or an inactive nurse) and log it, so every
    other valid token is let through here: a wrong role is named in ``Caller.role``
    (``nurse_inactive`` for a nurse login whose nurse is inactive).
    """
    device_id = (x_device_id or "-")[:64]
    if principal.role != Role.NURSE:
        return Caller(nurse_id="", device_id=device_id, role=principal.role.value)
    row = _nurse_row(request, session, principal) if principal.nurse_id else None
    if row is None or not row.active:
        return Caller(nurse_id="", device_id=device_id, role="nurse_inactive")
    now = clock()
    _require_bound_token(request, session, principal, now, event="keysafe.reveal")
    if not principal.second_factor:
        refuse(
            request,
            session,
            principal,
            ProofReason.SECOND_FACTOR_REQUIRED,
            "a key-safe code needs a sign-in with your second factor (TOTP code)",
            now=now,
            event="keysafe.reveal",
        )
    found = _device(request, session, principal)
    if found is not None and found.nurse_id == row.id and not _device_key_matches(found, principal):
        refuse(
            request,
            session,
            principal,
            ProofReason.PROOF_KEY_MISMATCH,
            "the proof is not signed by this phone's registered key",
            now=now,
            event="keysafe.reveal",
        )
    return Caller(nurse_id=row.code, device_id=device_id)


def get_registering_nurse(
    request: Request, nurse: NurseDep, session: SessionDep, clock: ClockDep
) -> str:
    """The nurse registering her phone: signed in with her second factor (else 401) and
    with a token bound to the key she registers, proved by this request (the backend
    compares the registered key with the token's ``cnf.jkt``)."""
    principal, row = nurse
    if not principal.second_factor:
        # A password without the second factor trying to register a phone as her: a row for
        # the privacy officer, as the same refusal at a reveal.
        log_refusal(request, session, principal, "second_factor_required", now=clock())
        raise api_error(
            Unauthorised, "second_factor_required", "sign in with your second factor first"
        )
    _require_bound_token(request, session, principal, clock(), event="dpop.refused")
    return row.code


async def get_backend(
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
        replanner=request.app.state.replanner,
    )


def _route_log_marks(request: Request) -> dict[str, str]:
    """Per nurse and phone, the route content last access-logged (kept for the app's lifetime)."""
    marks: dict[str, str] | None = getattr(request.app.state, "phone_route_logged", None)
    if marks is None:
        marks = request.app.state.phone_route_logged = {}
    return marks
