"""One writer at a time on a SQLite file, queued in the process instead of in SQLite's busy
handler.

SQLite lets one connection write at a time. A second writer that finds the file locked
sleeps in the busy handler (1, 2, 5, ... up to 100 ms at a time) and retries, so under load
writes wait far longer than the writes they wait for; a request's latency gets those
sleeps. Here every write transaction of the engine first takes a lock of the process (at
its first INSERT, UPDATE or DELETE, when SQLite takes its own write lock) and gives it back
when the transaction ends, so writers of this process queue and each starts the moment the
one before has committed. Readers never take it (WAL: they do not block). Other processes
(the CLI, a second server) still meet SQLite's busy handler, as before.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event

__all__ = ["queue_writers"]

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _Writer:
    """The lock and the connection holding it (a write transaction may begin in one thread
    and end in another: FastAPI runs a request's dependencies on pool threads)."""

    def __init__(self, timeout: float) -> None:
        self.lock = threading.Lock()
        self.timeout = timeout
        self.owner: Any = None

    def take(self, raw: Any) -> None:
        if self.owner is raw:
            return
        if not self.lock.acquire(timeout=self.timeout):
            import sqlite3

            raise sqlite3.OperationalError("database is locked")
        self.owner = raw

    def give_back(self, raw: Any) -> None:
        if self.owner is raw and raw is not None:
            self.owner = None
            self.lock.release()


def _raw(connection: Any) -> Any:
    # The pool hands SQLAlchemy a proxy; cursors and pool events see the sqlite3 connection.
    return getattr(connection, "dbapi_connection", connection)


def queue_writers(engine: Engine, *, timeout: float = 30.0) -> None:
    """Make ``engine``'s write transactions take one lock of this process (see above);
    ``timeout``: as SQLite's busy timeout, then "database is locked"."""
    writer = _Writer(timeout)
    dialect = engine.dialect

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(
        _conn: Any, cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip()[:7].upper().startswith(_WRITES):
            writer.take(cursor.connection)

    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            # After the commit: the next writer finds the file free.
            writer.give_back(_raw(dbapi_connection))

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            writer.give_back(_raw(dbapi_connection))

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, _record: Any) -> None:
        # Returned without a commit or rollback: the lock is never kept by an idle connection.
        writer.give_back(dbapi_connection)
