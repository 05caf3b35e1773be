"""`nachtroute keys rotate` re-encrypts every code in the service's database under a new key."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from api.cli import main
from api.db.models import Visit
from api.db.phone_models import KeySafeRecord
from api.keysafe import ACTIVE_KEY_ENV, KEYS_ENV, generate_key
from tests.api.conftest import World
from tests.api.phone_helpers import FAKE_CODE, fresh, published_night, register_phone, set_code


def test_rotate_re_encrypts_the_database_and_codes_still_open(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Codes set under k1 end up under k2 with new ciphertext; the nurse still gets the code."""
    monkeypatch.setenv(KEYS_ENV, f"{generate_key('k1')},{generate_key('k2')}")
    monkeypatch.setenv(ACTIVE_KEY_ENV, "k1")
    _settings_from_env(world)
    published_night(world, visits=6)
    phone = register_phone(world)
    route = world.client.get("/mobile/v1/me/route", headers=phone).json()
    step = next(s for s in route["steps"] if s["type"] == "visit")
    with world.sessions()() as session:
        visit = session.get(Visit, int(step["visit_id"]))
        assert visit is not None
        client_id = visit.client_id
    set_code(world, client_id)
    with world.sessions()() as session:
        before = {r.client_id: bytes(r.ciphertext) for r in session.scalars(select(KeySafeRecord))}
        assert {r.key_id for r in session.scalars(select(KeySafeRecord))} == {"k1"}

    monkeypatch.setenv("NACHTROUTE_DATABASE_URL", world.url)
    monkeypatch.setenv(ACTIVE_KEY_ENV, "k2")
    assert main(["keys", "rotate", "--to", "k2"]) == 0
    out, err = capsys.readouterr()
    assert "1 key-safe codes now encrypted under key k2" in out
    assert FAKE_CODE not in out + err

    with world.sessions()() as session:
        rows = list(session.scalars(select(KeySafeRecord)))
        assert {r.key_id for r in rows} == {"k2"}
        assert all(bytes(r.ciphertext) != before[r.client_id] for r in rows)
    world.clock.now = datetime.fromisoformat(step["eta"]) - timedelta(minutes=5)
    reveal = world.client.post(
        "/mobile/v1/me/keysafe/reveal",
        json={"visit_id": step["visit_id"]},
        headers=fresh(world, phone),
    )
    assert reveal.status_code == 200, reveal.text
    assert reveal.json()["code"] == FAKE_CODE


def test_rotate_moves_totp_secrets_to_the_new_key(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TOTP secret sealed under k1 is sealed under k2 after rotation, and signing in with
    the second factor works with k1 gone."""
    import pyotp

    from api.db.models import User
    from tests.api.conftest import PASSWORD

    k1, k2 = generate_key("k1"), generate_key("k2")
    monkeypatch.setenv(KEYS_ENV, f"{k1},{k2}")
    monkeypatch.setenv(ACTIVE_KEY_ENV, "k1")
    _settings_from_env(world)
    made = world.client.post(
        "/admin/users",
        json={
            "username": "test-officer",
            "password": PASSWORD,
            "role": "privacy_officer",
            "organisation_id": world.seeded.home_care[0],
        },
        headers=world.token("admin"),
    )
    assert made.status_code == 201, made.text
    # She enrols her own second factor (the admin never sets one).
    enrolled = world.client.post(
        "/auth/totp/enrol",
        json={"username": "test-officer", "password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert enrolled.status_code == 201, enrolled.text
    secret = enrolled.json()["secret"]

    def stored() -> str:
        with world.sessions()() as session:
            user = session.scalars(select(User).where(User.username == "test-officer")).one()
            return str(user.totp_secret)

    assert stored().startswith("aesgcm1:k1:") and secret not in stored()
    monkeypatch.setenv("NACHTROUTE_DATABASE_URL", world.url)
    monkeypatch.setenv(ACTIVE_KEY_ENV, "k2")
    assert main(["keys", "rotate", "--to", "k2"]) == 0
    out, _err = capsys.readouterr()
    assert "TOTP secrets now sealed under key k2" in out
    assert stored().startswith("aesgcm1:k2:")

    monkeypatch.setenv(KEYS_ENV, k2)
    monkeypatch.delenv(ACTIVE_KEY_ENV)
    _settings_from_env(world)
    code = pyotp.TOTP(secret).at(world.clock())
    login = world.client.post(
        "/auth/token",
        json={"username": "test-officer", "password": NEW_PASSWORD, "totp_code": code},
    )
    assert login.status_code == 200, login.text
    assert login.json()["second_factor"] is True


NEW_PASSWORD = "the officer's own password"


def _settings_from_env(world: World) -> None:
    """The app's settings as a restart would read them now (the keyring is in Settings)."""
    import os

    from pydantic import SecretStr

    app = world.client.app
    app.state.settings = world.settings.model_copy(  # type: ignore[attr-defined]
        update={
            "keysafe_keys": SecretStr(os.environ[KEYS_ENV]),
            "keysafe_active_key": os.environ.get(ACTIVE_KEY_ENV),
        }
    )
    app.state.keyring = None  # type: ignore[attr-defined]
