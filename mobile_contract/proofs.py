"""Proof of possession of the registered phone (DPoP, RFC 9449): the header and refusals.

Every ``/mobile/v1`` call carries, besides ``X-Device-Id``::

    Authorization: DPoP <access token>      the token from POST /auth/token, bound to the
                                            phone's key (its cnf.jkt claim)
    DPoP: <proof>                           a JWT signed by the phone's private key

The proof (see `mobile_contract.dpop_client` for the reference implementation)::

    header  {"typ": "dpop+jwt", "alg": "ES256",
             "jwk": {"kty": "EC", "crv": "P-256", "x": "...", "y": "..."}}
    claims  {"htm": "POST",                              the request's method
             "htu": "https://host/mobile/v1/me/keysafe/reveal",   its URL, no query
             "iat": 1764036000,                          now, unix seconds (the server
                                                         allows a minute of skew)
             "jti": "a random id, used once",
             "ath": "base64url(SHA-256(access token))"}

The phone signs in with a proof of its own (no ``ath``) to get a bound token
(``token_type`` ``DPoP``), then registers the same public key (``public_key``). A refused
proof is answered 401 with an `ApiError` whose ``code`` is a `ProofRefusalReason` (body
``application/problem+json``; header ``WWW-Authenticate: DPoP error="invalid_dpop_proof"``),
and written to the access log. At sign-in a refused proof is 400 with the same codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["DPOP_HEADER_DESCRIPTION", "ProofRefusalReason"]

DPOP_HEADER_DESCRIPTION: Final = (
    "a DPoP proof (RFC 9449): a JWT (typ dpop+jwt, ES256, jwk = the registered public key) "
    "with htm, htu, iat, a one-time jti and ath = hash of the access token, signed by the "
    "phone's key; a fresh one for every request (mobile_contract/proofs.py)"
)


class ProofRefusalReason(StrEnum):
    """Why a call's proof of possession (or second factor) was refused: the 401's ``code``."""

    #: No ``DPoP`` header, or the bound token was sent as ``Bearer``, or the token is not
    #: bound to a phone key (sign in with a proof).
    PROOF_MISSING = "proof_missing"
    #: Not a DPoP JWT: wrong typ or alg, bad signature, a private key in the header, a
    #: missing claim, or ``ath`` not the token sent.
    PROOF_INVALID = "proof_invalid"
    #: Signed by another key than the token's ``cnf.jkt`` or the registered phone's key.
    PROOF_KEY_MISMATCH = "proof_key_mismatch"
    #: Its ``jti`` was used before: make a new proof for every request.
    PROOF_REPLAYED = "proof_replayed"
    #: Its ``iat`` is further from the server's clock than the allowed skew.
    PROOF_STALE = "proof_stale"
    #: ``htu`` is another URL than the request's.
    PROOF_WRONG_URL = "proof_wrong_url"
    #: ``htm`` is another method than the request's.
    PROOF_WRONG_METHOD = "proof_wrong_method"
    #: The key-safe reveal needs a sign-in with the second factor (TOTP code).
    SECOND_FACTOR_REQUIRED = "second_factor_required"
