"""Engine and session factory, made from settings when the app starts (never at import)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from api.db.sqlite_writer import queue_writers

__all__ = ["commit_without_waiting_for_disk", "make_engine", "make_session_factory"]

#: A pooled SQLite connection's ``info`` key: its ``synchronous`` level was lowered for one
#: transaction (`commit_without_waiting_for_disk`) and goes back up when it is returned.
_RELAXED = "nachtroute_relaxed_sync"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder, foreign keys and a busy timeout.

    ``hide_parameters``: an error's text never quotes the statement's parameters (they are
    names, addresses, hashes), wherever it ends up.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=True,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "checkin")
        def _durable_again(connection: Any, record: Any) -> None:
            # Every connection back in the pool commits to disk again (FULL is the default).
            if record is not None and record.info.pop(_RELAXED, False):
                connection.execute("PRAGMA synchronous=FULL")

        queue_writers(engine, timeout=30)  # writers queue in the process, not in busy sleeps
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def commit_without_waiting_for_disk(session: Session) -> None:
    """Let the session's current transaction commit without waiting for the disk.

    For records whose loss costs nothing lasting, written on every request: a DPoP proof's
    one-time id (`api.repositories.proofs`), kept for a minute. Such a commit survives a
    crash or kill of the service; an operating-system crash or power cut may lose the last
    fraction of a second of them (never corrupting the database, never anything else).
    Call it before the transaction writes anything. PostgreSQL: ``SET LOCAL
    synchronous_commit TO OFF`` (this transaction only). SQLite (WAL): ``synchronous=NORMAL``
    on this connection until it goes back to the pool, where it is set to FULL again.
    """
    connection = session.connection()
    backend = connection.dialect.name
    if backend == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    elif backend == "sqlite":
        pooled = connection.connection
        if getattr(pooled.dbapi_connection, "in_transaction", True):
            return  # something was written already: SQLite refuses the change inside it
        pooled.info[_RELAXED] = True
        connection.exec_driver_sql("PRAGMA synchronous=NORMAL")


#: The columns that record when the service did something (a row made, changed, received).
_STAMPS = ("created_at", "registered_at", "set_at", "received_at", "at")
_UPDATED = "updated_at"


def make_session_factory(
    engine: Engine, *, clock: Callable[[], datetime] | None = None
) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (responses read them).

    ``clock`` (the service's, `api.core.clock`): the moments rows record when nobody set
    them (``created_at``, ``updated_at``, ``received_at``...) are read from it, not from the
    machine's clock, so a night tried on a simulated clock records its own times. Without
    it the columns' defaults (the machine's clock) apply, as for seeding and the CLI.
    """
    return sessionmaker(engine, expire_on_commit=False, info={"clock": clock})


@event.listens_for(Session, "before_flush")
def _stamp_from_the_service_clock(session: Session, _context: Any, _instances: Any) -> None:
    clock = session.info.get("clock")
    if clock is None:
        return
    now = clock()
    for row in session.new:
        for name in (*_STAMPS, _UPDATED):
            if hasattr(type(row), name) and getattr(row, name, None) is None:
                setattr(row, name, now)
    for row in session.dirty:
        if hasattr(type(row), _UPDATED) and session.is_modified(row, include_collections=False):
            setattr(row, _UPDATED, now)
