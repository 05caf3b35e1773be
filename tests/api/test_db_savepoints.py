"""A savepoint that is a transaction's first statement stays inside the transaction: a
rollback afterwards leaves nothing. Python's sqlite3 driver begins a transaction only before
its first write, so ``SAVEPOINT`` after nothing but reads opened one of its own, and its
``RELEASE`` committed it (`api.db.engine.make_engine` begins the transaction first). On
SQLite and PostgreSQL, through the engine the service makes."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from api.db.engine import make_engine, make_session_factory
from api.db.models import IdempotencyRecord
from api.repositories import accounts, nights
from api.seed import Seeded

#: A night nothing opened yet in the seeded database.
LATER = date(2027, 1, 5)


def test_a_rollback_after_a_first_savepoint_leaves_no_night(seeded_url: tuple[str, Seeded]) -> None:
    """get_or_create_night after only reads (its savepoint the first write), rolled back:
    the night is not there, in this session nor in a new one."""
    engine = make_engine(seeded_url[0])
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            region = accounts.get_region(session)
            nights.get_or_create_night(session, region, LATER)
            session.rollback()
            assert nights.get_night(session, region, LATER) is None
        with factory() as session:
            assert nights.get_night(session, accounts.get_region(session), LATER) is None
    finally:
        engine.dispose()


def test_a_rollback_after_a_nested_write_as_first_statement_leaves_nothing(
    seeded_url: tuple[str, Seeded],
) -> None:
    """The idempotency record's way (`api.repositories.requests`): ``begin_nested`` as the
    session's very first statement, a row added and the savepoint released; then the
    transaction rolls back, and the row is gone, while a commit keeps it."""
    url, seeded = seeded_url
    organisation = seeded.home_care[0]
    engine = make_engine(url)
    factory = make_session_factory(engine)

    def record(key: str) -> IdempotencyRecord:
        return IdempotencyRecord(
            organisation_id=organisation,
            key=key,
            body_hash="0" * 64,
            status_code=201,
            response={"request_id": 1},
        )

    def stored(key: str) -> bool:
        with factory() as session:
            found = session.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.key == key)
            ).first()
            return found is not None

    try:
        with factory() as session:
            with session.begin_nested():
                session.add(record("rolled-back"))
            session.rollback()
        assert not stored("rolled-back")
        with factory() as session:
            with session.begin_nested():
                session.add(record("committed"))
            session.commit()
        assert stored("committed")
    finally:
        engine.dispose()
