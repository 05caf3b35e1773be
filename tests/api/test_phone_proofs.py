"""A key-safe code only to the phone itself (issue 14), through HTTP on the simulated clock.

The assigned nurse's phone with a valid DPoP proof (RFC 9449) in her window gets the code;
the same token without a proof, with a proof by another key, a replayed one, one for another
URL or method, or one older than the allowed skew is refused with its reason, and every
refusal is an access-log row; a password-only token is refused (``second_factor_required``).
Sign-in binds the token to the phone's key (``cnf.jkt``); registration takes only that key.
The proofs come from the reference client (`mobile_contract.dpop_client`). Codes are
fictional (``TEST0000``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt
import pyotp
import pytest
from sqlalchemy import select

from api.db.models import AccessLogEntry
from api.seed import DEMO_NURSE_TOTP_SECRET
from mobile_contract.dpop_client import PhoneKey
from tests.api.conftest import PASSWORD, World
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import FAKE_CODE, fresh, phone_body, register_phone, set_code
from tests.api.test_keysafe_window import REVEAL, ROUTE, _late_visit_night, _step

BASE = "http://testserver"


def _rows(world: World) -> list[AccessLogEntry]:
    with world.sessions()() as session:
        rows = session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id)).all()
        session.expunge_all()
        return list(rows)


def _token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].partition(" ")[2]


def _post_reveal(world: World, headers: dict[str, str], visit_id: str) -> Any:
    """The reveal with exactly these headers (the test client adds no proof: auth=None)."""
    return world.client.post(REVEAL, json={"visit_id": visit_id}, headers=headers, auth=None)


def _refused(world: World, response: Any, reason: str, *, event: str) -> AccessLogEntry:
    """A 401 problem+json naming ``reason``, and the newest access-log row says so."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == reason
    assert response.headers["WWW-Authenticate"].startswith("DPoP")
    assert FAKE_CODE not in response.text
    row = _rows(world)[-1]
    assert row.event == event, (row.event, row.purpose)
    assert row.purpose.split()[1:3] == ["refused", reason]
    return row


@pytest.fixture
def reveal_night(any_world: World) -> tuple[World, dict[str, str], str]:
    """The assigned nurse's registered phone, at her visit's ETA; the visit has a code."""
    world = any_world
    visit_id, nurse, client_id = _late_visit_night(world)
    set_code(world, client_id)
    phone = register_phone(world, nurse)
    world.clock.now = datetime.fromisoformat(_step(world, phone, visit_id)["eta"])
    return world, phone, visit_id


def test_only_the_phones_own_fresh_proof_reveals_the_code(
    reveal_night: tuple[World, dict[str, str], str],
) -> None:
    world, phone, visit_id = reveal_night
    key = world.phones.by_device[phone["X-Device-Id"]]
    headers = fresh(world, phone)
    token = _token_of(headers)
    url = BASE + REVEAL
    bound = {"Authorization": f"DPoP {token}", "X-Device-Id": phone["X-Device-Id"]}

    proof = key.proof("POST", url, token)
    revealed = _post_reveal(world, {**bound, "DPoP": proof}, visit_id)
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["code"] == FAKE_CODE
    assert _rows(world)[-1].purpose.split()[1] == "revealed"

    # The same proof again: replayed.
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": proof}, visit_id),
        "proof_replayed",
        event="dpop.refused",
    )
    # The token without any proof, and as a plain bearer token.
    _refused(world, _post_reveal(world, bound, visit_id), "proof_missing", event="dpop.refused")
    as_bearer = {**bound, "Authorization": f"Bearer {token}"}
    _refused(
        world,
        _post_reveal(world, {**as_bearer, "DPoP": key.proof("POST", url, token)}, visit_id),
        "proof_missing",
        event="dpop.refused",
    )
    # A copied token on another device: a proof by another key.
    thief = PhoneKey.generate(clock=lambda: world.clock().timestamp())
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": thief.proof("POST", url, token)}, visit_id),
        "proof_key_mismatch",
        event="dpop.refused",
    )
    # A proof made for another URL, another method, or outside the allowed skew.
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": key.proof("POST", BASE + ROUTE, token)}, visit_id),
        "proof_wrong_url",
        event="dpop.refused",
    )
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": key.proof("GET", url, token)}, visit_id),
        "proof_wrong_method",
        event="dpop.refused",
    )
    skew = world.settings.dpop_max_skew_seconds
    old = int(world.clock().timestamp()) - skew - 1
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": key.proof("POST", url, token, iat=old)}, visit_id),
        "proof_stale",
        event="dpop.refused",
    )
    ahead = int(world.clock().timestamp()) + skew + 1
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": key.proof("POST", url, token, iat=ahead)}, visit_id),
        "proof_stale",
        event="dpop.refused",
    )
    # A proof for another token (ath), and one that is no JWT at all.
    other = _token_of(world.token("planner"))
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": key.proof("POST", url, other)}, visit_id),
        "proof_invalid",
        event="dpop.refused",
    )
    _refused(
        world,
        _post_reveal(world, {**bound, "DPoP": "not.a.proof"}, visit_id),
        "proof_invalid",
        event="dpop.refused",
    )
    # Within the skew a proof still works (the phone's clock may be a little off).
    slightly_off = key.proof("POST", url, token, iat=int(world.clock().timestamp()) - skew + 5)
    again = _post_reveal(world, {**bound, "DPoP": slightly_off}, visit_id)
    assert again.status_code == 200, again.text

    refusals = [r for r in _rows(world) if "refused" in r.purpose and "proof" in r.purpose]
    assert len(refusals) == 10
    assert {r.device_id for r in refusals} == {phone["X-Device-Id"]}
    assert all(FAKE_CODE not in r.purpose and token not in r.purpose for r in refusals)


def test_a_password_only_token_gets_no_code(
    reveal_night: tuple[World, dict[str, str], str],
) -> None:
    world, phone, visit_id = reveal_night
    key = world.phones.by_device[phone["X-Device-Id"]]
    nurse = next(n for n, (uid, _r) in world.seeded.users.items() if str(uid) == phone["X-User"])
    password_only = world.token(nurse, second_factor=False, key=key)
    response = world.client.post(
        REVEAL,
        json={"visit_id": visit_id},
        headers={**password_only, "X-Device-Id": phone["X-Device-Id"]},
    )
    _refused(world, response, "second_factor_required", event="keysafe.reveal")
    # Her route still works with it: only the code needs the second factor.
    route = world.client.get(ROUTE, headers={**password_only, "X-Device-Id": phone["X-Device-Id"]})
    assert route.status_code == 200, route.text


def test_an_unbound_token_opens_no_phone_call(world: World) -> None:
    """A nurse's token not bound to a phone key (a browser sign-in) opens no phone call and
    no reveal, even with the right device id: each refusal is logged."""
    phone = register_phone(world)
    unbound = {**world.token("nurse-n1", second_factor=True), "X-Device-Id": phone["X-Device-Id"]}
    _refused(world, world.client.get(ROUTE, headers=unbound), "proof_missing", event="dpop.refused")
    _refused(
        world,
        world.client.post(REVEAL, json={"visit_id": "1"}, headers=unbound),
        "proof_missing",
        event="keysafe.reveal",
    )
    # A proof beside an unbound token proves nothing about the token.
    key = world.phones.by_device[phone["X-Device-Id"]]
    token = _token_of(unbound)
    with_proof = {**unbound, "DPoP": key.proof("GET", BASE + ROUTE, token)}
    _refused(
        world,
        world.client.get(ROUTE, headers=with_proof),
        "proof_key_mismatch",
        event="dpop.refused",
    )


def test_sign_in_binds_the_token_to_the_phones_key(world: World) -> None:
    """Password, TOTP code and a proof: a ``DPoP`` token bound to the key (``cnf.jkt``); the
    phone registers that key and reads its route. A replayed or misdirected sign-in proof is
    400 with its reason; registering another key than the token's is refused and logged."""
    key = world.new_key()
    body = {
        "username": "nurse-n1",
        "password": PASSWORD,
        "totp_code": pyotp.TOTP(DEMO_NURSE_TOTP_SECRET).at(world.clock()),
    }
    proof = key.proof("POST", BASE + "/auth/token")
    signed_in = world.client.post("/auth/token", json=body, headers={"DPoP": proof})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["token_type"] == "DPoP"
    token = signed_in.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.thumbprint()}
    assert claims["amr"] == ["pwd", "otp"]

    replayed = world.client.post("/auth/token", json=body, headers={"DPoP": proof})
    assert (replayed.status_code, replayed.json()["code"]) == (400, "proof_replayed")
    elsewhere = key.proof("POST", BASE + "/auth/other")
    wrong = world.client.post("/auth/token", json=body, headers={"DPoP": elsewhere})
    assert (wrong.status_code, wrong.json()["code"]) == (400, "proof_wrong_url")

    headers = {"Authorization": f"DPoP {token}"}
    other = PhoneKey.generate()
    not_hers = world.client.post("/mobile/v1/devices", json=phone_body(other), headers=headers)
    assert (not_hers.status_code, not_hers.json()["code"]) == (401, "proof_key_mismatch")
    assert _rows(world)[-1].purpose.split()[:3] == ["dpop", "refused", "proof_key_mismatch"]
    garbage = {**phone_body(key), "public_key": '{"kty":"EC","crv":"P-256","x":"a","y":"b"}'}
    invalid = world.client.post("/mobile/v1/devices", json=garbage, headers=headers)
    assert invalid.status_code == 422 and "public_key" in invalid.text

    registered = world.client.post("/mobile/v1/devices", json=phone_body(key), headers=headers)
    assert registered.status_code == 201, registered.text
    device = {**headers, "X-Device-Id": registered.json()["device_id"]}
    assert world.client.get(ROUTE, headers=device).status_code in (200, 404)


def test_refusals_naming_no_client_are_in_every_privacy_officers_export(world: World) -> None:
    """A refused proof (no client) and a reveal for an unknown visit are in the access-log
    export of each organisation's privacy officer (they were in none)."""
    phone = register_phone(world)
    unbound = {**world.token("nurse-n1", second_factor=True), "X-Device-Id": phone["X-Device-Id"]}
    assert world.client.get(ROUTE, headers=unbound).status_code == 401
    unknown = world.client.post(REVEAL, json={"visit_id": "999999"}, headers=fresh(world, phone))
    assert unknown.status_code == 403
    for number in (1, 2):
        officer = world.token(f"privacy{number}", second_factor=True)
        rows = world.client.get("/access-log", headers=officer).json()
        no_client = [r for r in rows if r["client_id"] is None]
        purposes = [r["purpose"].split()[:3] for r in no_client]
        assert ["dpop", "refused", "proof_missing"] in purposes, purposes
        assert ["keysafe", "refused", "not_assigned"] in purposes, purposes


def test_a_privacy_officer_enrols_her_own_second_factor(world: World) -> None:
    """The admin cannot set a privacy officer's TOTP secret (422 naming the field); she is
    created without one, enrols it herself and only then opens the access log."""
    admin = world.token("admin", second_factor=True)
    body = {
        "username": "test-officer-nine",
        "password": "given by the admin 1",
        "role": "privacy_officer",
        "organisation_id": world.seeded.home_care[0],
    }
    with_secret = world.client.post(
        "/admin/users", json={**body, "totp_secret": "JBSWY3DPEHPK3PXP"}, headers=admin
    )
    assert with_secret.status_code == 422
    assert with_secret.json()["errors"][0]["field"] == "body.totp_secret"
    made = world.client.post("/admin/users", json=body, headers=admin)
    assert made.status_code == 201, made.text

    signed_in = world.client.post(
        "/auth/token", json={"username": body["username"], "password": body["password"]}
    )
    plain = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert world.client.get("/access-log", headers=plain).status_code == 403
    enrolled = world.client.post(
        "/auth/totp/enrol",
        json={
            "username": body["username"],
            "password": body["password"],
            "new_password": "her own new password",
        },
    )
    assert enrolled.status_code == 201, enrolled.text
    code = pyotp.TOTP(enrolled.json()["secret"]).at(world.clock())
    strong = world.client.post(
        "/auth/token",
        json={"username": body["username"], "password": "her own new password", "totp_code": code},
    )
    assert strong.json()["second_factor"] is True
    headers = {"Authorization": f"Bearer {strong.json()['access_token']}"}
    assert world.client.get("/access-log", headers=headers).status_code == 200


def test_no_code_for_a_client_marked_without_a_key_safe(world: World) -> None:
    """A partner cannot set a code for a client marked as having no key safe (422 naming
    it), and marking a client so removes the code on file."""
    from tests.api.conftest import new_client

    org = world.seeded.home_care[0]
    client_id = new_client(world, org, number=77, key_safe_present=False)
    refused = world.client.put(
        f"/partner/v1/clients/{client_id}/keysafe", json={"code": FAKE_CODE}, headers=world.key(org)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "no_key_safe" and FAKE_CODE not in refused.text
    status = world.client.get(f"/partner/v1/clients/{client_id}/keysafe", headers=world.key(org))
    assert status.json()["code_on_file"] is False

    marked = world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"key_safe_present": True}, headers=world.key(org)
    )
    assert marked.status_code == 200, marked.text
    world.seeded.clients.setdefault(org, []).append(client_id)
    set_code(world, client_id)
    unmarked = world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"key_safe_present": False}, headers=world.key(org)
    )
    assert unmarked.status_code == 200, unmarked.text
    status = world.client.get(f"/partner/v1/clients/{client_id}/keysafe", headers=world.key(org))
    assert status.json()["code_on_file"] is False


def test_a_foreign_or_revoked_phone_is_refused_and_logged(world: World) -> None:
    """Another nurse's device id, or a revoked phone: 401 with its reason and a row."""
    mine = register_phone(world, "nurse-n1")
    theirs = register_phone(world, "nurse-n2")
    stolen = {**fresh(world, mine), "X-Device-Id": theirs["X-Device-Id"]}
    response = world.client.get(ROUTE, headers=stolen)
    assert (response.status_code, response.json()["code"]) == (401, "device_not_registered")
    row = _rows(world)[-1]
    assert row.purpose.split()[:3] == ["dpop", "refused", "device_not_registered"]
    assert row.device_id == theirs["X-Device-Id"]
    revoked = world.client.post(
        f"/phones/{mine['X-Device-Id']}/revoke", headers=world.token("planner")
    )
    assert revoked.status_code == 200
    world.clock.now += timedelta(seconds=1)
    response = world.client.get(ROUTE, headers=fresh(world, mine))
    assert (response.status_code, response.json()["code"]) == (401, "device_revoked")
    assert _rows(world)[-1].purpose.split()[:3] == ["dpop", "refused", "device_revoked"]


def test_two_dpop_headers_are_refused_at_sign_in_and_on_a_phone_call(world: World) -> None:
    """RFC 9449 section 4.3: a request with more than one ``DPoP`` header is refused, even
    when each proof is valid on its own (red-team observation F07)."""
    phone = register_phone(world)
    key = world.phones.by_device[phone["X-Device-Id"]]
    token = _token_of(phone)
    one, two = (key.proof("GET", BASE + ROUTE, token) for _ in range(2))
    sent = {**phone, "Authorization": f"DPoP {token}"}
    both = [*sent.items(), ("DPoP", one), ("DPoP", two)]
    _refused(world, world.client.get(ROUTE, headers=both), "proof_invalid", event="dpop.refused")
    assert world.client.get(ROUTE, headers={**sent, "DPoP": two}).status_code in (200, 404)

    body = {
        "username": "nurse-n1",
        "password": PASSWORD,
        "totp_code": pyotp.TOTP(DEMO_NURSE_TOTP_SECRET).at(world.clock()),
    }
    first, second = (key.proof("POST", BASE + "/auth/token") for _ in range(2))
    twice = world.client.post("/auth/token", json=body, headers=[("DPoP", first), ("DPoP", second)])
    assert (twice.status_code, twice.json()["code"]) == (400, "proof_invalid")
