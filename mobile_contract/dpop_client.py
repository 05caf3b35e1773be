"""The reference DPoP client (RFC 9449) for the phone's developers; the tests, the load
bench and the simulator use it as their phone.

A phone makes one P-256 key pair, keeps the private key in its keystore and never sends it.
It signs in with a proof (its token comes back bound to the key: ``cnf.jkt``), registers
the public key with its device, and sends every device-bound call with
``Authorization: DPoP <token>`` and a fresh ``DPoP: <proof>``::

    key = PhoneKey.generate()
    token = sign_in(..., headers=key.headers("POST", base + "/auth/token"))
    register(..., json={..., "public_key": key.public_jwk_json()},
             headers=key.headers("POST", base + "/mobile/v1/devices", token))
    client = httpx.Client(base_url=base, auth=DPoPAuth(key, token))
    client.get("/mobile/v1/route")

Each proof is single-use (a fresh ``jti``), names the method and the URL without query, the
time (``iat``, the phone's clock: the server allows a few seconds of skew) and the token's
hash (``ath``). PyJWT and cryptography do the signing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

__all__ = ["DPOP_HEADER", "DPoPAuth", "PhoneKey", "htu_of"]

DPOP_HEADER = "DPoP"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def htu_of(url: str) -> str:
    """The proof's ``htu``: the request URL without query or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


@dataclass(eq=False)
class PhoneKey:
    """A phone's key pair (P-256). ``clock``: the phone's clock in unix seconds."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    clock: Callable[[], float] = time.time

    @classmethod
    def generate(cls, clock: Callable[[], float] = time.time) -> PhoneKey:
        """A fresh key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()), clock)

    @classmethod
    def from_pem(cls, pem: str, clock: Callable[[], float] = time.time) -> PhoneKey:
        """A key pair saved by `to_pem` (e.g. a load bench handing phones to its workers)."""
        loaded = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError("not an EC private key")
        return cls(loaded, clock)

    def to_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM. A phone keeps it in its keystore and
        never exports it; only fictional bench phones are handed on so."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (``kty``, ``crv``, ``x``, ``y``): what the phone registers."""
        found: dict[str, Any] = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {name: found[name] for name in ("kty", "crv", "x", "y")}

    def public_jwk_json(self) -> str:
        """`public_jwk` as the JSON string `DeviceRegistrationRequest.public_key` carries."""
        return json.dumps(self.public_jwk(), separators=(",", ":"))

    def thumbprint(self) -> str:
        """The key's RFC 7638 thumbprint: the ``cnf.jkt`` of tokens bound to it."""
        jwk = self.public_jwk()
        canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        return _b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        iat: int | None = None,
        jti: str | None = None,
    ) -> str:
        """A one-time proof for ``method`` on ``url`` (with ``access_token``'s hash)."""
        claims: dict[str, Any] = {
            "htm": method.upper(),
            "htu": htu_of(url),
            "iat": int(self.clock()) if iat is None else iat,
            "jti": jti or secrets.token_urlsafe(18),
        }
        if access_token is not None:
            claims["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="ES256",
            headers={"typ": "dpop+jwt", "jwk": self.public_jwk()},
        )

    def headers(self, method: str, url: str, access_token: str | None = None) -> dict[str, str]:
        """The headers of one request: ``DPoP`` and, with a token, ``Authorization: DPoP``."""
        found = {DPOP_HEADER: self.proof(method, url, access_token)}
        if access_token is not None:
            found["Authorization"] = f"DPoP {access_token}"
        return found


class DPoPAuth(httpx.Auth):
    """httpx authentication: every request gets ``Authorization: DPoP <token>`` and a fresh
    proof for its method and URL. ``token`` may be changed (after signing in again)."""

    def __init__(self, key: PhoneKey, token: str) -> None:
        self.key = key
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.key.headers(request.method, str(request.url), self.token))
        yield request
