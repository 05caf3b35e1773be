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

__all__ = ["make_engine", "make_session_factory"]


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

        queue_writers(engine, timeout=30)  # writers queue in the process, not in busy sleeps
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


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
