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
