"""Passwords (argon2), short-lived tokens (JWT, HS256), partner API keys, TOTP, sign-in limits.

API keys are long random secrets, so a keyed SHA-256 (HMAC with a server pepper) is enough
and fast on every request; people's passwords get argon2. A TOTP code is matched to its
time step (`totp_step`) so the caller can accept each step once (`api.repositories.accounts`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "ApiKeyParts",
    "SignInLimits",
    "TokenClaims",
    "decode_token",
    "hash_api_secret",
    "hash_password",
    "issue_token",
    "new_api_key",
    "new_totp_secret",
    "parse_api_key",
    "retry_after_seconds",
    "throttle_key",
    "totp_step",
    "totp_uri",
    "verify_api_secret",
    "verify_password",
]

_hasher = PasswordHasher()
_ALGORITHM = "HS256"
#: A hash to verify against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; spends the same time when there is no user."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token says about its bearer."""

    user_id: int
    role: str
    organisation_id: int | None
    second_factor: bool
    #: When the token was issued (seconds since the epoch); set when decoding.
    issued_at: int | None = None
    #: The RFC 7638 thumbprint of the phone key the token is bound to (``cnf.jkt``, RFC 9449).
    key_thumbprint: str | None = None


def issue_token(claims: TokenClaims, *, secret: str, minutes: int, now: datetime) -> str:
    """A signed token that expires after ``minutes``.

    ``amr`` (RFC 8176) says how she signed in: ``["pwd"]`` or ``["pwd", "otp"]`` (her second
    factor); ``cnf.jkt`` binds the token to a phone key (RFC 9449), so it is used only with
    proofs signed by that key.
    """
    payload: dict[str, Any] = {
        "sub": str(claims.user_id),
        "role": claims.role,
        "org": claims.organisation_id,
        "amr": ["pwd", "otp"] if claims.second_factor else ["pwd"],
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    if claims.key_thumbprint is not None:
        payload["cnf"] = {"jkt": claims.key_thumbprint}
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def decode_token(token: str, *, secret: str, now: datetime) -> TokenClaims | None:
    """The claims of a valid token unexpired at ``now`` (the app's clock), else ``None``."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
        )
        if not int(payload["iat"]) - 60 <= now.timestamp() < int(payload["exp"]):
            return None
        org = payload.get("org")
        amr = payload.get("amr")
        cnf = payload.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if cnf is not None and not isinstance(jkt, str):
            return None  # a confirmation we cannot honour: refuse rather than unbind
        return TokenClaims(
            user_id=int(payload["sub"]),
            role=str(payload["role"]),
            organisation_id=int(org) if org is not None else None,
            second_factor=isinstance(amr, list) and "otp" in amr,
            issued_at=int(payload["iat"]),
            key_thumbprint=jkt,
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class ApiKeyParts:
    """A key as shown once to the partner: ``nrk_<prefix>_<secret>``."""

    prefix: str
    secret: str

    @property
    def token(self) -> str:
        """The full key string."""
        return f"nrk_{self.prefix}_{self.secret}"


def new_api_key() -> ApiKeyParts:
    """A fresh random key."""
    return ApiKeyParts(prefix=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def parse_api_key(token: str) -> ApiKeyParts | None:
    """Split a presented key, or ``None`` when it is not shaped like one."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "nrk" or not parts[1] or not parts[2]:
        return None
    return ApiKeyParts(prefix=parts[1], secret=parts[2])


def hash_api_secret(secret: str, *, pepper: str) -> str:
    """HMAC-SHA256 of the key's secret part."""
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def verify_api_secret(secret: str, stored_hash: str, *, pepper: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_api_secret(secret, pepper=pepper), stored_hash)


def totp_step(secret: str | None, code: str | None, *, now: datetime) -> int | None:
    """The time step (unix seconds // 30) whose code ``code`` is, among the one before, at
    and after ``now`` (a phone's clock may be off by one step); ``None`` when it is none.

    Compared in constant time. The caller accepts a step only once (a code is single-use).
    """
    if not secret or not code:
        return None
    try:
        totp = pyotp.TOTP(secret)
        current = totp.timecode(now)
        found = None
        for step in (current - 1, current, current + 1):
            if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
                found = step
        return found
    except (ValueError, TypeError):  # a malformed stored secret: no second factor
        return None


def new_totp_secret() -> str:
    """A fresh random TOTP secret (base32, 160 bits) for an authenticator app."""
    return pyotp.random_base32(32)


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """Units: counts per ``window``. Failed sign-ins (wrong password or wrong, reused or
    expired TOTP code) allowed within ``window``; beyond a limit sign-in answers 429 until
    the window that began with that limit's first failure ends.

    - ``per_account_at_address`` (10): one account from one client address. Low against
      guessing one nurse's password, and it is the limit an attacker trips: his failures
      lock the account at his address only, so the real planner at her own address still
      signs in (review s25, R-A: one count per account let anyone lock any login out with
      ten wrong passwords per 15 minutes).
    - ``per_address`` (50): one client address across all accounts, against one address
      trying many usernames; higher, as a ward's NAT may put a team behind one address.
    - ``per_account`` (100): one account across all addresses, the backstop against
      guessing her password from many addresses. Higher than twice the first limit, so no
      one address reaches it even over two of its windows back to back: locking her out
      everywhere takes guesses from at least five addresses, and guessing is held to 100
      a window (NIST SP 800-63B caps consecutive failures on one account at 100).
    - ``known_address``: an address where the account signed in within this time is spared
      the backstop (not the first two limits): five addresses, or one IPv6 host with its
      /64, tripped the backstop each window and locked her out at her own desk too (review
      s26). An attacker cannot pick her address; at it, guessing is held by the first limit.
    """

    per_account_at_address: int = 10
    per_address: int = 50
    per_account: int = 100
    window: timedelta = timedelta(minutes=15)
    known_address: timedelta = timedelta(days=30)


def throttle_key(kind: str, value: str, *, pepper: str) -> str:
    """The stored key of an account or an address: a keyed hash (no username or address is
    kept in the throttle table)."""
    message = f"{kind}\x00{value.strip().lower()}".encode()
    return hmac.new(pepper.encode(), message, hashlib.sha256).hexdigest()


def retry_after_seconds(until: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` until ``until``, at least 1 (the ``Retry-After`` value)."""
    return max(1, math.ceil((until - now).total_seconds()))


def totp_uri(secret: str, *, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code) for ``secret``."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="nachtroute")
