"""The sign-in throttle's purge (`api.repositories.accounts._purge_throttle`) against a
sign-in counting its failures at the same moment, on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from api.core.security import SignInLimits
from api.repositories.accounts import _purge_throttle

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=1)  # both rows' windows ended: the purge deletes them


def _waiting_on_a_lock(engine: Engine, pid: int) -> bool:
    with engine.connect() as c:
        found = c.execute(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar()
    return bool(found == "Lock")


@pytest.mark.postgres
def test_a_purge_never_deadlocks_with_a_sign_in_counting_its_keys(postgres_url: str) -> None:
    """A sign-in counts its try on its keys one by one in one transaction (`_take_places`):
    it holds key A and then asks for key B. A success elsewhere purges the ended windows at
    that moment, B lying before A in the table. Neither may fail: a deadlock between them
    answered one of the two sign-ins with a 500."""
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as c:
            for key in ("key-b", "key-a"):  # B first: the purge's scan reaches it first
                c.execute(
                    text(
                        "INSERT INTO sign_in_throttle (key, failures, window_started_at) "
                        "VALUES (:k, 3, :t)"
                    ),
                    {"k": key, "t": OLD},
                )
        counting = engine.connect()
        counting.begin()
        upsert = text(
            "INSERT INTO sign_in_throttle (key, failures, window_started_at) VALUES (:k, 1, :t) "
            "ON CONFLICT (key) DO UPDATE SET failures = 1, window_started_at = :t"
        )
        counting.execute(upsert, {"k": "key-a", "t": NOW})  # her window on A starts again
        errors: list[BaseException] = []
        pid: list[int] = []

        def purge() -> None:
            try:
                with Session(engine) as session:
                    pid.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    _purge_throttle(session, now=NOW, limits=SignInLimits())
            except BaseException as error:  # reported below
                errors.append(error)

        purging = threading.Thread(target=purge)
        purging.start()
        # Until the purge is done or stands waiting for A (held by the sign-in).
        while purging.is_alive() and not (pid and _waiting_on_a_lock(engine, pid[0])):
            purging.join(0.05)
        try:
            counting.execute(upsert, {"k": "key-b", "t": NOW})
            counting.commit()
        except BaseException as error:  # reported below
            errors.append(error)
            counting.rollback()
        finally:
            counting.close()
        purging.join(60)
        assert not purging.is_alive()
        assert not errors, [type(e).__name__ + ": " + str(e).splitlines()[0] for e in errors]
        with engine.connect() as c:
            rows: dict[str, int] = dict(
                c.execute(text("SELECT key, failures FROM sign_in_throttle")).all()
            )
        assert rows == {"key-a": 1, "key-b": 1}, rows  # both counted in the new window
    finally:
        engine.dispose()
