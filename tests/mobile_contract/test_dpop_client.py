"""The reference DPoP client's proofs verify on the server's check, and only for what they
were made for (method, URL, token, time); the thumbprint is the one tokens are bound to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.core import dpop
from mobile_contract.dpop_client import PhoneKey

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
KEY = PhoneKey.generate(clock=NOW.timestamp)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE"])
PATHS = st.lists(st.from_regex(r"[a-z0-9_\-]{1,12}", fullmatch=True), min_size=1, max_size=4)


def _verify(proof: str, method: str, url: str, token: str | None = "t0k3n") -> dpop.Proof:
    return dpop.verify_proof(
        proof, method=method, url=url, now=NOW, max_skew_seconds=60, access_token=token
    )


def test_the_thumbprint_is_the_servers() -> None:
    assert KEY.thumbprint() == dpop.jwk_thumbprint(dpop.public_jwk(KEY.public_jwk_json()))
    assert "d" not in KEY.public_jwk()
    assert PhoneKey.from_pem(KEY.to_pem()).thumbprint() == KEY.thumbprint()


@settings(max_examples=40, deadline=None)
@given(method=METHODS, other=METHODS, path=PATHS, other_path=PATHS)
def test_a_proof_holds_only_for_its_method_and_url(
    method: str, other: str, path: list[str], other_path: list[str]
) -> None:
    url = "https://nachtroute.example/" + "/".join(path)
    proof = KEY.proof(method, url + "?page=2", "t0k3n")  # the query never counts
    assert _verify(proof, method, url).jkt == KEY.thumbprint()
    assert _verify(proof, method, url.replace("https://", "HTTPS://")).jti
    if other != method:
        with pytest.raises(dpop.ProofError) as error:
            _verify(proof, other, url)
        assert error.value.reason == dpop.ProofReason.PROOF_WRONG_METHOD
    elsewhere = "https://nachtroute.example/" + "/".join(other_path)
    if elsewhere != url:
        with pytest.raises(dpop.ProofError) as error:
            _verify(proof, method, elsewhere)
        assert error.value.reason == dpop.ProofReason.PROOF_WRONG_URL


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        (None, "proof_missing"),
        ("", "proof_missing"),
        ("x.y.z", "proof_invalid"),
        (KEY.proof("GET", "https://h/a", "another token"), "proof_invalid"),
        (KEY.proof("GET", "https://h/a", "t0k3n", iat=int(NOW.timestamp()) - 61), "proof_stale"),
        (KEY.proof("GET", "https://h/a", "t0k3n", iat=int(NOW.timestamp()) + 61), "proof_stale"),
        (KEY.proof("GET", "https://h/a", "t0k3n", jti="short"), "proof_invalid"),
    ],
)
def test_refusals_name_their_reason(proof: str | None, reason: str) -> None:
    with pytest.raises(dpop.ProofError) as error:
        _verify(proof, "GET", "https://h/a")  # type: ignore[arg-type]
    assert error.value.reason == reason
    assert "t0k3n" not in error.value.message


def test_a_key_with_its_private_part_or_another_algorithm_is_refused() -> None:
    import jwt

    private = {**KEY.public_jwk(), "d": "AAAA"}
    with pytest.raises(dpop.ProofError):
        dpop.public_jwk(__import__("json").dumps(private))
    claims = {"htm": "GET", "htu": "https://h/a", "iat": int(NOW.timestamp()), "jti": "x" * 16}
    hs = jwt.encode(
        claims,
        "a-shared-secret-of-32-characters!",
        algorithm="HS256",
        headers={"typ": "dpop+jwt", "jwk": KEY.public_jwk()},
    )
    with pytest.raises(dpop.ProofError) as error:
        _verify(hs, "GET", "https://h/a", None)
    assert error.value.reason == "proof_invalid"
