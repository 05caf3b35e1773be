"""Engine and session factory, made from settings when the app starts (never at import)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from api.db.sqlite_writer import queue_writers

__all__ = ["commit_without_waiting_for_disk", "make_engine", "make_session_factory"]

_IDLE_SINCE = "nachtroute_idle_since"

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
        # No ping at checkout: a file has no connection to lose.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
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

        @event.listens_for(engine, "savepoint")
        def _begin_before_a_first_savepoint(connection: Connection, _name: str | None) -> None:
            _begin_if_idle(connection)

        queue_writers(engine, timeout=30)  # writers queue in the process, not in busy sleeps
        return engine
    engine = create_engine(url, hide_parameters=True)
    _ping_when_idle(engine, after_seconds=PING_IDLE_SECONDS)
    return engine


def _begin_if_idle(connection: Connection) -> None:
    """Begin the transaction a savepoint is about to go into when the driver has not yet.

    Python's sqlite3 driver (in its default mode, kept here) begins a transaction only
    before its first INSERT, UPDATE or DELETE; a ``SAVEPOINT`` after nothing but reads would
    open a transaction of its own, and releasing it (``begin_nested()`` ending) would commit
    everything so far: a rollback afterwards left the night or the idempotency record of
    `api.repositories` in place. SQLAlchemy's recipe for this (``isolation_level=None`` and
    ``BEGIN`` at every transaction's start) would begin each read-only session too, so a
    session that reads, then writes after another writer committed, would fail at once
    with SQLITE_BUSY (its WAL snapshot is stale) instead of queueing (`api.db.sqlite_writer`
    takes its lock at the first write, when the driver begins). ``BEGIN`` here, deferred,
    only when a savepoint is the first statement to write, keeps that order."""
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN")


#: A pooled PostgreSQL connection idle this long is pinged before it is handed out.
PING_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine, *, after_seconds: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle ``after_seconds`` or more.

    ``pool_pre_ping`` pinged at every checkout: two round trips (``BEGIN``, ``SELECT 1``)
    and two checkouts per phone request, 8 % of the serving process's busy samples under
    load. Connections are lost while idle (a server restart, a firewall's idle timeout);
    one handed back moments ago is in use all night. A failed ping makes the pool open a
    new connection (``DisconnectionError``), as ``pool_pre_ping`` did; a server restart
    within the last ``after_seconds`` of use can still fail one request, which also
    invalidates the pool's other connections (SQLAlchemy's disconnect handling).
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < after_seconds:
            return  # new (just connected) or in use moments ago
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            connection.rollback()  # the ping began a transaction: hand it out idle
        except Exception as error:  # any failure: this connection is gone
            raise exc.DisconnectionError("ping failed") from error


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
