"""A DPoP proof's one-time record commits without waiting for the disk
(`api.db.engine.commit_without_waiting_for_disk`), and only that transaction: every other
commit, also on the same pooled connection afterwards, still waits for it. A replayed proof
is still refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.db.engine import commit_without_waiting_for_disk, make_engine, make_session_factory
from api.repositories import proofs
from tests.api.conftest import World
from tests.api.phone_helpers import fresh, published_night, register_phone

ROUTE = "/mobile/v1/me/route"
_NOW = datetime(2026, 11, 29, 23, 40, tzinfo=UTC)


def _durability(session: Session) -> str:
    """The setting the current transaction commits with ("2"/"on": waits for the disk)."""
    if session.get_bind().dialect.name == "sqlite":
        return str(session.execute(text("PRAGMA synchronous")).scalar_one())
    return str(session.execute(text("SHOW synchronous_commit")).scalar_one())


def _waits(value: str) -> bool:
    return value in ("2", "3", "on", "remote_write", "remote_apply")


def test_only_the_proof_record_skips_the_wait_and_a_replay_is_still_refused(db_url: str) -> None:
    """Directly: the lowered setting lasts one transaction, on either database (one session
    at a time, so the pool hands the same connection back each time)."""
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    expires = _NOW + timedelta(seconds=61)
    try:
        with sessions() as session:
            assert _waits(_durability(session))
            session.commit()
            commit_without_waiting_for_disk(session)
            assert not _waits(_durability(session))
            session.rollback()
            assert _waits(_durability(session)), "the next transaction must wait again"
            assert proofs.use_once(session, jkt="k", jti="j-1", expires_at=expires, now=_NOW)
            assert _waits(_durability(session)), "after the proof, commits wait again"
            assert not proofs.use_once(session, jkt="k", jti="j-1", expires_at=expires, now=_NOW)
            assert proofs.use_once(session, jkt="k", jti="j-2", expires_at=expires, now=_NOW)
        with sessions() as session:
            stored = session.execute(text("SELECT count(*) FROM dpop_used_proofs")).scalar_one()
            assert stored == 2
            assert _waits(_durability(session))
    finally:
        engine.dispose()


def test_after_phone_requests_every_pooled_connection_waits_for_the_disk(
    any_world: World,
) -> None:
    """Through the service: route reads (each records its proof) leave no connection in
    the pool that would commit an accepted event without waiting for the disk."""
    world = any_world
    published_night(world)
    phone = register_phone(world)
    world.clock.set(23, 40)
    phone = fresh(world, phone)
    for _ in range(4):
        assert world.client.get(ROUTE, headers=phone).status_code == 200
    factory = world.sessions()
    held = [factory() for _ in range(3)]
    try:
        for session in held:
            assert _waits(_durability(session))
    finally:
        for session in held:
            session.close()
