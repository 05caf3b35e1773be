"""DPoP proofs of possession (RFC 9449), checked with PyJWT: no hand-made signature code.

A phone holds a P-256 key pair; it registered the public key (a JWK) with its device. With
every device-bound call it sends ``DPoP: <proof>``, a JWT signed with its private key::

    header  {"typ": "dpop+jwt", "alg": "ES256", "jwk": <the public key, no private part>}
    claims  {"htm": "GET", "htu": "https://host/mobile/v1/route", "iat": <unix seconds>,
             "jti": <one-time random id>, "ath": <base64url(SHA-256(access token))>}

`verify_proof` checks the signature against the key in the header, the method, the URL
(scheme, host, port and path; no query or fragment, RFC 9449 section 4.3), the time against
the allowed skew and ``ath`` against the token presented; the caller then stores the
``jti`` once per key (`api.repositories.proofs`) and compares the key's RFC 7638 thumbprint
(`jwk_thumbprint`) with the token's ``cnf.jkt`` and the registered phone's key.

Errors: `ProofError` with a ``reason`` (`ProofReason`) and a message that never holds the
proof, the token or a key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import jwt

from mobile_contract.proofs import ProofRefusalReason

__all__ = [
    "ALGORITHMS",
    "Proof",
    "ProofError",
    "ProofReason",
    "access_token_hash",
    "jwk_thumbprint",
    "normalise_htu",
    "public_jwk",
    "single_proof",
    "verify_proof",
]

#: Signature algorithms a proof may use: the phones register P-256 keys (ES256) only.
ALGORITHMS: Final = ("ES256",)
#: The members RFC 7638 hashes, per key type.
_THUMBPRINT_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y")}
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})
MAX_PROOF_CHARS: Final = 4096
MAX_JTI_CHARS: Final = 128


#: The reasons are the contract's (`mobile_contract.proofs`): one list for server and phone.
ProofReason = ProofRefusalReason


class ProofError(ValueError):
    """A refused proof; ``reason`` names why, the message says what to do (no secrets)."""

    def __init__(self, reason: ProofReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Proof:
    """A verified proof: the key's thumbprint, its one-time id and when it was made."""

    jkt: str
    jti: str
    issued_at: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint (base64url) of a public JWK; `ProofError`
    (``proof_invalid``) for a key type or curve other than EC P-256."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or jwk.get("crv") != "P-256":
        raise ProofError(ProofReason.PROOF_INVALID, "the key must be an EC P-256 JWK")
    if not all(isinstance(jwk.get(name), str) for name in members):
        raise ProofError(ProofReason.PROOF_INVALID, "the JWK lacks one of crv, kty, x, y")
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


@functools.lru_cache(maxsize=1024)
def registered_key_thumbprint(public_key: str) -> str | None:
    """The RFC 7638 thumbprint of a registered phone key (a JWK as JSON text); ``None`` for a
    text that is no usable P-256 key (registered before keys were checked). A pure function
    of the stored text, so kept per key: every phone request and sign-in compares it."""
    try:
        return jwk_thumbprint(public_jwk(public_key))
    except ProofError:
        return None


def public_jwk(text: str) -> dict[str, Any]:
    """A registered public key (JWK as a JSON string) checked to be a usable P-256 public
    key (PyJWT loads it); `ProofError` (``proof_invalid``) otherwise."""
    try:
        jwk = json.loads(text)
    except (ValueError, TypeError):
        raise ProofError(ProofReason.PROOF_INVALID, "the public key is not JSON") from None
    _check_public_jwk(jwk)
    return dict(jwk)


def _check_public_jwk(jwk: object) -> jwt.PyJWK:
    """The key PyJWT loaded from ``jwk`` (a public EC P-256 JWK), else `ProofError`."""
    if not isinstance(jwk, dict):
        raise ProofError(ProofReason.PROOF_INVALID, "the key is not a JWK object")
    if _PRIVATE_MEMBERS & set(jwk):
        raise ProofError(ProofReason.PROOF_INVALID, "the JWK holds a private part")
    jwk_thumbprint(jwk)
    try:
        return jwt.PyJWK(jwk, algorithm="ES256")
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise ProofError(ProofReason.PROOF_INVALID, "the JWK is not a P-256 public key") from None


def access_token_hash(token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII of the access token)), RFC 9449 section 4.2."""
    return _b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalise_htu(url: str) -> str:
    """``scheme://host[:port]/path`` lower-cased where case does not count, default ports
    dropped, no query or fragment: the form both sides of the comparison are brought to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def single_proof(values: Sequence[str]) -> str | None:
    """The request's DPoP proof from the values of its ``DPoP`` header fields: ``None``
    when there is none; `ProofError` (``proof_invalid``) when there is more than one, which
    RFC 9449 section 4.3 refuses (which of them would be checked and which used?)."""
    if len(values) > 1:
        raise ProofError(ProofReason.PROOF_INVALID, "send exactly one DPoP header")
    return values[0] if values else None


def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    now: datetime,
    max_skew_seconds: int,
    access_token: str | None,
) -> Proof:
    """The verified proof of a request, else `ProofError` naming the reason.

    ``url``: the request's URL as this service is reached (`normalise_htu` compares);
    ``access_token``: the token presented with it (its hash must be the proof's ``ath``),
    or None at sign-in. The proof's ``iat`` must lie within ``max_skew_seconds`` of ``now``
    either way (``proof_stale``).
    """
    if not proof:
        raise ProofError(ProofReason.PROOF_MISSING, "send a DPoP proof signed by your phone")
    if len(proof) > MAX_PROOF_CHARS:
        raise ProofError(ProofReason.PROOF_INVALID, "the DPoP proof is too long")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise ProofError(ProofReason.PROOF_INVALID, "the DPoP proof is not a JWT") from None
    if str(header.get("typ", "")).lower() != "dpop+jwt":
        raise ProofError(ProofReason.PROOF_INVALID, "the DPoP proof's typ must be dpop+jwt")
    if header.get("alg") not in ALGORITHMS:
        raise ProofError(ProofReason.PROOF_INVALID, "the DPoP proof must be signed with ES256")
    jwk = header.get("jwk")
    key = _check_public_jwk(jwk)
    assert isinstance(jwk, dict)
    try:
        claims = jwt.decode(
            proof,
            key=key,
            algorithms=list(ALGORITHMS),
            options={
                "require": ["iat", "jti", "htm", "htu"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
            },
        )
    except jwt.PyJWTError:
        raise ProofError(
            ProofReason.PROOF_INVALID, "the DPoP proof's signature or claims do not check"
        ) from None
    jti, htm, htu, iat = claims["jti"], claims["htm"], claims["htu"], claims["iat"]
    if not isinstance(jti, str) or not 8 <= len(jti) <= MAX_JTI_CHARS:
        raise ProofError(ProofReason.PROOF_INVALID, "the DPoP proof's jti: 8-128 characters")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise ProofError(ProofReason.PROOF_INVALID, "the DPoP proof's iat: whole seconds")
    if not isinstance(htm, str) or htm != method.upper():
        raise ProofError(
            ProofReason.PROOF_WRONG_METHOD, f"the DPoP proof is for another method than {method}"
        )
    if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(url):
        raise ProofError(ProofReason.PROOF_WRONG_URL, "the DPoP proof is for another URL")
    if abs(now.timestamp() - iat) > max_skew_seconds:
        raise ProofError(
            ProofReason.PROOF_STALE,
            f"the DPoP proof's iat is more than {max_skew_seconds} s from the server's clock",
        )
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or ath != access_token_hash(access_token):
            raise ProofError(
                ProofReason.PROOF_INVALID, "the DPoP proof's ath is not the token presented"
            )
    return Proof(jkt=jwk_thumbprint(jwk), jti=jti, issued_at=iat)
