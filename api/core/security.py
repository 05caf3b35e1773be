"""Passwords (argon2), short-lived tokens (JWT, HS256), partner API keys and TOTP.

API keys are long random secrets, so a keyed SHA-256 (HMAC with a server pepper) is enough
and fast on every request; people's passwords get argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "ApiKeyParts",
    "TokenClaims",
    "decode_token",
    "hash_api_secret",
    "hash_password",
    "issue_token",
    "new_api_key",
    "parse_api_key",
    "verify_api_secret",
    "verify_password",
    "verify_totp",
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


def issue_token(claims: TokenClaims, *, secret: str, minutes: int, now: datetime) -> str:
    """A signed token that expires after ``minutes``."""
    payload: dict[str, Any] = {
        "sub": str(claims.user_id),
        "role": claims.role,
        "org": claims.organisation_id,
        "mfa": claims.second_factor,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
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
        return TokenClaims(
            user_id=int(payload["sub"]),
            role=str(payload["role"]),
            organisation_id=int(org) if org is not None else None,
            second_factor=bool(payload.get("mfa", False)),
            issued_at=int(payload["iat"]),
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


def verify_totp(secret: str | None, code: str | None, *, now: datetime | None = None) -> bool:
    """Whether ``code`` is the current (or adjacent) TOTP code for ``secret``."""
    if not secret or not code:
        return False
    moment = now or datetime.now(UTC)
    return pyotp.TOTP(secret).verify(code, for_time=moment, valid_window=1)
